"""The access table: every account, every grant the stacks make, what it touches, the role, and why.

One table (GRANTS) and the accounts it names (ACCOUNTS, AGENTS, CUSTOM_ROLES). The stacks create their IAM
from it and from nothing else (infra/parts/iam.py); infra/README.md's access table is generated from it
(`python -m infra.access_readme`; tests/infra/test_access.py keeps them equal and holds the synthesized
stacks to it); the cloud rehearsal holds the IAM it sees used to it, both ways: `flow` names the rehearsed
flow (a key of FLOWS) whose requests use a grant, `unrehearsed` says why no rehearsed request does.

For a reader outside the stack (the rehearsal, the docs): `bindings(config, project_number)` gives every grant
that applies to an environment as Google Cloud names it (access_model.Binding: member `serviceAccount:<email>`,
resource type and name, role `roles/<name>` or `projects/<project>/roles/<id>`, and the condition, one of
`resource.name == "projects/_/buckets/<b>/objects/<name>"`, `resource.name.startsWith("...")` or
`!resource.name.startsWith("...")`), each with the row it came from (`.grant`: account, why, flow).

No primitive role anywhere, no project-wide actAs: impersonation is granted on one account at a time.
Standard library and contracts only (see infra/access_model.py).
"""

from __future__ import annotations

from contracts import data_layout
from contracts.config import EnvironmentConfig
from contracts.current_template import CURRENT_PREFIX
from contracts.data_layout import join
from contracts.environment import Gcp
from infra.access_model import (
    ALWAYS,
    CUSTOM,
    STATE,
    Account,
    Binding,
    CustomRole,
    Grant,
    Objects,
    Resource,
    When,
    account_email,
    agent_email,
    bind,
    history_prefix,
    store_gcp,
)


def _gcp(config: EnvironmentConfig) -> Gcp:
    return store_gcp(config, "own")


DATAFLOW = When("with Dataflow (gcp.dataflow.enabled)", lambda c: _gcp(c).dataflow.enabled)
VERTEX_TRAINING = When("with Vertex AI Training (gcp.training)", lambda c: _gcp(c).training.on_vertex)
SCHEDULED_CHECK = When(
    "with a pipeline's data.schedule", lambda c: any(each.data.schedule is not None for each in c.each_pipeline())
)
SCHEDULED_MONITOR = When(
    "with a pipeline's monitoring.schedule",
    lambda c: any(each.monitoring.schedule is not None for each in c.each_pipeline()),
)
SCHEDULED_BUILD = When(
    "with a pipeline's data.schedule or monitoring.schedule", lambda c: SCHEDULED_CHECK(c) or SCHEDULED_MONITOR(c)
)
# The endpoints' request-response logging (a pipeline's monitoring.log_sample_rate above 0).
LOGS = When(
    "with a pipeline's monitoring.log_sample_rate above 0",
    lambda c: any(each.monitoring.log_sample_rate > 0 for each in c.each_pipeline()),
)
# What the monitor does with a flagged window (monitoring.action): a metric point for alert and retrain, and a
# retraining message (under the data area's lease) for retrain.
ALERTS = When(
    "with a pipeline's monitoring.action alert or retrain",
    lambda c: any(each.monitoring.action in ("alert", "retrain") for each in c.each_pipeline()),
)
RETRAINS = When(
    "with a pipeline's monitoring.action retrain",
    lambda c: any(each.monitoring.action == "retrain" for each in c.each_pipeline()),
)
PUBLISHES = When("where it publishes its own releases", lambda c: _gcp(c).releases_from is None)
ADOPTS = When("where gcp.releases_from names a release store", lambda c: _gcp(c).releases_from is not None)

# The rehearsed flows (rehearsal/, `nox -s rehearse`) a grant's `flow` may name.
FLOWS: dict[str, str] = {
    "push": "flow 1: full and modules publish, submit and move the pointer (prod: adopt dev's template)",
    "schedule": "flow 2: a Scheduler message becomes one PipelineJob through the trigger function",
    "data-check": "flow 3: the scheduled data check ingests a batch and submits one PipelineJob",
    "registry-push": "flow 4: RegistryPush registers the blessed model and announces it, in the PipelineJob",
    "promote": (
        "flow 4: a promotion deploys and moves the alias (dev: the autopromote build the announcement starts; "
        "prod: the approved promote build); a rollback switches traffic"
    ),
    "watch": (
        "flow 5: the endpoints' request logs, the scheduled monitor, its metric and alert, a retraining run; in dev "
        "a canary's start and end"
    ),
}

ACCOUNTS: dict[str, Account] = {
    "ci": Account("Cloud Build: the push workflows, promote, autopromote, canary, model tests; read-only for the plan"),
    "pipeline": Account("Vertex AI Pipelines runs every PipelineJob as it: the TFX steps, RegistryPush"),
    "trigger": Account("The trigger Cloud Function: runtime identity and Eventarc trigger identity"),
    "scheduler": Account(
        "Cloud Scheduler: publishes scheduled TriggerMessages, starts the data-check and monitor builds"
    ),
    "datacheck": Account("The scheduled data check's Cloud Build build (ci/cloudbuild/datacheck.yaml)"),
    "monitor": Account(
        "The scheduled monitor's Cloud Build build (ci/cloudbuild/monitor.yaml): watches the champion, judges a "
        "running canary and publishes the message that starts the canary build applying its verdict"
    ),
    "dataflow": Account("Dataflow workers of the pipeline's Beam components", DATAFLOW),
    "serving": Account("The served champion's container on the Vertex AI endpoint (reads the model)"),
}
# The account a workflow's Cloud Build builds run as (ci/routing.py's workflows); every other one runs as ci: the
# promote and autopromote builds, and the canary build (ci/cloudbuild/canary.yaml, started by the monitor's message
# on the pipeline's canary-verdict topic), which ends a canary as the monitor's verdict says with the promote
# builds' rights.
BUILD_ACCOUNTS: dict[str, str] = {"datacheck": "datacheck", "monitor": "monitor"}


def build_account(workflow: str) -> str:
    return BUILD_ACCOUNTS.get(workflow, "ci")


# Google-managed service agents of the environment's project: (their domain, what they do here).
AGENTS: dict[str, tuple[str, str]] = {
    "pubsub-agent": ("gcp-sa-pubsub.iam.gserviceaccount.com", "Pub/Sub: forwards undeliverable messages"),
    "vertex-agent": (
        "gcp-sa-aiplatform.iam.gserviceaccount.com",
        "Vertex AI: pulls step and serving images; writes the endpoints' request-response logs",
    ),
}

CUSTOM_ROLES: dict[str, CustomRole] = {
    # roles/dataflow.developer would also let it snapshot and update jobs and list the project's compute.
    "dataflow-launcher": CustomRole(
        "Dataflow launcher",
        "Launch and follow Dataflow jobs (the pipeline account, from its Beam steps)",
        (
            "dataflow.jobs.create",
            "dataflow.jobs.get",
            "dataflow.jobs.list",
            "dataflow.jobs.cancel",
            "dataflow.messages.list",
            "dataflow.metrics.get",
        ),
    ),
    # No predefined role is narrower; Cloud Build has no per-trigger binding.
    "build-runner": CustomRole(
        "Scheduled build runner",
        "Starts Cloud Build builds: the scheduled data check's and monitor's trigger runs",
        ("cloudbuild.builds.create",),
    ),
}

# Read-only roles that let `terraform plan` refresh every resource type the stack declares (plan only: CI
# never applies). Predefined viewer roles per service instead of the primitive roles/viewer.
PLAN_READ_ROLES = (
    "roles/iam.securityReviewer",  # every IAM policy
    "roles/browser",  # the project itself (google_project)
    "roles/iam.serviceAccountViewer",
    "roles/serviceusage.serviceUsageViewer",
    "roles/storage.bucketViewer",
    "roles/artifactregistry.reader",
    "roles/pubsub.viewer",
    "roles/cloudfunctions.viewer",
    "roles/run.viewer",
    "roles/eventarc.viewer",
    "roles/cloudscheduler.viewer",
    "roles/cloudbuild.builds.viewer",
    "roles/monitoring.viewer",
    # The request logs' dataset and its grants: the provider reads a dataset's IAM from its access list
    # (bigquery.datasets.get; the tables are Vertex AI's, not the stack's).
    "roles/bigquery.metadataViewer",
)

PROJECT = Resource("project")
RELEASE_PROJECT = Resource("project", store="release")
PIPELINE_ROOT, ARTIFACTS, DATA = (
    Resource("bucket", "pipeline-root"),
    Resource("bucket", "artifacts"),
    Resource("bucket", "data"),
)
REGISTRY, BUILD_LOGS = Resource("bucket", "registry"), Resource("bucket", "build-logs")
STATE_BUCKET = Resource("bucket", STATE)
RELEASE_ARTIFACTS = Resource("bucket", "artifacts", store="release")
IMAGES, RELEASE_IMAGES = Resource("repository", "images"), Resource("repository", "images", store="release")
# Each pipeline's own: its trigger topic, dead-letter topic, announcements topic, canary-verdict topic (whose
# messages start its canary build: ci/routing.py, route `canary`) and trigger function.
TRIGGER_TOPIC = Resource("topic", "trigger", per_pipeline=True)
DEAD_LETTER_TOPIC = Resource("topic", "trigger-dead-letter", per_pipeline=True)
MODEL_REGISTERED = Resource("topic", "model-registered", per_pipeline=True)
CANARY_VERDICT_TOPIC = Resource("topic", "canary-verdict", per_pipeline=True)
FUNCTION = Resource("run-service", "trigger", per_pipeline=True)
# The request logs' BigQuery dataset (Gcp.prediction_log_dataset: <prefix>_predictions), in which each pipeline's
# endpoint's request-response logging creates and writes its table <pipeline>_requests (Gcp.prediction_log_table)
# and the monitor reads it. The grants are on the dataset: the tables are Vertex AI's to create, not the stack's.
PREDICTION_LOG = Resource("bigquery-dataset", "predictions")


def acts_as(account: str) -> Resource:
    return Resource("service-account", account)


# What a grant is limited to, on object names (IAM conditions; the bucket needs uniform access, which all have).
POINTER = Objects(
    "current-template-only",
    "prefix",
    lambda c: CURRENT_PREFIX,
    "Overwrite only the current-template pointers, one per pipeline (release/publishing/current.py)",
)
HISTORY_ONLY = Objects(
    "alias-history-only",
    "prefix",
    history_prefix,
    "Create-only alias history and model-test records (the moves' journal)",
)
NOT_HISTORY = Objects(
    "not-alias-history",
    "outside",
    history_prefix,
    "Register model copies, never the alias history (only the promote builds write it)",
)
INCOMING = Objects(
    "incoming-only",
    "prefix",
    lambda c: f"{join(c.dataset, 'incoming')}/",
    "Delete the incoming files a batch moved (release/datacheck/gcs_store.py: move)",
)
UNFROZEN = Objects(
    "batches-only",
    "prefix",
    lambda c: f"{join(c.dataset, 'batches')}/",
    "Delete a batch folder a killed check never froze (release/datacheck/check.py: _remove_unfrozen)",
)
LEASE = Objects(
    "lease-only",
    "exact",
    lambda c: join(c.dataset, data_layout.LEASE),
    "Renew (rewrite) and release (delete) the one-check-at-a-time lease (release/datacheck/lease.py)",
)
MONITORING = Objects(
    "monitoring-only",
    "prefix",
    lambda c: f"{join(c.dataset, 'monitoring')}/",
    "The monitor's reports, statistics, retrain records and canary verdicts, create-only (release/monitor/)",
)
CANARY_VERDICTS = Objects(
    "canary-verdicts-only",
    "prefix",
    lambda c: f"{join(c.dataset, 'monitoring', 'canary')}/",
    "The canary verdicts the monitor records, <version>-<start>.json, read by name (release/monitor/)",
)

_NO_LOGGING = "Cloud Logging has no stand-in"
_NO_PLAN = "the rehearsal runs no terraform plan"
_NO_TFX = "the TFX steps other than RegistryPush are not rehearsed (the e2e tier trains)"
_NO_DATAFLOW = "Dataflow is not stood in"
_NO_PULLS = "image pulls are Vertex AI's and Dataflow's own, not stood in"
_NOT_EVERY_PIPELINE_RETRAINS = (
    "bound for every pipeline of the environment, and only a pipeline whose monitoring.action is retrain sends one "
    "(the rehearsal's dev penguins does; diabetes, which alerts, leaves its binding unused)"
)
_NO_CANARY_IN_PROD = "the rehearsal runs its canary in dev only, so prod's binding is unused"

GRANTS: tuple[Grant, ...] = (
    # ci: Cloud Build. Builds log to the build-logs bucket (logging: GCS_ONLY), so no logging role.
    Grant("ci", PROJECT, "roles/aiplatform.user", "submit PipelineJobs; read models; deploy onto the endpoint", "push"),
    *(
        Grant("ci", PROJECT, role, "terraform plan refreshes what the stack declares (read-only)", unrehearsed=_NO_PLAN)
        for role in PLAN_READ_ROLES
    ),
    Grant(
        "ci",
        STATE_BUCKET,
        "roles/storage.objectViewer",
        "terraform plan -lock=false reads the state",
        unrehearsed=_NO_PLAN,
    ),
    Grant(
        "ci",
        ARTIFACTS,
        "roles/storage.objectCreator",
        "publish templates, modules, wheels, image records, create-only",
        "push",
        when=PUBLISHES,
    ),
    Grant(
        "ci",
        ARTIFACTS,
        "roles/storage.objectViewer",
        "read image records and published templates",
        "push",
        when=PUBLISHES,
    ),
    Grant(
        "ci",
        ARTIFACTS,
        "roles/storage.objectUser",
        "move the current-template pointer after a submitted run",
        "push",
        only=POINTER,
    ),
    Grant(
        "ci", RELEASE_ARTIFACTS, "roles/storage.objectViewer", "adopt: read the commit's record and template", "push"
    ),
    Grant(
        "ci",
        RELEASE_PROJECT,
        "roles/iam.securityReviewer",
        "terraform plan refreshes the grants this stack makes on the release store (read-only)",
        unrehearsed=_NO_PLAN,
    ),
    Grant(
        "ci",
        BUILD_LOGS,
        "roles/storage.objectAdmin",
        "Cloud Build streams each build's log and rewrites it as it grows",
        "push",
    ),
    Grant("ci", REGISTRY, "roles/storage.objectViewer", "smoke and model tests load a version's SavedModel", "promote"),
    Grant(
        "ci",
        REGISTRY,
        "roles/storage.objectCreator",
        "record each alias move and model-test outcome",
        "promote",
        only=HISTORY_ONLY,
    ),
    Grant(
        "ci",
        IMAGES,
        "roles/artifactregistry.writer",
        "kaniko pushes the pipeline image and its layer cache",
        unrehearsed="kaniko cannot run here",
        when=PUBLISHES,
    ),
    # The canary build (ci/cloudbuild/canary.yaml) runs as ci: it applies the verdict the monitor recorded, which
    # it reads by name (the running canary's version and start, from the journal); a condition on object names
    # allows no listing, and nothing else of the data bucket.
    Grant(
        "ci",
        DATA,
        "roles/storage.objectViewer",
        "the canary build reads the verdict the monitor recorded for the running canary",
        unrehearsed=_NO_CANARY_IN_PROD,
        only=CANARY_VERDICTS,
    ),
    Grant(
        "ci", acts_as("pipeline"), "roles/iam.serviceAccountUser", "PipelineJobs run as the pipeline account", "push"
    ),
    Grant(
        "ci",
        acts_as("serving"),
        "roles/iam.serviceAccountUser",
        "the deployed champion runs as the serving account",
        "promote",
    ),
    # pipeline: every PipelineJob, RegistryPush included.
    Grant("pipeline", PROJECT, "roles/logging.logWriter", "its steps' log entries", unrehearsed=_NO_LOGGING),
    Grant(
        "pipeline",
        PROJECT,
        "roles/aiplatform.user",
        "register model versions; Vertex AI Training jobs; ML Metadata",
        "registry-push",
    ),
    Grant(
        "pipeline",
        PIPELINE_ROOT,
        "roles/storage.objectAdmin",
        "every step reads and writes its artifacts there",
        "registry-push",
    ),
    Grant(
        "pipeline",
        DATA,
        "roles/storage.objectViewer",
        "ExampleGen reads the spans; RegistryPush hashes them",
        "registry-push",
    ),
    Grant(
        "pipeline",
        ARTIFACTS,
        "roles/storage.objectViewer",
        "the modules, wheels and schema a template names",
        unrehearsed=_NO_TFX,
        when=PUBLISHES,
    ),
    Grant(
        "pipeline",
        RELEASE_ARTIFACTS,
        "roles/storage.objectViewer",
        "the modules, wheels and schema a template names",
        unrehearsed=_NO_TFX,
    ),
    Grant(
        "pipeline",
        REGISTRY,
        "roles/storage.objectViewer",
        "the Evaluator reads the champion (baseline); registration reads its copies",
        "registry-push",
    ),
    Grant(
        "pipeline",
        REGISTRY,
        "roles/storage.objectCreator",
        "copy a blessed model there, create-only, content-addressed",
        "registry-push",
        only=NOT_HISTORY,
    ),
    Grant("pipeline", MODEL_REGISTERED, "roles/pubsub.publisher", "announce a registered version", "registry-push"),
    Grant(
        "pipeline",
        PROJECT,
        f"{CUSTOM}dataflow-launcher",
        "its Beam steps launch and follow Dataflow jobs",
        unrehearsed=_NO_DATAFLOW,
        when=DATAFLOW,
    ),
    Grant(
        "pipeline",
        acts_as("dataflow"),
        "roles/iam.serviceAccountUser",
        "Dataflow workers run as the dataflow account",
        unrehearsed=_NO_DATAFLOW,
        when=DATAFLOW,
    ),
    Grant(
        "pipeline",
        acts_as("pipeline"),
        "roles/iam.serviceAccountUser",
        "the Trainer's Vertex AI custom job runs as it",
        unrehearsed=_NO_TFX,
        when=VERTEX_TRAINING,
    ),
    # trigger: the Cloud Function.
    Grant("trigger", PROJECT, "roles/logging.logWriter", "the function's log entries", unrehearsed=_NO_LOGGING),
    Grant(
        "trigger", PROJECT, "roles/aiplatform.user", "submit PipelineJobs; read the champion (the baseline)", "schedule"
    ),
    Grant(
        "trigger",
        PROJECT,
        "roles/eventarc.eventReceiver",
        "Eventarc delivers as it (a project-only role)",
        unrehearsed="Eventarc's own check is not stood in",
    ),
    Grant("trigger", FUNCTION, "roles/run.invoker", "Eventarc pushes each message to the function as it", "schedule"),
    Grant(
        "trigger",
        ARTIFACTS,
        "roles/storage.objectViewer",
        "read the current-template pointer and the template",
        "schedule",
    ),
    Grant(
        "trigger", RELEASE_ARTIFACTS, "roles/storage.objectViewer", "read the template the pointer names", "schedule"
    ),
    Grant(
        "trigger",
        acts_as("pipeline"),
        "roles/iam.serviceAccountUser",
        "PipelineJobs run as the pipeline account",
        "schedule",
    ),
    # scheduler: Cloud Scheduler's jobs, with OAuth tokens of its own.
    Grant(
        "scheduler",
        TRIGGER_TOPIC,
        "roles/pubsub.publisher",
        "the schedules: entries publish their TriggerMessages",
        "schedule",
    ),
    Grant(
        "scheduler",
        PROJECT,
        f"{CUSTOM}build-runner",
        "the data-check and monitor jobs run their build triggers",
        "data-check",
        when=SCHEDULED_BUILD,
    ),
    Grant(
        "scheduler",
        acts_as("datacheck"),
        "roles/iam.serviceAccountUser",
        "that build runs as the datacheck account",
        "data-check",
        when=SCHEDULED_CHECK,
    ),
    Grant(
        "scheduler",
        acts_as("monitor"),
        "roles/iam.serviceAccountUser",
        "the monitor build runs as the monitor account",
        flow="watch",
        when=SCHEDULED_MONITOR,
    ),
    # datacheck: the scheduled data check's build.
    Grant("datacheck", PROJECT, "roles/aiplatform.user", "submit a PipelineJob; read the champion", "data-check"),
    Grant(
        "datacheck", DATA, "roles/storage.objectViewer", "list and read incoming/, the batches, the spans", "data-check"
    ),
    Grant(
        "datacheck",
        DATA,
        "roles/storage.objectCreator",
        "batches, spans, quarantine and moved files, create-only",
        "data-check",
    ),
    Grant(
        "datacheck",
        DATA,
        "roles/storage.objectUser",
        "delete the incoming files a batch moved",
        "data-check",
        only=INCOMING,
    ),
    Grant(
        "datacheck",
        DATA,
        "roles/storage.objectUser",
        "remove a batch folder a killed check never froze",
        unrehearsed="only after a check died while freezing",
        only=UNFROZEN,
    ),
    Grant("datacheck", DATA, "roles/storage.objectUser", "renew and release its lease", "data-check", only=LEASE),
    Grant(
        "datacheck",
        ARTIFACTS,
        "roles/storage.objectViewer",
        "read the current-template pointer and the template",
        "data-check",
    ),
    Grant(
        "datacheck",
        RELEASE_ARTIFACTS,
        "roles/storage.objectViewer",
        "read the template the pointer names",
        "data-check",
    ),
    Grant("datacheck", REGISTRY, "roles/storage.objectViewer", "evaluate the champion on the batch", "data-check"),
    Grant(
        "datacheck", BUILD_LOGS, "roles/storage.objectAdmin", "Cloud Build streams the build's log as it", "data-check"
    ),
    Grant(
        "datacheck",
        acts_as("pipeline"),
        "roles/iam.serviceAccountUser",
        "the retraining PipelineJob runs as the pipeline account",
        "data-check",
    ),
    # monitor: the scheduled monitor's build (release/monitor/), for every pipeline of the environment.
    Grant(
        "monitor",
        PROJECT,
        "roles/bigquery.jobUser",
        "run the window's query job on the request log (a project-only role)",
        flow="watch",
    ),
    Grant(
        "monitor",
        PREDICTION_LOG,
        "roles/bigquery.dataViewer",
        "read a window of each pipeline's request log (its endpoint's table)",
        flow="watch",
    ),
    Grant(
        "monitor",
        PROJECT,
        "roles/aiplatform.viewer",
        "read the champion and the spans it was trained on (the registry); which version each deployed model is",
        flow="watch",
    ),
    # The whole bucket, like the datacheck's: objects.list is checked on the bucket, so a condition on object names
    # would refuse listing a span folder.
    Grant(
        "monitor",
        DATA,
        "roles/storage.objectViewer",
        "list and read the champion's spans and the earlier windows' reports",
        flow="watch",
    ),
    # Every run looks for a running canary in the alias history (release/monitor/cli.py: judge_canary); ending one
    # moves the champion, which this account may not (no deploy, no actAs serving, no history writes): the canary
    # build does, as the ci account, once the monitor has recorded its verdict and published its message.
    Grant(
        "monitor",
        REGISTRY,
        "roles/storage.objectViewer",
        "read the alias history (a running canary) and a canary's two versions, scored on newly labelled spans",
        flow="watch",
    ),
    Grant(
        "monitor",
        DATA,
        "roles/storage.objectCreator",
        "write each window's report, statistics and retrain record, and a canary's verdict, create-only",
        flow="watch",
        only=MONITORING,
    ),
    Grant(
        "monitor",
        DATA,
        "roles/storage.objectUser",
        "send a window's retraining message under the data area's lease",
        flow="watch",
        only=LEASE,
        when=RETRAINS,
    ),
    Grant(
        "monitor",
        PROJECT,
        "roles/monitoring.metricWriter",
        "write each decided window's point of custom.googleapis.com/ml_monitor/flagged",
        flow="watch",
        when=ALERTS,
    ),
    Grant(
        "monitor",
        TRIGGER_TOPIC,
        "roles/pubsub.publisher",
        "request one retraining run per flagged window",
        unrehearsed=_NOT_EVERY_PIPELINE_RETRAINS,
        when=RETRAINS,
    ),
    Grant(
        "monitor",
        BUILD_LOGS,
        "roles/storage.objectAdmin",
        "Cloud Build streams the build's log as it",
        flow="watch",
    ),
    # Waking the pipeline's canary build once it recorded a verdict: one message on the pipeline's canary-verdict
    # topic, whose Pub/Sub trigger (<prefix>-<pipeline>-canary, ci/cloudbuild/canary.yaml) runs the build as the ci
    # account. Publishing there is all it may do: no cloudbuild.builds.create, no actAs (with those, any build
    # as the ci account, approvals aside), and the build takes nothing from the message. Every environment, every
    # pipeline: release.canary.percent may start a canary, and `models promote --canary` may too.
    Grant(
        "monitor",
        CANARY_VERDICT_TOPIC,
        "roles/pubsub.publisher",
        "wake the pipeline's canary build once it recorded a canary's verdict (one message: pipeline, version, "
        "verdict)",
        unrehearsed=_NO_CANARY_IN_PROD,
    ),
    # dataflow: the Beam components' workers.
    Grant(
        "dataflow",
        PROJECT,
        "roles/dataflow.worker",
        "run Dataflow work items (a project-only role)",
        unrehearsed=_NO_DATAFLOW,
    ),
    Grant(
        "dataflow",
        PIPELINE_ROOT,
        "roles/storage.objectAdmin",
        "read inputs, write outputs, temp and staging files",
        unrehearsed=_NO_DATAFLOW,
    ),
    Grant("dataflow", DATA, "roles/storage.objectViewer", "ExampleGen reads the spans", unrehearsed=_NO_DATAFLOW),
    Grant(
        "dataflow",
        REGISTRY,
        "roles/storage.objectViewer",
        "the Evaluator reads the champion (baseline)",
        unrehearsed=_NO_DATAFLOW,
    ),
    Grant(
        "dataflow",
        IMAGES,
        "roles/artifactregistry.reader",
        "the pipeline image is the workers' SDK container",
        unrehearsed=_NO_PULLS,
        when=PUBLISHES,
    ),
    Grant(
        "dataflow",
        RELEASE_IMAGES,
        "roles/artifactregistry.reader",
        "the pipeline image is the workers' SDK container",
        unrehearsed=_NO_PULLS,
    ),
    # serving: the endpoint's container.
    Grant(
        "serving",
        REGISTRY,
        "roles/storage.objectViewer",
        "the container loads the version's SavedModel",
        unrehearsed="the endpoint's container does not run in the rehearsal",
    ),
    # Google-managed agents.
    Grant(
        "pubsub-agent",
        DEAD_LETTER_TOPIC,
        "roles/pubsub.publisher",
        "dead-letter undeliverable trigger messages",
        unrehearsed="Eventarc's subscription policy is set outside the stack",
    ),
    Grant(
        "vertex-agent",
        RELEASE_IMAGES,
        "roles/artifactregistry.reader",
        "pull the release store's image for steps and serving",
        unrehearsed=_NO_PULLS,
    ),
    # The endpoint's request-response logging creates and writes each pipeline's table, as the Vertex AI service
    # agent: the endpoint names the full table reference, and for that "the Dataset must exist and table must not
    # exist" (PredictRequestResponseLoggingConfig.bigquery_destination.output_uri), so Vertex AI creates the table.
    # Creating it needs bigquery.tables.create on the dataset, writing rows bigquery.tables.updateData and
    # bigquery.tables.get (cloud.google.com/bigquery/docs/streaming-data-into-bigquery#required_permissions):
    # roles/bigquery.dataEditor is the narrowest predefined role with them, on the dataset (a table that does not
    # exist yet has no policy to grant on), which holds nothing but the request logs.
    Grant(
        "vertex-agent",
        PREDICTION_LOG,
        "roles/bigquery.dataEditor",
        "each pipeline's endpoint's request-response logging creates the pipeline's table on its first log and "
        "writes its sampled requests",
        flow="watch",
        when=LOGS,
    ),
)


def applies(grant: Grant, config: EnvironmentConfig) -> bool:
    """Whether an environment gets the grant: its own `when`, its account's, and (on the release store) only
    where the environment runs another's releases."""
    account = ACCOUNTS.get(grant.account)
    active = account is None or account.when(config)
    return active and (grant.on.store == "own" or ADOPTS(config)) and grant.when(config)


def conditions(grant: Grant) -> list[When]:
    """Every property of the environment file the grant depends on (for the README)."""
    account = ACCOUNTS.get(grant.account)
    found = [account.when if account else ALWAYS, ADOPTS if grant.on.store == "release" else ALWAYS, grant.when]
    return [when for when in dict.fromkeys(found) if when is not ALWAYS]


def member(config: EnvironmentConfig, account: str, project_number: str) -> str:
    """The IAM member of a table account: one the stack creates (the naming rule), or a service agent."""
    if account in AGENTS:
        return f"serviceAccount:{agent_email(AGENTS[account][0], project_number)}"
    return f"serviceAccount:{account_email(_gcp(config), account)}"


def accounts(config: EnvironmentConfig) -> list[str]:
    """The accounts the environment's stack creates."""
    return [key for key, account in ACCOUNTS.items() if account.when(config)]


def custom_roles(config: EnvironmentConfig) -> list[str]:
    """The custom roles the environment's stack creates: those its grants use."""
    used = {g.role.removeprefix(CUSTOM) for g in GRANTS if g.role.startswith(CUSTOM) and applies(g, config)}
    return [key for key in CUSTOM_ROLES if key in used]


def bindings(config: EnvironmentConfig, project_number: str = "PROJECT_NUMBER") -> list[Binding]:
    """Every grant of the environment, resolved: what its stack must grant, exactly (the project number names
    the service agents; Terraform knows it at apply time, the rehearsal from its stand-in). A grant on a
    resource of each pipeline's own is one binding per pipeline."""
    found: list[Binding] = []
    for grant in GRANTS:
        if not applies(grant, config):
            continue
        who = member(config, grant.account, project_number)
        pipelines = sorted(config.pipelines) if grant.on.per_pipeline else [None]
        found += [bind(config, grant, who, pipeline) for pipeline in pipelines]
    return found
