"""RegistryPush: a blessed model becomes a version in the model registry, with its lineage, and is announced.

It replaces TFX's Pusher, which copies the model to a folder and knows no lineage. The registry (MLflow
locally, Vertex AI Model Registry on Google Cloud) and the run's lineage labels arrive as execution
parameters fixed when the pipeline is built, so nothing deep in the code reads the environment. On Vertex
the submitter's part of the lineage (commit, template, source, run id) is read from the run's own
PipelineJob, whose name Vertex fills into the `pipeline_job` parameter (components/registry/vertex_job.py).

Registration copies the SavedModel into the registry's own content-addressed store (the registry bucket on
Vertex, <local root>/registry/artifacts locally) and the version points there. Content-idempotent: a model
whose files equal a registered version's gets that version back, and nothing is added.

It never promotes. On Vertex it announces the version (registered now or found registered) on the
environment's `<prefix>-<pipeline>-model-registered` topic, so a rerun after a failure announces again; what promotes
listens there (release/promotion). Locally nothing is announced: the local run worker promotes after the run.
All its Google Cloud I/O is google-cloud-storage and REST clients built through contracts/google_apis.py.
"""

from __future__ import annotations

import json
import logging
from typing import Any, ClassVar

from tfx import types
from tfx.components.util import model_utils
from tfx.dsl.components.base import base_component, base_executor, executor_spec
from tfx.types import artifact_utils, standard_artifacts
from tfx.types.component_spec import ChannelParameter, ComponentSpec, ExecutionParameter

from components.registry.vertex_job import JOB_PLACEHOLDER, is_job_name
from components.window_example_gen import example_spans
from contracts.registry import SERVING_MODEL_DIR, ModelVersion, RegistryTarget

log = logging.getLogger(__name__)


class RegistryPushSpec(ComponentSpec):
    PARAMETERS: ClassVar[dict[str, ExecutionParameter]] = {
        # A RegistryTarget as JSON: which backend, where, whether blessed versions become champion.
        "registry": ExecutionParameter(type=str),
        # The run's lineage labels (commit, modules, image, template, source) as a JSON object.
        "labels": ExecutionParameter(type=str),
        # Where the spans are, to hash each one the examples came from (every span of the window).
        "data_root": ExecutionParameter(type=str),
        # Vertex: the run's PipelineJob resource name (the placeholder Vertex fills in); unset locally.
        "pipeline_job": ExecutionParameter(type=str, optional=True),
    }
    INPUTS: ClassVar[dict[str, ChannelParameter]] = {
        "model": ChannelParameter(type=standard_artifacts.Model),
        "model_blessing": ChannelParameter(type=standard_artifacts.ModelBlessing),
        "evaluation": ChannelParameter(type=standard_artifacts.ModelEvaluation),
        "examples": ChannelParameter(type=standard_artifacts.Examples),
        "hyperparameters": ChannelParameter(type=standard_artifacts.HyperParameters),
    }
    OUTPUTS: ClassVar[dict[str, ChannelParameter]] = {
        "pushed_model": ChannelParameter(type=standard_artifacts.PushedModel)
    }


class Executor(base_executor.BaseExecutor):
    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict, exec_properties: dict[str, Any]) -> None:  # noqa: N802
        from components.registry import open_registry
        from components.registry.lineage import build_lineage

        pushed = artifact_utils.get_single_instance(output_dict["pushed_model"])
        if not model_utils.is_model_blessed(artifact_utils.get_single_instance(input_dict["model_blessing"])):
            pushed.set_int_custom_property("pushed", 0)
            return
        model = artifact_utils.get_single_instance(input_dict["model"])
        run_id, labels = self._run_lineage(exec_properties)
        lineage = build_lineage(
            run_id=run_id,
            labels=labels,
            data_root=exec_properties["data_root"],
            span_numbers=[n for e in input_dict["examples"] for n in example_spans(e)],
            hyperparameters_uri=artifact_utils.get_single_uri(input_dict["hyperparameters"]),
            evaluation_uri=artifact_utils.get_single_uri(input_dict["evaluation"]),
        )
        target = RegistryTarget.model_validate_json(exec_properties["registry"])
        registry = open_registry(target)
        # The Trainer's SavedModel folder, named without I/O (TFX's serving_model_path probes it with fileio).
        version, created = registry.register(f"{model.uri.rstrip('/')}/{SERVING_MODEL_DIR}", lineage, blessed=True)
        if target.topic:
            pushed.set_string_custom_property("announced", self._announce(target, version, run_id))
        pushed.set_int_custom_property("pushed", 1)
        pushed.set_string_custom_property("pushed_version", version.version)
        pushed.set_string_custom_property("pushed_destination", version.uri)
        pushed.set_int_custom_property("registered", int(created))

    @staticmethod
    def _announce(target: RegistryTarget, version: ModelVersion, run_id: str) -> str:
        """Publish the version on the environment's topic; the message id."""
        from components.registry.announce import announce, registered_attributes

        model = f"projects/{target.project}/locations/{target.region}/models/{target.model_name}"
        assert target.topic is not None
        message = announce(target.topic, registered_attributes(version=version.version, model=model, run=run_id))
        log.info("announced version %s on %s (message %s)", version.version, target.topic, message)
        return message

    def _run_lineage(self, exec_properties: dict[str, Any]) -> tuple[str, dict[str, str]]:
        """The run id and lineage labels: from the PipelineJob on Vertex, else the context and the compiled labels."""
        from components.registry.vertex_job import run_lineage

        labels = json.loads(exec_properties["labels"])
        job = exec_properties.get("pipeline_job")
        if is_job_name(job):
            return run_lineage(job, labels)
        if job:
            # Vertex did not fill the placeholder in: the version is still registered, with what is known.
            log.warning("pipeline_job %r is not a PipelineJob name: commit, template and run id unknown", job)
        return (self._context.pipeline_run_id if self._context else None) or "unknown", labels


class RegistryPush(base_component.BaseComponent):
    SPEC_CLASS = RegistryPushSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(
        self,
        *,
        model: types.BaseChannel,
        model_blessing: types.BaseChannel,
        evaluation: types.BaseChannel,
        examples: types.BaseChannel,
        hyperparameters: types.BaseChannel,
        registry: RegistryTarget | Any,
        labels: dict[str, str],
        data_root: str | Any,
    ) -> None:
        """`registry` and `data_root` may be RuntimeParameters (the Vertex compile: the values, the registry as
        JSON, arrive at submit time); a runtime registry is always a Vertex one, whose job name Vertex fills in."""
        on_vertex = not isinstance(registry, RegistryTarget) or registry.backend == "vertex"
        spec = RegistryPushSpec(
            model=model,
            model_blessing=model_blessing,
            evaluation=evaluation,
            examples=examples,
            hyperparameters=hyperparameters,
            registry=registry.model_dump_json() if isinstance(registry, RegistryTarget) else registry,
            labels=json.dumps(labels, sort_keys=True),
            data_root=data_root,
            pipeline_job=JOB_PLACEHOLDER if on_vertex else None,
            pushed_model=types.Channel(type=standard_artifacts.PushedModel),
        )
        super().__init__(spec=spec)
