"""VertexTrainer: TFX's Vertex AI Training Trainer, with the job's settings at submit time and its image fixed.

TFX's extension takes one custom_config holding both what differs per environment (project, region, machine,
replicas, service account, network) and the container image, which is the template's own. Here custom_config
is a JSON runtime parameter (contracts.environment_parameters.training_config: no image in it), and the image
is a compile-time parameter, `worker_image`, that the executor puts into every worker pool. So one template
serves every environment, and its Trainer's custom job always runs the image the template was compiled for.
"""

from __future__ import annotations

import copy
import json
from typing import Any, ClassVar

from tfx import types
from tfx.components.trainer.component import Trainer
from tfx.components.util import udf_utils
from tfx.dsl.components.base import base_component, executor_spec
from tfx.extensions.google_cloud_ai_platform.trainer import executor as vertex_executor
from tfx.proto import trainer_pb2
from tfx.types import standard_artifacts
from tfx.types import standard_component_specs as specs
from tfx.types.component_spec import ExecutionParameter

from contracts.environment_parameters import TRAINING_ARGS_KEY

WORKER_IMAGE = "worker_image"


class VertexTrainerSpec(specs.TrainerSpec):
    PARAMETERS: ClassVar[dict[str, ExecutionParameter]] = {
        **specs.TrainerSpec.PARAMETERS,
        WORKER_IMAGE: ExecutionParameter(type=str),
    }


def with_worker_image(custom_config: dict[str, Any], image: str) -> dict[str, Any]:
    """`custom_config` with `image` as every worker pool's container; ValueError if a pool names another image."""
    try:
        pools = custom_config[TRAINING_ARGS_KEY]["job_spec"]["worker_pool_specs"]
    except (KeyError, TypeError):
        raise ValueError(f"custom_config: no {TRAINING_ARGS_KEY}.job_spec.worker_pool_specs") from None
    if not isinstance(pools, list) or not pools:
        raise ValueError("custom_config: worker_pool_specs must be a non-empty list")
    config = copy.deepcopy(custom_config)
    for pool in config[TRAINING_ARGS_KEY]["job_spec"]["worker_pool_specs"]:
        named = pool.get("container_spec", {}).get("image_uri")
        if named not in (None, image):
            raise ValueError(f"custom_config: a worker pool names image {named!r}; the template's is {image!r}")
        # TFX sets the container's command (its run_executor entry point) when it launches the job.
        pool["container_spec"] = {**pool.get("container_spec", {}), "image_uri": image}
    return config


class Executor(vertex_executor.GenericExecutor):
    """TFX's Vertex AI Training executor, given the custom_config completed with the template's image."""

    def Do(self, input_dict: dict[str, list[types.Artifact]], output_dict, exec_properties: dict[str, Any]) -> None:  # noqa: N802
        properties = dict(exec_properties)
        image = properties.pop(WORKER_IMAGE)
        config = json.loads(properties[specs.CUSTOM_CONFIG_KEY])
        properties[specs.CUSTOM_CONFIG_KEY] = json.dumps(with_worker_image(config, image), sort_keys=True)
        super().Do(input_dict, output_dict, properties)


class VertexTrainer(Trainer):
    SPEC_CLASS = VertexTrainerSpec
    EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)

    def __init__(
        self,
        *,
        examples: types.BaseChannel,
        transform_graph: types.BaseChannel,
        schema: types.BaseChannel,
        hyperparameters: types.BaseChannel,
        module_file: str,
        train_args: trainer_pb2.TrainArgs,
        eval_args: trainer_pb2.EvalArgs,
        custom_config: Any,
        worker_image: str,
    ) -> None:
        """`custom_config`: a JSON string RuntimeParameter (or the JSON itself); the node keeps the id `Trainer`."""
        spec = VertexTrainerSpec(
            examples=examples,
            transform_graph=transform_graph,
            schema=schema,
            hyperparameters=hyperparameters,
            train_args=train_args,
            eval_args=eval_args,
            module_file=module_file,
            custom_config=custom_config,
            worker_image=worker_image,
            model=types.Channel(type=standard_artifacts.Model),
            model_run=types.Channel(type=standard_artifacts.ModelRun),
        )
        # TFX's Trainer.__init__ builds its own spec class; BaseComponent's takes this one.
        base_component.BaseComponent.__init__(self, spec=spec)
        if udf_utils.should_package_user_modules():
            udf_utils.add_user_module_dependency(self, specs.MODULE_FILE_KEY, specs.MODULE_PATH_KEY)
        self.with_id("Trainer")
