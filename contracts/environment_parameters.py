"""What an environment gives the one compiled template when a run is submitted: its runtime parameter values.

One template serves every cloud environment. The compile fixes only *what* runs (the DAG, the pipeline image,
the module wheels and the schema in the release store); everything that differs between environments reaches
the template at submit time, as these runtime parameters (and the pipeline root, a PipelineJob field):

    data_root           WindowExampleGen's input_base and RegistryPush's data_root: <data>/<dataset>
    window_spans        SpanRangeGen's rolling window
    gate_metric         the metric the Evaluator gates on     }
    gate_direction      which way it is better (higher/lower) } components/champion_evaluator.py builds its
    gate_bound          the absolute bound                    } eval_config's thresholds from these
    gate_max_regression the allowed regression to the champion}
    registry            RegistryPush's registry (the RegistryTarget as JSON)
    baseline_model      the champion the gate compares against, resolved per run ("" = no champion yet)
    training_config     Vertex AI Training's custom_config, as JSON (the image is the template's own)
    dataflow_*          the Dataflow arguments of the Beam components (`{{$.inputs.parameters[...]}}`
                        placeholders in their container args)

Every submitter uses these functions: release/vertex.py (submit, the data check), the trigger function (infra
passes it `environment_values` as JSON, computed by infra/parts/trigger.py) and local runs (pipelines/local.py).

Some settings shape the DAG itself (the Trainer on Vertex AI Training, Beam on Dataflow and with or without
public IPs): environments that run one template must agree on them (`TemplateShape`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.environment import EnvironmentConfig
from contracts.parameters import WINDOW_SPANS
from contracts.registry import CHAMPION, Registry, RegistryError, baseline_uri, registry_target
from contracts.run_request import Baseline

ParameterValue = str | int | float

DATA_ROOT = "data_root"
GATE_METRIC = "gate_metric"
GATE_DIRECTION = "gate_direction"
GATE_BOUND = "gate_bound"
GATE_MAX_REGRESSION = "gate_max_regression"
WINDOW = WINDOW_SPANS.name
REGISTRY = "registry"
BASELINE_MODEL = "baseline_model"
TRAINING_CONFIG = "training_config"
# The Dataflow arguments that differ per environment, and the parameter that carries each one's value. Empty
# values are allowed (no network): Beam then leaves the option unset.
DATAFLOW_ARGUMENTS = (
    ("--project", "dataflow_project"),
    ("--region", "dataflow_region"),
    ("--temp_location", "dataflow_temp_location"),
    ("--service_account_email", "dataflow_service_account"),
    ("--machine_type", "dataflow_machine_type"),
    ("--max_num_workers", "dataflow_max_workers"),
    ("--network", "dataflow_network"),
    ("--subnetwork", "dataflow_subnetwork"),
)
# The keys of TFX's Vertex AI Training extension (tfx.extensions.google_cloud_ai_platform.constants), spelled
# here because infra and the function cannot import TFX; a test holds them equal.
ENABLE_VERTEX_KEY = "ai_platform_enable_vertex"
VERTEX_REGION_KEY = "ai_platform_vertex_region"
TRAINING_ARGS_KEY = "ai_platform_training_args"


@dataclass(frozen=True)
class TemplateShape:
    """What a template's DAG fixes about the engines: every environment that runs it must say the same."""

    vertex_training: bool = False
    dataflow: bool = False
    dataflow_public_ips: bool = False

    def parameter_types(self) -> dict[str, type]:
        """The environment parameters a template of this shape declares, with their types."""
        types: dict[str, type] = {
            DATA_ROOT: str,
            WINDOW: int,
            GATE_METRIC: str,
            GATE_DIRECTION: str,
            GATE_BOUND: float,
            GATE_MAX_REGRESSION: float,
            REGISTRY: str,
            BASELINE_MODEL: str,
        }
        if self.vertex_training:
            types[TRAINING_CONFIG] = str
        if self.dataflow:
            types.update({name: str for _, name in DATAFLOW_ARGUMENTS})
        return types


def template_shape(config: EnvironmentConfig) -> TemplateShape:
    gcp = config.gcp
    if gcp is None:
        return TemplateShape()
    dataflow = gcp.dataflow.enabled
    return TemplateShape(gcp.training.on_vertex, dataflow, dataflow and gcp.dataflow.use_public_ips)


def shape_differences(reference: EnvironmentConfig, other: EnvironmentConfig) -> list[str]:
    """The settings in which `other` would need another template than `reference`, named by their fields."""
    fields = {
        "vertex_training": "gcp.training.engine",
        "dataflow": "gcp.dataflow.enabled",
        "dataflow_public_ips": "gcp.dataflow.use_public_ips",
    }
    mine, theirs = template_shape(reference), template_shape(other)
    return [
        f"{field} ({reference.name}: {getattr(mine, key)}, {other.name}: {getattr(theirs, key)})"
        for key, field in fields.items()
        if getattr(mine, key) != getattr(theirs, key)
    ]


def placeholder(name: str) -> str:
    """A KFP placeholder for an input parameter, as a container argument (or part of one) refers to it."""
    return f"{{{{$.inputs.parameters['{name}']}}}}"


def environment_values(config: EnvironmentConfig, local_root: Path | None = None) -> dict[str, ParameterValue]:
    """Every environment parameter the environment file fixes: all but `baseline_model`, which is per run.

    `local_root` (a local environment only) overrides the file's local root, as --local-root does.
    """
    values: dict[str, ParameterValue] = {
        DATA_ROOT: config.data_root(local_root),
        WINDOW: config.training.window_spans,
        GATE_METRIC: config.evaluation.metric,
        GATE_DIRECTION: config.evaluation.direction,
        GATE_BOUND: config.evaluation.bound,
        GATE_MAX_REGRESSION: config.evaluation.max_regression,
        REGISTRY: registry_target(config, local_root).model_dump_json(),
    }
    training = training_config(config)
    if training is not None:
        values[TRAINING_CONFIG] = json.dumps(training, sort_keys=True)
    values.update(dataflow_values(config))
    return values


def environment_parameters(
    config: EnvironmentConfig, *, baseline_model: str, local_root: Path | None = None
) -> dict[str, ParameterValue]:
    """The environment parameters of one run: the file's values and the baseline (the champion's URI, or "")."""
    return with_baseline(environment_values(config, local_root), baseline_model)


def with_baseline(values: dict[str, ParameterValue], baseline_model: str) -> dict[str, ParameterValue]:
    """`values` (from `environment_values`) with the run's baseline; ValueError if they are not such values."""
    check_environment_values(values)
    if not isinstance(baseline_model, str):
        raise ValueError(f"{BASELINE_MODEL}: expected a URI string or '', got {baseline_model!r}")
    return {**values, BASELINE_MODEL: baseline_model}


def check_environment_values(values: Any) -> dict[str, ParameterValue]:
    """`values` if they are the environment values of some template shape, else ValueError naming the problem."""
    if not isinstance(values, dict):
        raise ValueError(f"expected a JSON object of environment parameters, got {type(values).__name__}")
    shape = TemplateShape(
        vertex_training=TRAINING_CONFIG in values,
        dataflow=any(name in values for _, name in DATAFLOW_ARGUMENTS),
    )
    expected = {name: kind for name, kind in shape.parameter_types().items() if name != BASELINE_MODEL}
    missing, unknown = sorted(set(expected) - set(values)), sorted(set(values) - set(expected))
    if missing or unknown:
        problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unknown {', '.join(unknown)}"] if unknown else []
        )
        raise ValueError(f"environment parameters: {'; '.join(problems)}")
    for name, kind in expected.items():
        value = values[name]
        good = isinstance(value, (int, float)) if kind is float else isinstance(value, kind)
        if isinstance(value, bool) or not good:
            raise ValueError(f"environment parameter {name}: expected {kind.__name__}, got {value!r}")
    return values


def champion_baseline(registry: Registry) -> Baseline:
    """The registry's champion as a run's baseline (its Model artifact root), or none when there is no champion.

    RegistryError naming the version if its copy is not a model root (registered before the registry kept them).
    """
    version = registry.alias_version(CHAMPION)
    if version is None:
        return Baseline()
    try:
        return Baseline(version, baseline_uri(registry.get(version)))
    except ValueError as err:
        raise RegistryError(f"champion {version} cannot be a baseline: {err}") from None


def training_config(config: EnvironmentConfig) -> dict[str, Any] | None:
    """The Trainer's custom_config for Vertex AI Training (without the image), or None: it trains in its step."""
    gcp = config.gcp
    if gcp is None or not gcp.training.on_vertex:
        return None
    training = gcp.training
    machine: dict[str, Any] = {"machine_type": training.machine_type}
    if training.accelerator_type:
        machine |= {"accelerator_type": training.accelerator_type, "accelerator_count": training.accelerator_count}
    # One chief, then the other replicas in a second pool (Vertex wants exactly one replica in the first). The
    # container_spec (the template's image, TFX's command) is added by the Trainer step (components/vertex_trainer.py).
    pools = [{"machine_spec": dict(machine), "replica_count": 1}]
    if training.replica_count > 1:
        pools.append({"machine_spec": dict(machine), "replica_count": training.replica_count - 1})
    # The job runs as the pipeline account, which reads the pipeline root and the module wheels.
    job_spec: dict[str, Any] = {"worker_pool_specs": pools, "service_account": gcp.pipeline_service_account}
    if gcp.network:
        job_spec["network"] = gcp.network
    return {
        ENABLE_VERTEX_KEY: True,
        VERTEX_REGION_KEY: gcp.region,
        TRAINING_ARGS_KEY: {"project": gcp.project, "job_spec": job_spec},
    }


def dataflow_values(config: EnvironmentConfig) -> dict[str, str]:
    """The values of the dataflow_* parameters, or none when Beam runs in its steps (DirectRunner)."""
    gcp = config.gcp
    if gcp is None or not gcp.dataflow.enabled:
        return {}
    dataflow = gcp.dataflow
    values = {
        "--project": gcp.project,
        "--region": gcp.dataflow_region,
        # On the pipeline-root bucket, whose objects expire: staging and temp files are disposable.
        "--temp_location": f"{config.pipeline_root()}/dataflow/tmp",
        "--service_account_email": gcp.dataflow_service_account,
        "--machine_type": dataflow.machine_type,
        "--max_num_workers": str(dataflow.max_workers),
        "--network": dataflow.network or "",
        "--subnetwork": dataflow.subnetwork or "",
    }
    return {name: values[flag] for flag, name in DATAFLOW_ARGUMENTS}
