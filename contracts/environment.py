"""The environment configuration schema.

Every value a runner, CI step or infra stack needs about an environment lives here, validated once.
Unknown keys are rejected so a typo cannot silently fall back to a default.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.data_layout import AREAS, Area, join
from contracts.engines import Dataflow, VertexTraining
from contracts.metrics import Direction, GateMetric, gate_metric
from contracts.parameters import LEARNING_RATE, NUM_EPOCHS, WINDOW_SPANS
from contracts.regions import check_region
from contracts.trigger_message import PIPELINE_PATTERN, MessageError, parse_message

REPO_ROOT = Path(__file__).resolve().parents[1]

_PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,28}[a-z0-9]$")
_NAME = r"^[a-z][a-z0-9-]{0,20}[a-z0-9]$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Training(_Strict):
    """Default hyperparameters for runs that do not set their own, and the rolling window they train on."""

    num_epochs: int = Field(int(NUM_EPOCHS.default), ge=NUM_EPOCHS.minimum, le=NUM_EPOCHS.maximum)
    learning_rate: float = Field(
        float(LEARNING_RATE.default), gt=LEARNING_RATE.minimum, le=LEARNING_RATE.maximum, allow_inf_nan=False
    )
    # A run of spans 0..0 (and the data check's run) trains on the newest `window_spans` spans; fixed when
    # the pipeline is compiled, like the evaluation thresholds.
    window_spans: int = Field(int(WINDOW_SPANS.default), ge=WINDOW_SPANS.minimum, le=WINDOW_SPANS.maximum)


class Evaluation(_Strict):
    """The release gate the Evaluator applies, named: which metric, which way is better, how good a candidate must
    be (the absolute bound) and how much worse than the champion it may be (the allowed regression).

    `metric` is one of contracts/metrics.py's gate metrics (TFMA class names), and `direction` must be the one in
    which that metric is better: a file that says "lower" for an accuracy stops at load instead of blessing the
    worst model.
    """

    metric: str
    direction: Direction
    # higher is better: a candidate must reach at least `bound`; lower: at most `bound`.
    bound: float = Field(allow_inf_nan=False)
    # How much worse than the current champion a candidate may be and still be blessed (0: no worse at all).
    max_regression: float = Field(ge=0.0, allow_inf_nan=False)

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str) -> str:
        gate_metric(value)
        return value

    @model_validator(mode="after")
    def _direction_of_the_metric(self) -> Evaluation:
        natural = self.gate.direction
        if self.direction != natural:
            raise ValueError(
                f"direction: {self.metric} is better when {natural}, not {self.direction} (direction: {natural})"
            )
        if self.gate.task == "classification" and not 0.0 <= self.bound <= 1.0:
            raise ValueError(f"bound: {self.metric} is a fraction; {self.bound:g} is outside [0, 1]")
        if self.gate.task == "regression" and self.bound < 0.0:
            raise ValueError(f"bound: {self.metric} is never negative; {self.bound:g} would bless nothing")
        return self

    @property
    def gate(self) -> GateMetric:
        return gate_metric(self.metric)


class Data(_Strict):
    """The new-data check: when a batch of incoming labelled records is enough, and when it retrains."""

    # Fewer valid records than this: the check reports how many wait and leaves them in incoming/.
    min_new_records: int = Field(50, ge=1, le=100_000_000)
    # Retrain when the champion's gate metric (evaluation.metric) on the batch is worse than this: below it when
    # higher is better, above it when lower is; None: evaluation.bound.
    retrain_bound: float | None = Field(None, allow_inf_nan=False)
    # on-threshold: only when worse than retrain_bound (or with no champion yet); always: every batch trains.
    retrain: Literal["on-threshold", "always"] = "on-threshold"
    # Also retrain when the monitor flagged drift (or too many refused requests) in a window the champion served
    # (its latest report under monitoring/ in the data area): the batch's new span is the data to catch up with.
    retrain_on_drift: bool = False
    # Google Cloud: when a Cloud Scheduler job starts the check (the `datacheck` build); None: by hand only.
    schedule: DataSchedule | None = None


# A Compute Engine machine type as Vertex prediction names it (n1-standard-2, e2-standard-4, g2-standard-8).
_MACHINE_TYPE = r"^[a-z][a-z0-9]*-[a-z0-9]+(-[a-z0-9]+)*$"


class Serving(_Strict):
    """How the champion is served on a Vertex AI endpoint (Google Cloud only; locally `nox -s serve`)."""

    machine_type: str = Field("n1-standard-2", pattern=_MACHINE_TYPE)
    min_replicas: int = Field(1, ge=1, le=100)
    max_replicas: int = Field(1, ge=1, le=100)
    # How long a deploy may take before the move is given up (both the alias and the traffic stay put).
    deploy_timeout_seconds: int = Field(1200, ge=60, le=2700)

    @model_validator(mode="after")
    def _replicas(self) -> Serving:
        if self.max_replicas < self.min_replicas:
            raise ValueError(f"max_replicas {self.max_replicas} is below min_replicas {self.min_replicas}")
        return self


class Canary(_Strict):
    """How a canary is rolled out and judged (`release.canary`): the candidate serves `percent` of the traffic
    beside the champion for `bake_minutes`; then the monitor compares the two on the requests each answered
    since the canary started, and promotes the candidate or rolls it back on its own."""

    # Every promotion starts as a canary of this share (auto-promotion too); None: promotions take all the
    # traffic at once unless `models promote V --canary PERCENT` asks for one.
    percent: int | None = Field(None, ge=1, le=99)
    bake_minutes: int = Field(60, ge=1, le=10_080)
    # Each side needs this many logged requests before anything is decided; fewer: the canary keeps baking.
    min_requests: int = Field(100, ge=1, le=100_000_000)
    # Roll back when the candidate's share of refused or failed requests is this much above the champion's.
    max_error_rate_increase: float = Field(0.02, ge=0.0, le=1.0)
    # Roll back when the candidate's p99 latency is above the champion's times this (local: the log has latency)
    # and by at least min_p99_increase_ms: a few milliseconds either way is a busy machine's noise, not the model.
    max_p99_ratio: float = Field(1.5, ge=1.0, le=100.0)
    min_p99_increase_ms: float = Field(10.0, ge=0.0, le=60_000.0)
    # Roll back when the candidate's predictions differ from the champion's on the same traffic by more than
    # this (L-infinity of the predicted classes, Jensen-Shannon of predicted values: TFDV's comparators).
    max_prediction_distance: float = Field(0.2, gt=0.0, le=1.0)


class Release(_Strict):
    """How a blessed model version becomes the champion that serves."""

    # True: at once, after its smoke test (local, dev). False: `models promote --approve NAME` (prod). Unset
    # means False, so a file that forgets it needs an approval rather than releasing silently.
    auto_promote: bool = False
    # When the model tests change and the champion fails them (the `model-tests` route): report it (the build
    # fails), or also roll it back to the champion before it if that one passes them. Unset means report.
    on_failed_model_tests: Literal["report", "rollback"] = "report"
    serving: Serving = Serving()
    canary: Canary = Canary()


class LocalPaths(_Strict):
    """Where the local environment keeps its state: everything under one root folder."""

    root: Path

    @property
    def pipeline_root(self) -> Path:
        return self.root / "pipeline-root"

    @property
    def metadata_path(self) -> Path:
        return self.root / "metadata" / "metadata.sqlite"

    @property
    def registry(self) -> Path:
        return self.root / "registry"

    @property
    def data(self) -> Path:
        return self.root / "data"

    def data_root(self, dataset: str) -> Path:
        """A dataset's local data area: <root>/data/<dataset> (its layout: contracts/data_layout.py)."""
        return self.data / dataset

    @property
    def published(self) -> Path:
        """The local artifacts store: what `publish` uploads to the artifacts bucket on Google Cloud."""
        return self.root / "published"

    @property
    def staged(self) -> Path:
        """Content-addressed copies of modules and schema that runs reference."""
        return self.root / "staged"

    def predictions(self, pipeline: str) -> Path:
        """A pipeline's local prediction log (contracts/prediction_log.py): <root>/predictions/<pipeline>."""
        return self.root / "predictions" / pipeline


class Local(_Strict):
    # Relative paths are resolved against the repository root.
    root: Path = Path(".local")


_BUCKET = r"^[a-z0-9][a-z0-9._-]{1,61}[a-z0-9]$"
_EMAIL = r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$"
_SHA256 = r"^[0-9a-f]{64}$"
# An image reference pinned by a tag other than `latest`, or by digest.
_PINNED_IMAGE = re.compile(r"^[a-z0-9][a-z0-9._/-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}|@sha256:[0-9a-f]{64})$")


class CloudBuild(_Strict):
    """The Cloud Build triggers: the 2nd-gen GitHub connection they listen on, and whether builds need approval.

    The connection and its repository link are created once by a platform engineer (they hold a GitHub token in
    Secret Manager, which infra never sees); infra/README.md says how.
    """

    connection: str = Field("github", pattern=_NAME)
    # The repository's name in the connection (`gcloud builds repositories create NAME`).
    repository: str = Field("penguins-cicd", pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
    # An RE2 regex on the branch name: pushes to matching branches fire the triggers.
    branch: str = Field("^main$", min_length=1)
    # Builds wait for a person with roles/cloudbuild.builds.approver before they run (true in prod).
    require_approval: bool = False


class TriggerFunction(_Strict):
    """The trigger Cloud Function's runtime settings."""

    memory_mib: int = Field(512, ge=128, le=32768)
    max_instances: int = Field(3, ge=1, le=100)
    timeout_seconds: int = Field(120, ge=1, le=540)


class Monitoring(_Strict):
    """Where alerts go: failed pipeline runs, failed function executions, dead-lettered messages."""

    # None: the alert policies exist (visible in the console) but notify nobody.
    alert_email: str | None = Field(None, pattern=_EMAIL)


def pipeline_kind(pipeline: str, kind: str) -> str:
    """The naming rule's kind of a resource one pipeline has of its own, <pipeline>-<kind> (Gcp.name prefixes
    it: <name_prefix>-<pipeline>-<kind>); ci.routing.trigger_kind states the same rule for build triggers."""
    return f"{pipeline}-{kind}"


class Gcp(_Strict):
    project: str
    region: str
    name_prefix: str = Field(pattern=_NAME)
    # The environment whose published templates, wheels and pipeline image this one runs (its artifacts bucket
    # and images repository: the release store); None: its own. prod runs what dev published and tested.
    releases_from: str | None = Field(None, pattern=_NAME)
    # VPC network for pipeline jobs (projects/<number>/global/networks/<name>); none: Google's default.
    network: str | None = None
    # The Terraform state bucket, created before the first deploy (infra/README.md); default: <prefix>-tfstate.
    state_bucket: str | None = Field(None, pattern=_BUCKET)
    ci: CloudBuild = CloudBuild()
    trigger: TriggerFunction = TriggerFunction()
    monitoring: Monitoring = Monitoring()
    # Where the Trainer and the Beam components run (contracts/engines.py); by default inside their steps.
    training: VertexTraining = VertexTraining()
    dataflow: Dataflow = Dataflow()

    # An explicit override of the container Vertex serves versions with, by tag or digest, never `latest`.
    # Unset (the default): the run's own pipeline image by digest, the TensorFlow that trained the model,
    # running the project's prediction server (`python -m serving --vertex`). Vertex's prebuilt TensorFlow
    # images stop at 2.15 and TF Serving as a custom container serves the tf.Example signature by default.
    serving_image: str | None = None

    def name(self, kind: str) -> str:
        """The one naming rule for every resource: <name_prefix>-<kind>, e.g. penguins-dev-artifacts."""
        return f"{self.name_prefix}-{kind}"

    def pipeline_resource(self, pipeline: str, kind: str) -> str:
        """The naming rule of a resource one pipeline has of its own: <name_prefix>-<pipeline>-<kind>, e.g. the
        penguins pipeline's `full` trigger in dev, penguins-dev-penguins-full (at most 22+1+20+1+11 characters:
        within Cloud Build's 64 for a trigger)."""
        return self.name(pipeline_kind(pipeline, kind))

    def role_id(self, kind: str) -> str:
        """A custom IAM role's id: the naming rule with underscores (role ids allow no hyphens)."""
        return self.name(kind).replace("-", "_")

    def model_name(self, pipeline: str) -> str:
        """The pipeline's Vertex AI registry model (its id and display name): <prefix>-<pipeline>-model. Each
        pipeline has its own, with its own versions and champion."""
        return self.pipeline_resource(pipeline, "model")

    def endpoint_id(self, pipeline: str) -> str:
        """The pipeline's Vertex AI endpoint's id, derived from its name, <prefix>-<pipeline>-endpoint (Vertex
        wants at most 10 digits, no leading zero).

        Derived, not random: infra creates the endpoint under this id and the release path finds it by it.
        """
        number = int(hashlib.sha256(self.pipeline_resource(pipeline, "endpoint").encode()).hexdigest(), 16)
        return str(1_000_000_000 + number % 9_000_000_000)

    def endpoint(self, pipeline: str) -> str:
        """The pipeline's endpoint: projects/<project>/locations/<region>/endpoints/<endpoint_id>."""
        return f"projects/{self.project}/locations/{self.region}/endpoints/{self.endpoint_id(pipeline)}"

    @property
    def prediction_log_dataset(self) -> str:
        """The BigQuery dataset of the endpoints' request-response logs: the naming rule with underscores
        (<prefix>_predictions; dataset ids allow no hyphens)."""
        return self.role_id("predictions")

    def prediction_log_table(self, pipeline: str) -> str:
        """The pipeline's request-response log, <project>.<dataset>.<pipeline>_requests (contracts/prediction_log.py:
        the endpoint's logging writes it, the monitor reads it)."""
        return f"{self.project}.{self.prediction_log_dataset}.{pipeline}_requests"

    @property
    def serving_service_account(self) -> str:
        """The account the served container runs as (created by infra under the naming rule)."""
        return f"{self.name('serving')}@{self.project}.iam.gserviceaccount.com"

    def bucket_uri(self, kind: str) -> str:
        return f"gs://{self.name(kind)}"

    def pipeline_root(self, pipeline_name: str) -> str:
        """Where Vertex runs of `pipeline_name` keep their artifacts: gs://<prefix>-pipeline-root/<pipeline_name>.

        The one rule: runs submitted from CI (release/vertex.py) and by the trigger function (its PIPELINE_ROOT,
        set by infra) write to the same root, so their artifacts and cache are shared.
        """
        return f"{self.bucket_uri('pipeline-root')}/{pipeline_name}"

    @property
    def pipeline_service_account(self) -> str:
        """The account Vertex runs pipelines as (created by infra under the naming rule)."""
        return f"{self.name('pipeline')}@{self.project}.iam.gserviceaccount.com"

    @property
    def dataflow_service_account(self) -> str:
        """The account Dataflow workers run as (created by infra under the naming rule)."""
        return f"{self.name('dataflow')}@{self.project}.iam.gserviceaccount.com"

    @property
    def dataflow_region(self) -> str:
        return self.dataflow.region or self.region

    @property
    def terraform_state_bucket(self) -> str:
        return self.state_bucket or self.name("tfstate")

    @field_validator("serving_image")
    @classmethod
    def _serving_image(cls, value: str | None) -> str | None:
        if value is not None and (not _PINNED_IMAGE.match(value) or value.endswith(":latest")):
            raise ValueError(f"{value!r}: pin the serving image by a version tag or a digest (never `latest`)")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        return check_region(value)

    @model_validator(mode="after")
    def _check_project(self) -> Gcp:
        if not _PROJECT_ID.match(self.project):
            raise ValueError(
                f"project {self.project!r} is not a Google Cloud project id "
                "(6-30 lowercase letters, digits or hyphens, starting with a letter)"
            )
        # Service account ids are 6-30 characters and infra names them <prefix>-<account>: the longest accounts
        # are 'scheduler' and 'datacheck' (ci, pipeline, trigger, dataflow, serving are shorter; infra/access.py).
        if len(self.name("scheduler")) > 30:
            raise ValueError(
                f"name_prefix {self.name_prefix!r} is too long: service account ids "
                f"(e.g. {self.name('scheduler')!r}) must be at most 30 characters; use at most 20"
            )
        return self

    @model_validator(mode="after")
    def _subnetwork_in_the_dataflow_region(self) -> Gcp:
        region = self.dataflow.subnetwork_region()
        if region is not None and region != self.dataflow_region:
            raise ValueError(
                f"dataflow.subnetwork is in {region!r}, but Dataflow runs in {self.dataflow_region!r} "
                "(dataflow.region, default gcp.region): workers can only use a subnetwork of their region"
            )
        return self


# unix-cron as Cloud Scheduler reads it: five fields of numbers, ranges, steps, lists or names.
_CRON_FIELD = re.compile(r"^(\*|[0-9a-z]+(-[0-9a-z]+)?)(/[0-9]+)?(,(\*|[0-9a-z]+(-[0-9a-z]+)?)(/[0-9]+)?)*$")


class CronSchedule(_Strict):
    """When a Cloud Scheduler job runs: a unix-cron expression in an IANA time zone."""

    cron: str
    time_zone: str = "Etc/UTC"

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        fields = value.lower().split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
            raise ValueError(f"{value!r} is not a unix-cron expression (minute hour day-of-month month day-of-week)")
        return value

    @field_validator("time_zone")
    @classmethod
    def _time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Amsterdam)") from err
        return value


class Schedule(CronSchedule):
    """A Cloud Scheduler job that publishes `payload` (a TriggerMessage) to the trigger topic."""

    name: str = Field(pattern=_NAME)
    payload: dict[str, Any]

    @field_validator("payload")
    @classmethod
    def _payload(cls, value: dict[str, Any]) -> dict[str, Any]:
        # The same schema the function applies: an invalid schedule fails here, not in production.
        try:
            parse_message(value)
        except MessageError as err:
            raise ValueError(f"not a valid TriggerMessage: {err}") from err
        return value


class DataSchedule(CronSchedule):
    """When the data check runs on Google Cloud (data.schedule)."""


# The Cloud Scheduler jobs the project makes of data.schedule and monitoring.schedule: a pipeline's own
# schedules may not take their names (<prefix>-<pipeline>-schedule-<name> would clash).
BUILT_IN_SCHEDULES = ("datacheck", "monitor")
# The metric a decided monitor window writes on Google Cloud (1 flagged, 0 not; labels pipeline, environment),
# and infra's drift alert policy watches.
DRIFT_METRIC = "custom.googleapis.com/ml_monitor/flagged"


class MonitorSchedule(CronSchedule):
    """When the monitor runs on Google Cloud (monitoring.schedule)."""


class Drift(_Strict):
    """How far the served requests of a window may drift from the champion's training data, per feature.

    TFDV's comparators: Jensen-Shannon divergence for numeric features, L-infinity distance for categorical ones
    (both 0..1). `features` sets a feature's own threshold (a name the pipeline's schema has; the monitor refuses
    an unknown one); the rest take the default of their kind.
    """

    numeric_threshold: float = Field(0.1, gt=0.0, le=1.0)
    categorical_threshold: float = Field(0.1, gt=0.0, le=1.0)
    features: dict[str, float] = {}
    # The predicted classes (L-infinity) or values (Jensen-Shannon) against the training labels.
    prediction_threshold: float = Field(0.1, gt=0.0, le=1.0)
    # The share of requests the server refused as not matching the schema beyond which the window is flagged.
    max_rejected_rate: float = Field(0.05, ge=0.0, le=1.0)

    @field_validator("features")
    @classmethod
    def _feature_thresholds(cls, value: dict[str, float]) -> dict[str, float]:
        bad = {name: t for name, t in value.items() if not 0.0 < t <= 1.0}
        if bad:
            raise ValueError(f"features: thresholds are in (0, 1], got {bad}")
        return value


class Watch(_Strict):
    """Watching the served champion (`pipelines.<name>.monitoring`): what is logged, and what the monitor
    (`nox -s monitor`) compares and does."""

    # The share of prediction requests logged with their answers: locally to <local root>/predictions/<pipeline>/,
    # on Google Cloud by the endpoint's request-response logging into BigQuery. 0 turns logging off.
    log_sample_rate: float = Field(1.0, ge=0.0, le=1.0)
    # Google Cloud: how long the BigQuery log keeps a day's requests: the longest of the environment's pipelines
    # is the dataset's default partition expiration, which applies to partitioned tables created after it is set
    # (the endpoint creates its table; whether partitioned could not be checked offline).
    log_retention_days: int = Field(30, ge=1, le=3650)
    # The monitor's window: the requests of the last `window_minutes` (windows are aligned to multiples of it).
    window_minutes: int = Field(60, ge=1, le=44_640)
    # A window with fewer logged requests says so and decides nothing.
    min_requests: int = Field(100, ge=1, le=100_000_000)
    drift: Drift = Drift()
    # What a flagged window does: report (the report only), alert (also a Cloud Monitoring alert on Google
    # Cloud, exit status 1 locally), retrain (also one retraining run per window, source: monitoring).
    action: Literal["report", "alert", "retrain"] = "alert"
    # Google Cloud: when a Cloud Scheduler job runs the monitor (the `monitor` build); None: by hand only.
    schedule: MonitorSchedule | None = None


# A pipeline's name: its folder under pipelines/ and a part of every per-pipeline resource name (the naming rule:
# `EnvironmentConfig.pipeline_name`); the trigger message's contract, which names one too, holds the rule.
PIPELINE_NAME = PIPELINE_PATTERN


class PipelineChoiceError(ValueError):
    """A command needs one pipeline and the environment has several, or not that one: the message lists them."""


class PipelineSettings(_Strict):
    """One pipeline's settings in an environment (`pipelines: {<name>: ...}` in envs/<env>.yaml)."""

    training: Training = Training()
    evaluation: Evaluation
    data: Data = Data()
    monitoring: Watch = Watch()
    schedules: list[Schedule] = []
    # Google Cloud: an explicit pin, the published template (templates/<sha256>/pipeline.json in the release store)
    # every run of this pipeline in this environment submits. None: the current-template pointer CI moves after
    # each submitted run (templates/current/<pipeline>.json).
    template_sha256: str | None = Field(None, pattern=_SHA256)

    @model_validator(mode="after")
    def _unique_schedules(self) -> PipelineSettings:
        names = [s.name for s in self.schedules]
        if len(names) != len(set(names)):
            raise ValueError(f"schedules: names must be unique, got {names}")
        taken = sorted(set(names) & set(BUILT_IN_SCHEDULES))
        if taken:
            raise ValueError(
                f"schedules: {', '.join(taken)} names a built-in schedule's job (<prefix>-<pipeline>-schedule-<name>: "
                "data.schedule, monitoring.schedule); choose another name"
            )
        return self

    @model_validator(mode="after")
    def _retrain_bound_of_the_gate_metric(self) -> PipelineSettings:
        bound, gate = self.data.retrain_bound, self.evaluation.gate
        if bound is not None and (bound < 0.0 or (gate.task == "classification" and bound > 1.0)):
            raise ValueError(f"data.retrain_bound: {bound:g} is not a value {gate.name} takes")
        return self

    @property
    def retrain_bound(self) -> float:
        """The gate metric's value beyond which the data check retrains: data.retrain_bound, else evaluation.bound."""
        return self.evaluation.bound if self.data.retrain_bound is None else self.data.retrain_bound


class EnvironmentConfig(_Strict):
    """An environment: what its pipelines share (backend, release policy, local folders or the Google Cloud
    project) and each pipeline's own settings.

    A config is *for* one pipeline when `pipeline` names it (`for_pipeline`), or when the environment has only
    one: then `training`, `evaluation`, `data` and `schedules` are that pipeline's, and `pipeline_name` is its
    name by the naming rule. Asked of an environment with several pipelines and none chosen, they raise
    PipelineChoiceError listing them.
    """

    name: Literal["local", "dev", "prod"]
    backend: Literal["local", "vertex"]
    release: Release = Release()
    local: Local | None = None
    gcp: Gcp | None = None
    pipelines: dict[str, PipelineSettings] = Field(min_length=1)
    # The pipeline this config is for (set by `for_pipeline`; the environment files do not say it).
    pipeline: str | None = None

    @field_validator("pipelines")
    @classmethod
    def _pipeline_names(cls, value: dict[str, PipelineSettings]) -> dict[str, PipelineSettings]:
        bad = [name for name in value if not re.match(PIPELINE_NAME, name)]
        if bad:
            raise ValueError(f"pipeline names {bad}: lowercase letters and digits, 2-20, starting with a letter")
        return value

    @model_validator(mode="after")
    def _chosen_pipeline_exists(self) -> EnvironmentConfig:
        if self.pipeline is not None and self.pipeline not in self.pipelines:
            raise ValueError(f"pipeline {self.pipeline!r} is not one of {', '.join(sorted(self.pipelines))}")
        return self

    def for_pipeline(self, pipeline: str) -> EnvironmentConfig:
        """This environment, for `pipeline`; PipelineChoiceError naming the environment's pipelines if unknown."""
        if pipeline not in self.pipelines:
            raise PipelineChoiceError(
                f"environment '{self.name}' has no pipeline {pipeline!r}; "
                f"its pipelines: {', '.join(sorted(self.pipelines))}"
            )
        return self.model_copy(update={"pipeline": pipeline})

    def with_settings(self, **sections: Any) -> EnvironmentConfig:
        """This config with sections of its pipeline's settings replaced (e.g. training=..., data=...)."""
        settings = self.settings.model_copy(update=sections)
        return self.model_copy(
            update={"pipelines": {**self.pipelines, self.selected: settings}, "pipeline": self.selected}
        )

    def each_pipeline(self) -> list[EnvironmentConfig]:
        """This environment for each of its pipelines, by name."""
        return [self.for_pipeline(name) for name in sorted(self.pipelines)]

    @property
    def selected(self) -> str:
        """The pipeline this config is for; PipelineChoiceError listing them when there are several to choose from."""
        if self.pipeline is not None:
            return self.pipeline
        if len(self.pipelines) == 1:
            return next(iter(self.pipelines))
        raise PipelineChoiceError(
            f"environment '{self.name}' has {len(self.pipelines)} pipelines ({', '.join(sorted(self.pipelines))}): "
            "name one (--pipeline NAME)"
        )

    @property
    def settings(self) -> PipelineSettings:
        return self.pipelines[self.selected]

    @property
    def pipeline_name(self) -> str:
        """The naming rule of a pipeline's runs: <pipeline>-<environment>, e.g. penguins-dev (job ids, the folder
        of its pipeline root, the local registry's model)."""
        return f"{self.selected}-{self.name}"

    @property
    def dataset(self) -> str:
        """The pipeline's data: its folder's shipped spans and its data area, <data>/<pipeline>."""
        return self.selected

    @property
    def training(self) -> Training:
        return self.settings.training

    @property
    def evaluation(self) -> Evaluation:
        return self.settings.evaluation

    @property
    def data(self) -> Data:
        return self.settings.data

    @property
    def schedules(self) -> list[Schedule]:
        return self.settings.schedules

    @property
    def monitoring(self) -> Watch:
        return self.settings.monitoring

    @model_validator(mode="after")
    def _auto_promotion_is_not_approval_gated(self) -> EnvironmentConfig:
        # Auto-promotion is a build nobody approves (infra's autopromote trigger): an environment whose builds
        # wait for an approver would otherwise release models unapproved.
        if self.release.auto_promote and self.gcp is not None and self.gcp.ci.require_approval:
            raise ValueError(
                "release.auto_promote: true promotes without an approver, but gcp.ci.require_approval: true gates "
                "every build on one; set auto_promote: false (promotion then waits for an approval)"
            )
        return self

    @model_validator(mode="after")
    def _schedules_are_their_pipelines(self) -> EnvironmentConfig:
        # A schedule's message names its pipeline when sent (infra/parts/scheduler.py); a payload that names
        # another would be refused by the function on every run.
        for name, settings in self.pipelines.items():
            for schedule in settings.schedules:
                named = schedule.payload.get("pipeline")
                if named is not None and named != name:
                    raise ValueError(
                        f"pipelines.{name}.schedules.{schedule.name}.payload.pipeline: {named!r}, but the schedule is "
                        f"{name}'s (leave it out: the message names its own pipeline)"
                    )
        return self

    @model_validator(mode="after")
    def _pins_need_a_release_store(self) -> EnvironmentConfig:
        # A pin names a published template in the artifacts bucket of a Google Cloud environment (or of the one
        # it releases from); the local environment has no such store to take it from.
        if self.gcp is None:
            for name, settings in self.pipelines.items():
                if settings.template_sha256 is not None:
                    raise ValueError(
                        f"pipelines.{name}.template_sha256: a pin names a template in a Google Cloud release store; "
                        f"environment '{self.name}' has no gcp section"
                    )
        return self

    @model_validator(mode="after")
    def _backend_has_settings(self) -> EnvironmentConfig:
        if self.backend == "local" and self.local is None:
            raise ValueError("backend 'local' needs a 'local' section")
        if self.backend == "vertex" and self.gcp is None:
            raise ValueError("backend 'vertex' needs a 'gcp' section")
        return self

    def location(self, kind: Literal["artifacts", "pipeline-root", "data"]) -> str:
        """Where runs of this environment keep `kind`: its bucket (gs://<prefix>-<kind>) or its local folder.

        The artifacts store of the local environment is its published folder, the local stand-in for the bucket.
        """
        if self.gcp is not None:
            return self.gcp.bucket_uri(kind)
        paths = self.local_paths()
        return str({"artifacts": paths.published, "pipeline-root": paths.pipeline_root, "data": paths.data}[kind])

    def data_root(self, local_root: Path | None = None) -> str:
        """The dataset's data area: gs://<prefix>-data/<dataset> on Google Cloud, <local root>/data/<dataset>
        locally (`local_root` overrides the file's). Its layout (spans, incoming/, ...): contracts/data_layout.py."""
        if self.gcp is not None:
            return f"{self.location('data')}/{self.dataset}"
        return str(self.local_paths(local_root).data_root(self.dataset))

    def data_area(self, area: Area, local_root: Path | None = None) -> str:
        """One of the data check's areas of the dataset (contracts/data_layout.py): <data root>/<area>."""
        if area not in AREAS:
            raise ValueError(f"no data area {area!r}: one of {', '.join(AREAS)}")
        return join(self.data_root(local_root), area)

    @property
    def retrain_bound(self) -> float:
        """The gate metric's value beyond which the data check retrains: data.retrain_bound, else evaluation.bound."""
        return self.settings.retrain_bound

    def pipeline_root(self) -> str:
        """The pipeline root of this environment's compiled runs: Gcp.pipeline_root, or the local folder's."""
        if self.gcp is not None:
            return self.gcp.pipeline_root(self.pipeline_name)
        return f"{self.location('pipeline-root')}/{self.pipeline_name}"

    def local_paths(self, root_override: Path | None = None) -> LocalPaths:
        """The local state folders; `root_override` (e.g. from --local-root) wins over the file."""
        root = root_override or (self.local.root if self.local else Local().root)
        if not root.is_absolute():
            root = REPO_ROOT / root
        return LocalPaths(root=root.resolve())
