"""Watching the champion: the request logs' BigQuery dataset (each pipeline's endpoint creates and writes its table
there, the monitor reads it), the endpoint's request-response logging, the manual `monitor` build and its
Scheduler job, the monitor account's grants, and the flagged metric with its drift alerts. The canary build the
monitor's message on its canary-verdict topic starts: test_canary.py."""

from __future__ import annotations

import re

import pytest

from ci.routing import PER_PIPELINE
from ci.routing import route as route_of
from contracts.environment import REPO_ROOT
from infra import access
from infra.parts.datacheck_schedule import run_uri
from infra.parts.monitoring import FLAGGED_METRIC, flagged_filter
from infra.parts.prediction_log import retention_days
from tests.infra.conftest import resolve, resources, synth_stack, synthesized_bindings
from tests.infra.test_access import allows

DAY_MS = 86_400_000


def _one(stack, rtype, **match):
    [found] = [r for r in resources(stack, rtype) if all(r.get(k) == v for k, v in match.items())]
    return found


def _with_monitoring(config, **changes):
    """`config` with every pipeline's monitoring settings changed (a dict of fields), or only the named ones'
    (pipeline=dict of fields)."""
    per_pipeline = {name: changes.get(name, changes.get("*", {})) for name in config.pipelines}
    return config.model_copy(
        update={
            "pipelines": {
                name: s.model_copy(update={"monitoring": s.monitoring.model_copy(update=per_pipeline[name])})
                for name, s in config.pipelines.items()
            }
        }
    )


def _monitor_grants(config):
    return [b for b in access.bindings(config) if b.grant.account == "monitor"]


# --- the request log --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_one_dataset_per_environment_in_its_region_kept_on_destroy(stacks, configs, env):
    gcp = configs[env].gcp
    [dataset] = resources(stacks[env], "google_bigquery_dataset")
    assert gcp.prediction_log_dataset == f"penguins_{env}_predictions"
    assert (dataset["dataset_id"], dataset["project"], dataset["location"]) == (
        f"penguins_{env}_predictions",
        f"my-{env}-project",
        "europe-west4",
    )
    assert dataset["delete_contents_on_destroy"] is False  # as the data bucket's force_destroy
    assert dataset["labels"]
    # Never an authoritative access list: the grants are the access table's, made one member at a time.
    assert "access" not in dataset


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_stack_makes_no_table_vertex_creates_each_pipelines_on_its_first_log(stacks, env):
    """With the full table reference as output_uri, "the Dataset must exist and table must not exist": a table the
    stack made would make the endpoint's logging fail."""
    assert not resources(stacks[env], "google_bigquery_table")
    assert not resources(stacks[env], "google_bigquery_table_iam_member")


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_datasets_partitions_expire_after_the_longest_retention_of_its_pipelines(stacks, configs, env):
    [dataset] = resources(stacks[env], "google_bigquery_dataset")
    days = {each.monitoring.log_retention_days for each in configs[env].each_pipeline()}
    assert days == ({30} if env == "dev" else {90})
    assert dataset["default_partition_expiration_ms"] == max(days) * DAY_MS
    # Never the tables themselves: a table expiration would delete a pipeline's whole log, not its old days.
    assert "default_table_expiration_ms" not in dataset


def test_pipelines_with_different_retentions_keep_the_longest(configs):
    config = _with_monitoring(configs["dev"], penguins={"log_retention_days": 7}, diabetes={"log_retention_days": 400})
    [dataset] = resources(synth_stack(config), "google_bigquery_dataset")
    assert dataset["default_partition_expiration_ms"] == 400 * DAY_MS
    assert retention_days(config) == 400


# --- the endpoint's request-response logging --------------------------------------------------------------------


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_each_endpoint_logs_its_sample_into_its_pipelines_table(stacks, configs, env):
    gcp = configs[env].gcp
    for each in configs[env].each_pipeline():
        pipeline = each.selected
        endpoint = _one(stacks[env], "google_vertex_ai_endpoint", display_name=f"penguins-{env}-{pipeline}-endpoint")
        logging = endpoint["predict_request_response_logging_config"]
        assert logging["enabled"] is True
        assert logging["sampling_rate"] == each.monitoring.log_sample_rate == (1.0 if env == "dev" else 0.2)
        output_uri = logging["bigquery_destination"]["output_uri"]
        # The full table reference, the contract's table (what the monitor queries), which Vertex AI creates.
        assert resolve(stacks[env], output_uri) == f"bq://{gcp.prediction_log_table(pipeline)}"
        assert resolve(stacks[env], output_uri) == (
            f"bq://my-{env}-project.penguins_{env}_predictions.{pipeline}_requests"
        )
        # References, not names: the endpoint waits for the dataset ...
        assert "${google_bigquery_dataset.prediction-log_dataset_" in output_uri
        # ... and for the Vertex AI agent's grant on it.
        [grant] = [d for d in endpoint["depends_on"] if "google_bigquery_dataset_iam_member" in d]
        assert "vertex-agent-bigquery-dataset-predictions-bigquery-dataEditor" in grant


def test_a_sample_rate_of_0_logs_nothing_and_grants_nothing(configs):
    """One pipeline at 0: its endpoint has no logging block; at 0 everywhere, the Vertex AI agent has no grant on
    the dataset (which stays, and the monitor may still read it)."""
    one = synth_stack(_with_monitoring(configs["dev"], diabetes={"log_sample_rate": 0.0}))
    logging = {
        e["display_name"]: e.get("predict_request_response_logging_config")
        for e in resources(one, "google_vertex_ai_endpoint")
    }
    assert logging["penguins-dev-diabetes-endpoint"] is None
    assert logging["penguins-dev-penguins-endpoint"]["sampling_rate"] == 1
    none = _with_monitoring(configs["dev"], **{"*": {"log_sample_rate": 0.0}})
    stack = synth_stack(none)
    assert not [
        e for e in resources(stack, "google_vertex_ai_endpoint") if "predict_request_response_logging_config" in e
    ]
    assert not [
        b for b in access.bindings(none) if b.grant.account == "vertex-agent" and b.resource_type != "repository"
    ]
    assert len(resources(stack, "google_bigquery_dataset")) == 1
    assert {b.resource_type for b in _monitor_grants(none)} >= {"bigquery-dataset"}
    assert synthesized_bindings(stack) == {
        (b.member, b.resource_type, b.resource, b.role, b.condition) for b in access.bindings(none)
    }


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_vertex_agent_may_create_and_write_only_the_request_logs(configs, env):
    """roles/bigquery.dataEditor on the request logs' dataset (it creates each pipeline's table there), not on the
    project; the reason names each pipeline's table."""
    agent = [
        b for b in access.bindings(configs[env]) if b.grant.account == "vertex-agent" and b.grant.on.store == "own"
    ]
    dataset = f"projects/my-{env}-project/datasets/penguins_{env}_predictions"
    assert {(b.resource_type, b.resource, b.role) for b in agent} == {
        ("bigquery-dataset", dataset, "roles/bigquery.dataEditor")
    }
    assert all(b.member.endswith("@gcp-sa-aiplatform.iam.gserviceaccount.com") for b in agent)
    assert "each pipeline's" in agent[0].grant.why
    assert not [
        b
        for b in access.bindings(configs[env])
        if "bigquery" in b.role
        and b.resource_type == "project"
        and b.role not in ("roles/bigquery.jobUser", "roles/bigquery.metadataViewer")
    ]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_who_may_touch_the_request_logs_dataset(configs, env):
    """The Vertex AI agent writes, the monitor reads; nobody else has a grant on it (CI's plan reads metadata,
    project-wide, and no row)."""
    on_dataset = {
        (b.member.split("@")[0].removeprefix("serviceAccount:").removeprefix(f"penguins-{env}-"), b.role)
        for b in access.bindings(configs[env])
        if b.resource_type == "bigquery-dataset"
    }
    assert on_dataset == {
        ("service-PROJECT_NUMBER", "roles/bigquery.dataEditor"),
        ("monitor", "roles/bigquery.dataViewer"),
    }
    ci = {b.role for b in access.bindings(configs[env]) if b.grant.account == "ci" and "bigquery" in b.role}
    assert ci == {"roles/bigquery.metadataViewer"}


# --- the monitor build and its schedule -------------------------------------------------------------------------


def test_the_monitor_route_is_a_manual_per_pipeline_route_exempt_from_approval():
    monitor = route_of("monitor")
    assert (monitor.event, monitor.config, monitor.requested) == (
        "manual",
        "ci/cloudbuild/monitor.yaml",
        ("_WINDOW_END", "_NOW"),  # empty from the schedule; a person re-judging a past window sets them
    )
    assert (monitor.included, monitor.ignored) == ((), ())
    assert "monitor" in PER_PIPELINE and monitor.approval_exempt
    assert access.build_account("monitor") == "monitor"


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_each_pipelines_monitor_trigger_runs_as_the_monitor_account_without_approval(stacks, configs, env):
    repository = f"projects/my-{env}-project/locations/europe-west4/connections/github/repositories/penguins-cicd"
    for pipeline in sorted(configs[env].pipelines):
        trigger = _one(stacks[env], "google_cloudbuild_trigger", name=f"penguins-{env}-{pipeline}-monitor")
        assert "repository_event_config" not in trigger and "filename" not in trigger
        assert trigger["git_file_source"]["path"] == "ci/cloudbuild/monitor.yaml"
        assert trigger["source_to_build"] == {"repository": repository, "ref": "refs/heads/main", "repo_type": "GITHUB"}
        assert trigger["service_account"].startswith("${google_service_account.accounts_monitor_")
        assert trigger["approval_config"] == {"approval_required": False}  # prod too: scheduled, reads and reports
        assert (trigger["substitutions"]["_ENV"], trigger["substitutions"]["_PIPELINE"]) == (env, pipeline)


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_each_pipelines_monitor_job_runs_its_trigger_on_its_schedule_as_the_scheduler(stacks, configs, env):
    gcp = configs[env].gcp
    jobs = [j for j in resources(stacks[env], "google_cloud_scheduler_job") if j["name"].endswith("-schedule-monitor")]
    assert len(jobs) == len(configs[env].pipelines) == 2
    for each in configs[env].each_pipeline():
        pipeline, schedule = each.selected, each.monitoring.schedule
        job = _one(stacks[env], "google_cloud_scheduler_job", name=f"penguins-{env}-{pipeline}-schedule-monitor")
        assert (job["schedule"], job["time_zone"]) == (schedule.cron, schedule.time_zone)
        target = job["http_target"]
        reference = rf"google_cloudbuild_trigger\.build-triggers_{pipeline}-monitor_[0-9A-F]{{8}}\.trigger_id"
        assert re.fullmatch(re.escape(run_uri(gcp, "ID")).replace("ID", rf"\$\{{{reference}\}}"), target["uri"])
        assert re.search(rf'"triggerId" = {reference}', target["body"])
        assert "accounts_scheduler" in target["oauth_token"]["service_account_email"]
    crons = {each.selected: each.monitoring.schedule.cron for each in configs[env].each_pipeline()}
    assert crons == {"penguins": "15 * * * *", "diabetes": "45 * * * *"}


def test_no_monitoring_schedule_no_job_and_the_scheduler_may_not_act_as_the_monitor(configs):
    dev = _with_monitoring(configs["dev"], **{"*": {"schedule": None}})
    stack = synth_stack(dev)
    assert not [j for j in resources(stack, "google_cloud_scheduler_job") if j["name"].endswith("-schedule-monitor")]
    manual = {t["name"] for t in resources(stack, "google_cloudbuild_trigger") if t["name"].endswith("-monitor")}
    assert manual == {"penguins-dev-diabetes-monitor", "penguins-dev-penguins-monitor"}  # by hand, still
    scheduler = [b for b in access.bindings(dev) if b.grant.account == "scheduler"]
    assert not [
        b for b in scheduler if b.resource.endswith("/penguins-dev-monitor@my-dev-project.iam.gserviceaccount.com")
    ]
    assert [b.role for b in scheduler if b.resource_type == "project"] == [
        "projects/my-dev-project/roles/penguins_dev_build_runner"  # the data check's schedules still need it
    ]


def test_the_build_config_runs_the_monitor_on_its_pipeline_and_nothing_else():
    import yaml

    config = yaml.safe_load((REPO_ROOT / "ci/cloudbuild/monitor.yaml").read_text())
    [step] = config["steps"]
    assert step["args"] == [
        "ci/nox", "-s", "monitor", "--", "--env=${_ENV}", "--pipeline=${_PIPELINE}",
        "--window-end=${_WINDOW_END}", "--now=${_NOW}",
    ]  # fmt: skip
    assert step["name"] == "python:3.10.13-slim-bookworm"
    # Shorter than the hourly schedule: a run never overlaps the next.
    assert int(step["timeout"].removesuffix("s")) < int(config["timeout"].removesuffix("s")) < 3600


# --- the monitor account ----------------------------------------------------------------------------------------


def _summary(config):
    return {
        (b.resource_type, b.resource, b.role, b.grant.only.title if b.grant.only else None)
        for b in _monitor_grants(config)
    }


def test_the_monitor_reads_the_log_and_the_data_writes_its_reports_alerts_and_retrains_in_dev(configs):
    """dev: penguins retrains on a flagged window, so the monitor may publish on the trigger topics and take the
    data area's lease; everything else is read, create-only, a metric, or the canary build's wake-up message."""
    project, data = "my-dev-project", "penguins-dev-data"
    dataset = "projects/my-dev-project/datasets/penguins_dev_predictions"
    topic = "projects/my-dev-project/topics/penguins-dev-{}-trigger"
    verdicts = "projects/my-dev-project/topics/penguins-dev-{}-canary-verdict"
    assert _summary(configs["dev"]) == {
        ("project", project, "roles/bigquery.jobUser", None),
        ("project", project, "roles/aiplatform.viewer", None),
        ("project", project, "roles/monitoring.metricWriter", None),
        ("bucket", data, "roles/storage.objectViewer", None),
        ("bucket", data, "roles/storage.objectCreator", "monitoring-only"),
        ("bucket", data, "roles/storage.objectUser", "lease-only"),
        ("bucket", "penguins-dev-registry", "roles/storage.objectViewer", None),
        ("bucket", "penguins-dev-build-logs", "roles/storage.objectAdmin", None),
        ("bigquery-dataset", dataset, "roles/bigquery.dataViewer", None),
        *(("topic", topic.format(p), "roles/pubsub.publisher", None) for p in ("diabetes", "penguins")),
        # It wakes the canary build, which runs as ci, by publishing on each pipeline's verdict topic (test_canary.py).
        *(("topic", verdicts.format(p), "roles/pubsub.publisher", None) for p in ("diabetes", "penguins")),
    }


def test_without_a_retraining_pipeline_the_monitor_may_not_publish_or_take_the_lease(configs):
    """prod alerts only: no trigger topic, no lease (its topics are the canary-verdict ones, test_canary.py)."""
    prod = _summary(configs["prod"])
    assert not [row for row in prod if (row[0] == "topic" and not row[1].endswith("-canary-verdict"))]
    assert not [row for row in prod if row[3] == "lease-only"]
    assert ("project", "my-prod-project", "roles/monitoring.metricWriter", None) in prod
    assert {each.monitoring.action for each in configs["prod"].each_pipeline()} == {"alert"}


def test_reporting_only_the_monitor_writes_no_metric_and_no_drift_alert_exists(configs):
    report = _with_monitoring(configs["dev"], **{"*": {"action": "report"}})
    assert not [row for row in _summary(report) if row[2] == "roles/monitoring.metricWriter"]
    # It publishes on the canary-verdict topics only (a canary's end), never on a trigger topic.
    published = {row[1] for row in _summary(report) if row[2] == "roles/pubsub.publisher"}
    assert published and all(topic.endswith("-canary-verdict") for topic in published)
    stack = synth_stack(report)
    assert synthesized_bindings(stack) == {
        (b.member, b.resource_type, b.resource, b.role, b.condition) for b in access.bindings(report)
    }
    assert not [p for p in resources(stack, "google_monitoring_alert_policy") if "model drift" in p["display_name"]]
    assert len(resources(stack, "google_monitoring_metric_descriptor")) == 1  # declared all the same


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_monitor_creates_objects_only_under_each_pipelines_monitoring_folder(configs, env):
    [creator] = [b.condition for b in _monitor_grants(configs[env]) if b.role == "roles/storage.objectCreator"]
    objects = f"projects/_/buckets/penguins-{env}-data/objects/"
    for pipeline in sorted(configs[env].pipelines):
        assert allows(creator, f"{objects}{pipeline}/monitoring/20261205T0600/report.json")
        assert allows(creator, f"{objects}{pipeline}/monitoring/canary/3-20261205T060000.json")
        assert not allows(creator, f"{objects}{pipeline}/span-4/{pipeline}.csv")
        assert not allows(creator, f"{objects}{pipeline}/incoming/new.csv")
        assert not allows(creator, f"{objects}{pipeline}/.datacheck-lease.json")
    assert not allows(creator, f"{objects}other/monitoring/report.json")
    assert not allows(creator, "projects/_/buckets/elsewhere/objects/penguins/monitoring/report.json")


def test_the_monitor_may_rewrite_only_the_lease(configs):
    [lease] = [b.condition for b in _monitor_grants(configs["dev"]) if b.role == "roles/storage.objectUser"]
    objects = "projects/_/buckets/penguins-dev-data/objects/"
    assert allows(lease, f"{objects}penguins/.datacheck-lease.json")
    assert not allows(lease, f"{objects}penguins/monitoring/20261205T0600/report.json")
    assert not allows(lease, f"{objects}penguins/span-1/penguins.csv")


def test_the_monitor_grants_name_the_watch_flow_that_uses_them_or_say_why_none_does():
    """The rehearsal's flow 5 uses each of them (rehearsal/flows/watch.py), but for the two publishers bound for
    every pipeline though only some use them there (retrain in dev penguins only; canaries in dev only)."""
    rows = [g for g in access.GRANTS if g.account == "monitor" or (g.on == access.PREDICTION_LOG)]
    unused = {(g.on.kind, g.role) for g in rows if g.unrehearsed}
    assert len(rows) == 12 and all(g.flow == "watch" for g in rows if not g.unrehearsed)
    assert unused == {("topic", "roles/pubsub.publisher")} and sum(1 for g in rows if g.unrehearsed) == 2


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_monitor_reads_the_registry_and_never_moves_the_champion(configs, env):
    """It finds a running canary in the alias history, but may not deploy, act as the serving account or write
    the history: ending a canary is the canary build's, which its message on the verdict topic starts (it acts as
    no account and creates no build)."""
    grants = _monitor_grants(configs[env])
    on_registry = {b.role for b in grants if b.resource == f"penguins-{env}-registry"}
    assert on_registry == {"roles/storage.objectViewer"}
    assert not [b for b in grants if b.resource_type == "service-account"]
    assert not [b for b in grants if b.role in ("roles/aiplatform.user", "roles/aiplatform.admin")]


# --- the flagged metric and the drift alerts ---------------------------------------------------------------------


def test_the_metric_is_the_one_the_monitor_writes():
    """One name, contracts.environment.DRIFT_METRIC: release/monitor/act.py (not the CDKTF app's, so read as
    text here) writes it with these labels."""
    act = (REPO_ROOT / "release" / "monitor" / "act.py").read_text()
    assert FLAGGED_METRIC == "custom.googleapis.com/ml_monitor/flagged"
    assert "FLAGGED_METRIC = DRIFT_METRIC" in act
    assert '"labels": {"pipeline": report["pipeline"], "environment": environment}' in act


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_the_flagged_metric_is_an_int64_gauge_labelled_by_pipeline_and_environment(stacks, env):
    [descriptor] = resources(stacks[env], "google_monitoring_metric_descriptor")
    assert (descriptor["type"], descriptor["metric_kind"], descriptor["value_type"]) == (
        "custom.googleapis.com/ml_monitor/flagged",
        "GAUGE",
        "INT64",
    )
    assert [(label["key"], label["value_type"]) for label in descriptor["labels"]] == [
        ("pipeline", "STRING"),
        ("environment", "STRING"),
    ]
    assert descriptor["project"] == f"my-{env}-project"


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_each_alerting_pipelines_drift_alert_fires_on_its_own_flagged_windows(stacks, configs, env):
    policies = {p["display_name"]: p for p in resources(stacks[env], "google_monitoring_alert_policy")}
    for each in configs[env].each_pipeline():
        pipeline = each.selected
        policy = policies[f"penguins-{env}-{pipeline} model drift"]
        [condition] = policy["conditions"]
        threshold = condition["condition_threshold"]
        # The descriptor's reference: the policy waits for the metric to exist.
        assert "${google_monitoring_metric_descriptor." in threshold["filter"]
        log_filter = resolve(stacks[env], threshold["filter"])
        assert log_filter == flagged_filter(FLAGGED_METRIC, pipeline, env)
        assert f'metric.labels.pipeline="{pipeline}"' in log_filter
        assert f'metric.labels.environment="{env}"' in log_filter
        assert (threshold["comparison"], threshold["threshold_value"], threshold["duration"]) == (
            "COMPARISON_GT",
            0,
            "0s",
        )
        assert threshold["aggregations"] == [{"alignment_period": "300s", "per_series_aligner": "ALIGN_MAX"}]
        # The environment's channel, as the other policies.
        assert policy["notification_channels"] == policies[f"penguins-{env}-pipeline-failed"]["notification_channels"]
        assert len(policy["notification_channels"]) == 1
        content = policy["documentation"]["content"]
        assert f"gs://penguins-{env}-data/{pipeline}/monitoring/" in content
        assert ("retraining run was requested" in content) == (each.monitoring.action == "retrain")


def test_only_alerting_pipelines_have_a_drift_alert(configs):
    config = _with_monitoring(configs["dev"], diabetes={"action": "report"})
    stack = synth_stack(config)
    drift = [
        p["display_name"]
        for p in resources(stack, "google_monitoring_alert_policy")
        if "model drift" in p["display_name"]
    ]
    assert drift == ["penguins-dev-penguins model drift"]
