"""Environment config: every shipped file loads; bad files fail naming the file and the field."""

import json
from pathlib import Path

import pytest
import yaml

from contracts.config import ENVS_DIR, ConfigError, load_environment, pinned_template_uri, release_source
from contracts.environment import PipelineChoiceError
from contracts.regions import KNOWN_REGIONS

VALID_LOCAL = """
name: local
backend: local
local: {root: .local}
pipelines:
  penguins:
    evaluation: {metric: SparseCategoricalAccuracy, direction: higher, bound: 0.9, max_regression: 0.01}
"""
# Where a pipeline's own settings go: VALID_LOCAL.replace(PIPELINE, PIPELINE + "    training: ...\n").
PIPELINE = "  penguins:\n"


def pipeline_settings(text: str) -> str:
    """`text` (top-level YAML) as settings of VALID_LOCAL's pipeline."""
    return "".join(f"    {line}\n" for line in text.strip("\n").splitlines())


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "env.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["local", "dev", "prod"])
def test_shipped_environments_load(name):
    config = load_environment(name)
    assert config.name == name
    assert (config.backend == "local") == (name == "local")


def test_environment_names_map_to_envs_folder():
    assert {p.stem for p in ENVS_DIR.glob("*.yaml")} == {"local", "dev", "prod"}


def test_local_root_is_resolved_against_the_repository_and_overridable(tmp_path):
    config = load_environment("local", "penguins")
    assert config.local_paths().root == (ENVS_DIR.parent / ".local").resolve()
    paths = config.local_paths(tmp_path / "elsewhere")
    assert paths.root == tmp_path / "elsewhere"
    for sub in (paths.pipeline_root, paths.metadata_path, paths.registry, paths.data, paths.staged):
        assert paths.root in sub.parents


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.yaml: environment file not found"):
        load_environment(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (("bound: 0.9", "bound: 1.5"), "evaluation: Value error, bound: SparseCategoricalAccuracy is a fraction"),
        (("bound: 0.9", "bound: .nan"), "evaluation.bound"),
        (("max_regression: 0.01", "max_regression: -0.01"), "evaluation.max_regression"),
        (
            ("metric: SparseCategoricalAccuracy", "metric: Accuracy"),
            "evaluation.metric: Value error, 'Accuracy' is not a gate metric",
        ),
        (
            ("direction: higher", "direction: lower"),
            "evaluation: Value error, direction: SparseCategoricalAccuracy is better when higher",
        ),
        (("direction: higher", "direction: up"), "evaluation.direction"),
        ((", max_regression: 0.01", ""), "evaluation.max_regression"),
        (("backend: local", "backend: kubeflow"), "backend"),
        (("  penguins:", "  Penguins:"), "pipelines: Value error, pipeline names ['Penguins']"),
        (("  penguins:", "  nope:"), "pipelines.nope: no folder pipelines/nope/ with a pipeline.py"),
        (("pipelines:\n  penguins:", "pipelines: {}\nx:"), "pipelines: Dictionary should have at least 1 item"),
        (("name: local", "name: local\npipeline_name: penguins-local"), "pipeline_name: Extra inputs"),
        (("local: {root: .local}", "local: {root: .local, colour: red}"), "local.colour"),
        ((PIPELINE, PIPELINE + "    training: {num_epochs: 0}\n"), "pipelines.penguins.training.num_epochs"),
        ((PIPELINE, PIPELINE + "    training: {learning_rate: 0}\n"), "pipelines.penguins.training.learning_rate"),
        ((PIPELINE, PIPELINE + "    trainig: {num_epochs: 3}\n"), "pipelines.penguins.trainig"),
        ((PIPELINE, PIPELINE + "    data: {min_new_records: 0}\n"), "pipelines.penguins.data.min_new_records"),
        ((PIPELINE, PIPELINE + "    data: {retrain_bound: 1.2}\n"), "data.retrain_bound: 1.2 is not a value"),
        # renamed: retrain_bound
        ((PIPELINE, PIPELINE + "    data: {retrain_below: 0.8}\n"), "pipelines.penguins.data.retrain_below"),
        ((PIPELINE, PIPELINE + "    data: {retrain: sometimes}\n"), "pipelines.penguins.data.retrain"),
        ((PIPELINE, PIPELINE + "    data: {min_records: 5}\n"), "pipelines.penguins.data.min_records"),
    ],
)
def test_invalid_values_name_file_and_field(tmp_path, change, field):
    path = write(tmp_path, VALID_LOCAL.replace(*change))
    with pytest.raises(ConfigError) as err:
        load_environment(path)
    assert str(path) in str(err.value)
    assert field in str(err.value)


def test_backend_needs_its_section(tmp_path):
    path = write(tmp_path, VALID_LOCAL.replace("backend: local", "backend: vertex"))
    with pytest.raises(ConfigError, match="backend 'vertex' needs a 'gcp' section"):
        load_environment(path)


def test_bad_project_id_is_named(tmp_path):
    text = load_environment("dev", "penguins").model_dump_json()
    path = write(tmp_path, text.replace('"my-dev-project"', '"My_Project"'))
    with pytest.raises(ConfigError, match=r"gcp.*My_Project"):
        load_environment(path)


def test_not_yaml_mapping(tmp_path):
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_environment(write(tmp_path, "- just\n- a list\n"))


SCHEDULE = """
schedules:
  - name: weekly
    cron: "{cron}"
    time_zone: {tz}
    payload: {payload}
"""


@pytest.mark.parametrize(
    ("cron", "tz", "payload", "message"),
    [
        ("0 9 * * 1", "Europe/Amsterdam", '{num_epochs: "0", learning_rate: "1e-2"}', "num_epochs"),
        ("0 9 * * 1", "Europe/Amsterdam", '{num_epochs: "3", learning_rate: "1e-2", lr: 1}', "lr"),
        ("0 9 * *", "Europe/Amsterdam", '{num_epochs: "3", learning_rate: "1e-2"}', "unix-cron"),
        ("0 9 * * 1", "Mars/Olympus", '{num_epochs: "3", learning_rate: "1e-2"}', "IANA time zone"),
    ],
)
def test_invalid_schedules_fail_at_load_naming_the_field(tmp_path, cron, tz, payload, message):
    path = write(tmp_path, VALID_LOCAL + pipeline_settings(SCHEDULE.format(cron=cron, tz=tz, payload=payload)))
    with pytest.raises(ConfigError) as err:
        load_environment(path)
    assert "pipelines.penguins.schedules.0" in str(err.value)
    assert message in str(err.value)


def test_a_schedules_payload_naming_another_pipeline_is_refused_at_load(tmp_path):
    payload = '{num_epochs: "3", learning_rate: "1e-2", pipeline: diabetes}'
    text = SCHEDULE.format(cron="0 9 * * 1", tz="Europe/Amsterdam", payload=payload)
    with pytest.raises(ConfigError, match=r"pipelines.penguins.schedules.weekly.payload.pipeline: 'diabetes'"):
        load_environment(write(tmp_path, VALID_LOCAL + pipeline_settings(text)))
    own = SCHEDULE.format(cron="0 9 * * 1", tz="Etc/UTC", payload=payload.replace("diabetes", "penguins"))
    assert load_environment(write(tmp_path, VALID_LOCAL + pipeline_settings(own))).schedules[0].name == "weekly"


def test_schedules_accept_the_articles_string_payload(tmp_path):
    text = SCHEDULE.format(cron="0 9 * * 1", tz="Europe/Amsterdam", payload='{num_epochs: "3", learning_rate: "1e-2"}')
    config = load_environment(write(tmp_path, VALID_LOCAL + pipeline_settings(text)))
    assert config.schedules[0].payload == {"num_epochs": "3", "learning_rate": "1e-2"}


def _dev_with(tmp_path, change) -> Path:
    raw = load_environment("dev", "penguins").model_dump(mode="json", exclude_none=True)
    change(raw["gcp"])
    return write(tmp_path, json.dumps(raw))


def test_gcp_infra_settings_load_with_defaults_and_prod_requires_approval():
    dev, prod = load_environment("dev", "penguins").gcp, load_environment("prod", "penguins").gcp
    assert dev is not None and prod is not None
    assert (dev.ci.require_approval, prod.ci.require_approval) == (False, True)
    assert dev.terraform_state_bucket == "penguins-dev-tfstate"
    assert dev.ci.connection == "github" and dev.ci.branch == "^main$"
    assert dev.trigger.memory_mib >= 128
    assert dev.monitoring.alert_email


def test_template_uri_pins_the_published_sha(tmp_path):
    sha = "0123456789abcdef" * 4
    raw = load_environment("dev", "penguins").model_dump(mode="json", exclude_none=True)
    raw["pipelines"]["penguins"]["template_sha256"] = sha
    config = load_environment(write(tmp_path, json.dumps(raw)))
    assert config.settings.template_sha256 == sha
    assert pinned_template_uri(config) == f"gs://penguins-dev-artifacts/templates/{sha}/pipeline.json"
    assert load_environment("dev", "penguins").settings.template_sha256 is None
    assert pinned_template_uri(load_environment("dev", "penguins")) is None
    assert pinned_template_uri(load_environment("local", "penguins")) is None


def _cloud_env_with_two_pipelines() -> dict:
    """envs/dev.yaml's data with two pipelines: its own, and local's diabetes entry where it has none."""
    raw = yaml.safe_load((ENVS_DIR / "dev.yaml").read_text())
    if "diabetes" not in raw["pipelines"]:
        raw["pipelines"]["diabetes"] = yaml.safe_load((ENVS_DIR / "local.yaml").read_text())["pipelines"]["diabetes"]
    return raw


def test_each_pipeline_pins_its_own_template(tmp_path):
    penguins, diabetes = "ab" * 32, "cd" * 32
    raw = _cloud_env_with_two_pipelines()
    raw["pipelines"]["penguins"]["template_sha256"] = penguins
    raw["pipelines"]["diabetes"]["template_sha256"] = diabetes
    config = load_environment(write(tmp_path, json.dumps(raw)))
    assert {c.selected: pinned_template_uri(c) for c in config.each_pipeline()} == {
        "penguins": f"gs://penguins-dev-artifacts/templates/{penguins}/pipeline.json",
        "diabetes": f"gs://penguins-dev-artifacts/templates/{diabetes}/pipeline.json",
    }
    # A pin is one pipeline's: the other follows its pointer.
    del raw["pipelines"]["diabetes"]["template_sha256"]
    config = load_environment(write(tmp_path, json.dumps(raw)))
    assert pinned_template_uri(config.for_pipeline("penguins")) is not None
    assert pinned_template_uri(config.for_pipeline("diabetes")) is None


def test_the_environment_no_longer_takes_one_pin_for_all_its_pipelines(tmp_path):
    path = _dev_with(tmp_path, lambda gcp: gcp.update(template_sha256="ab" * 32))
    with pytest.raises(ConfigError, match=r"gcp\.template_sha256: Extra inputs are not permitted"):
        load_environment(path)


def test_a_pin_is_a_sha256(tmp_path):
    raw = load_environment("dev", "penguins").model_dump(mode="json", exclude_none=True)
    raw["pipelines"]["penguins"]["template_sha256"] = "latest"
    path = write(tmp_path, json.dumps(raw))
    with pytest.raises(ConfigError, match=r"pipelines\.penguins\.template_sha256: String should match pattern"):
        load_environment(path)


def test_the_local_environment_refuses_a_pin(tmp_path):
    text = VALID_LOCAL.replace(PIPELINE, PIPELINE + pipeline_settings(f"template_sha256: {'ab' * 32}"))
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_environment(path)
    assert str(path) in str(err.value)
    assert (
        "pipelines.penguins.template_sha256: a pin names a template in a Google Cloud release store; "
        "environment 'local' has no gcp section"
    ) in str(err.value)


def test_prod_runs_the_release_store_of_dev():
    prod = load_environment("prod", "penguins")
    assert release_source(prod).name == "dev"
    assert release_source(load_environment("dev", "penguins")).name == "dev"
    pinned = prod.with_settings(template_sha256="ab" * 32)
    assert pinned_template_uri(pinned) == f"gs://penguins-dev-artifacts/templates/{'ab' * 32}/pipeline.json"


@pytest.mark.parametrize("source", ["prod", "local", "nope"])
def test_releases_from_must_name_a_publishing_cloud_environment(tmp_path, source):
    config = load_environment(_dev_with(tmp_path, lambda gcp: gcp.update(releases_from=source)))
    with pytest.raises(ConfigError, match=r"releases_from|environment file not found"):
        release_source(config)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda gcp: gcp.update(region="europe-west99"), "gcp.region"),
        (lambda gcp: gcp.update(region="EU"), "gcp.region"),
        (lambda gcp: gcp.pop("project"), "gcp.project"),
        (lambda gcp: gcp.update(name_prefix="a-very-long-name-prefix"[:22]), "gcp"),
        (lambda gcp: gcp.update(state_bucket="Not_A_Bucket"), "gcp.state_bucket"),
        (lambda gcp: gcp["ci"].update(require_approval="sometimes"), "gcp.ci.require_approval"),
        (lambda gcp: gcp["ci"].update(repo="x"), "gcp.ci.repo"),
        (lambda gcp: gcp.update(releases_from="Dev Env"), "gcp.releases_from"),
        (lambda gcp: gcp["trigger"].update(memory_mib=64), "gcp.trigger.memory_mib"),
        (lambda gcp: gcp["monitoring"].update(alert_email="not-an-email"), "gcp.monitoring.alert_email"),
    ],
)
def test_invalid_gcp_settings_name_file_and_field(tmp_path, change, field):
    path = _dev_with(tmp_path, change)
    with pytest.raises(ConfigError) as err:
        load_environment(path)
    assert str(path) in str(err.value)
    assert field in str(err.value)


def test_known_regions_include_the_shipped_ones():
    assert {"europe-west4", "us-central1"} <= KNOWN_REGIONS


def test_one_location_rule_for_buckets_and_local_folders():
    dev, local = load_environment("dev", "penguins"), load_environment("local", "penguins")
    assert dev.location("artifacts") == "gs://penguins-dev-artifacts"
    assert dev.location("pipeline-root") == "gs://penguins-dev-pipeline-root"
    paths = local.local_paths()
    assert local.location("artifacts") == str(paths.published)
    assert local.location("pipeline-root") == str(paths.pipeline_root)
    assert local.location("data") == str(paths.data)


@pytest.mark.parametrize("image", ["europe-docker.pkg.dev/p/r/tf-serving:latest", "europe-docker.pkg.dev/p/r/tf"])
def test_the_serving_image_must_be_pinned(tmp_path, image):
    raw = yaml.safe_load((ENVS_DIR / "dev.yaml").read_text())
    raw["gcp"]["serving_image"] = image
    path = tmp_path / "dev.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"gcp\.serving_image: .*pin the serving image"):
        load_environment(path)


def test_no_serving_image_by_default_each_version_serves_with_its_own_pipeline_image():
    assert load_environment("dev", "penguins").gcp.serving_image is None


def test_each_pipelines_model_and_endpoint_follow_the_per_pipeline_naming_rule():
    dev, prod = load_environment("dev", "penguins").gcp, load_environment("prod", "penguins").gcp
    for gcp in (dev, prod):
        for pipeline in ("penguins", "diabetes"):
            endpoint_id = gcp.endpoint_id(pipeline)
            assert len(endpoint_id) == 10 and endpoint_id.isdigit() and endpoint_id[0] != "0"
            assert gcp.endpoint(pipeline) == f"projects/{gcp.project}/locations/europe-west4/endpoints/{endpoint_id}"
        assert gcp.endpoint_id("penguins") != gcp.endpoint_id("diabetes")
        assert gcp.model_name("diabetes") == f"{gcp.name_prefix}-diabetes-model"
    assert dev.endpoint_id("penguins") != prod.endpoint_id("penguins")
    assert dev.serving_service_account == "penguins-dev-serving@my-dev-project.iam.gserviceaccount.com"


@pytest.mark.parametrize(
    ("serving", "message"),
    [
        ({"min_replicas": 3, "max_replicas": 2}, "max_replicas 2 is below min_replicas 3"),
        ({"min_replicas": 0}, r"release\.serving\.min_replicas"),
        ({"machine_type": "N1 standard"}, r"release\.serving\.machine_type"),
        ({"machine": "n1-standard-2"}, r"release\.serving\.machine"),
    ],
)
def test_bad_serving_settings_are_rejected(tmp_path, serving, message):
    raw = yaml.safe_load((ENVS_DIR / "prod.yaml").read_text())
    raw["release"]["serving"] = serving
    path = tmp_path / "prod.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=message):
        load_environment(path)


def test_data_check_settings_default_the_retrain_threshold_to_the_release_gate(tmp_path):
    config = load_environment(write(tmp_path, VALID_LOCAL))
    assert (config.data.min_new_records, config.data.retrain) == (50, "on-threshold")
    assert config.retrain_bound == config.evaluation.bound
    config = load_environment(
        write(tmp_path, VALID_LOCAL.replace(PIPELINE, PIPELINE + "    data: {retrain_bound: 0.8}\n"))
    )
    assert config.retrain_bound == 0.8
    assert load_environment("local", "penguins").data.min_new_records == 50
    assert load_environment("dev", "penguins").data_area("incoming") == "gs://penguins-dev-data/penguins/incoming"


@pytest.mark.parametrize(
    ("cron", "tz", "message"),
    [("0 */6 * *", "Etc/UTC", "unix-cron"), ("0 3 * * *", "Europe/Atlantis", "IANA time zone")],
)
def test_an_invalid_data_check_schedule_fails_at_load_naming_the_field(tmp_path, cron, tz, message):
    text = f'data:\n  schedule:\n    cron: "{cron}"\n    time_zone: {tz}\n'
    with pytest.raises(ConfigError) as err:
        load_environment(write(tmp_path, VALID_LOCAL + pipeline_settings(text)))
    assert "pipelines.penguins.data.schedule" in str(err.value) and message in str(err.value)


def test_the_data_check_schedule_is_read_and_optional(tmp_path):
    text = 'data:\n  schedule: {cron: "0 */6 * * *", time_zone: Europe/Amsterdam}\n'
    schedule = load_environment(write(tmp_path, VALID_LOCAL + pipeline_settings(text))).data.schedule
    assert (schedule.cron, schedule.time_zone) == ("0 */6 * * *", "Europe/Amsterdam")
    assert load_environment(write(tmp_path, VALID_LOCAL)).data.schedule is None


def test_custom_role_ids_follow_the_naming_rule_without_hyphens():
    gcp = load_environment("dev", "penguins").gcp
    assert (
        gcp.role_id("datacheck-runner")
        == gcp.name("datacheck-runner").replace("-", "_")
        == "penguins_dev_datacheck_runner"
    )


def test_an_approval_gated_environment_cannot_auto_promote(tmp_path):
    """Auto-promotion is a build nobody approves: a file asking for both is refused, naming both settings."""
    raw = yaml.safe_load((ENVS_DIR / "prod.yaml").read_text())
    raw["release"]["auto_promote"] = True
    with pytest.raises(
        ConfigError, match=r"release.auto_promote: true promotes without an approver, but gcp.ci.require_approval: true"
    ):
        load_environment(write(tmp_path, json.dumps(raw)))
    raw["gcp"]["ci"]["require_approval"] = False
    assert load_environment(write(tmp_path, json.dumps(raw))).release.auto_promote is True


def test_a_cloud_environment_runs_both_pipelines_each_with_its_own_names_and_data_area():
    for env in ("dev", "prod"):
        config = load_environment(env)
        assert sorted(config.pipelines) == ["diabetes", "penguins"]
        prefix = config.gcp.name_prefix
        for pipeline in ("diabetes", "penguins"):
            each = config.for_pipeline(pipeline)
            assert each.pipeline_name == f"{pipeline}-{env}"
            assert each.data_area("incoming") == f"gs://{prefix}-data/{pipeline}/incoming"
            assert each.gcp.model_name(pipeline) == f"{prefix}-{pipeline}-model"
        # Asked for one pipeline's settings without naming it, the environment lists them.
        with pytest.raises(PipelineChoiceError, match=r"2 pipelines \(diabetes, penguins\)"):
            _ = config.data
