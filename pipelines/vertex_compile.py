"""Compile the pipeline once into a Vertex AI PipelineJob spec (KubeflowV2DagRunner), fully offline.

Fixed at compile time (they define *what* runs): the pipeline image (by digest), the user-module wheels
and the schema (content-addressed URIs), bucket locations, evaluation thresholds and the rolling window's
size (`training.window_spans`) from the environment config, the baseline resolver, and where the Trainer
and the Beam components run (Vertex AI Training, Dataflow: pipelines/cloud_engines.py). Runtime
parameters (they say *how* one run trains): `num_epochs`, `learning_rate`, `span_start` and `span_end`;
the same compiled spec is submitted with any values, and the spec carries a default for each (the
environment's training defaults, spans 0..0: the newest window), so a request may send any subset.

The Transform and Trainer user code is packaged into wheels here (TFX would do it while compiling, but
by writing to the pipeline root on GCS). The wheels go to a local dist folder and the spec points at the
URIs they will have once `publish` uploads that folder, so compiling needs no cloud access.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.config import EnvironmentConfig
from contracts.parameters import PIPELINE_PARAMETERS
from contracts.registry import registry_target
from pipelines.cloud_engines import dataflow_beam_args, vertex_training_config
from pipelines.sources import MODULES_DIR, SCHEMA_FILE
from pipelines.staging import stage


@dataclass(frozen=True)
class CompiledPipeline:
    spec_path: Path
    # Local files to publish, keyed by the path they must have under the artifacts root.
    artifacts: dict[str, Path]
    modules_sha256: str
    image: str


def parameter_defaults(config: EnvironmentConfig) -> dict[str, int | float]:
    """What a run gets for a parameter its request leaves out: the environment's training defaults, else the
    contract's (spans 0..0: the newest window)."""
    defaults: dict[str, int | float] = {p.name: p.ptype(p.default) for p in PIPELINE_PARAMETERS}
    defaults.update(num_epochs=config.training.num_epochs, learning_rate=config.training.learning_rate)
    return defaults


def runtime_parameters(defaults: dict[str, int | float]) -> dict[str, Any]:
    """A RuntimeParameter, with its default, for every pipeline parameter."""
    from tfx.orchestration import data_types

    return {
        p.name: data_types.RuntimeParameter(name=p.name, ptype=p.ptype, default=p.ptype(defaults[p.name]))
        for p in PIPELINE_PARAMETERS
    }


def _package(component: Any, module_file: Path, build_dir: Path) -> tuple[Path, str]:
    """Build the component's user-module wheel; return it and the module name inside it."""
    from tfx.components.util import udf_utils

    wheel, user_module = udf_utils.package_user_module_file(component.id, str(module_file), str(build_dir))
    return Path(wheel), user_module.split("@", 1)[0]


def compile_pipeline(config: EnvironmentConfig, *, image: str, output_dir: Path) -> CompiledPipeline:
    """Write <output_dir>/pipeline.json and the wheels/schema to publish; return what was produced."""
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

    from pipelines.pipeline import create_pipeline

    if "@sha256:" not in image:
        raise ValueError(f"image {image!r}: reference the pipeline image by digest (name@sha256:...), not a tag")
    # A local environment compiles the same DAG with its local folders: the main job checks the DAG compiles
    # and publishes it to .local/published exactly as Cloud Build does to the artifacts bucket.
    artifacts_uri = config.location("artifacts")
    output_dir.mkdir(parents=True, exist_ok=True)
    staged_root = Path(tempfile.mkdtemp(prefix="compile-", dir=output_dir))
    try:
        preprocessing = stage(MODULES_DIR / "preprocessing.py", staged_root / "preprocessing")
        modules = stage(MODULES_DIR, staged_root / "modules")
        schema = stage(SCHEMA_FILE, staged_root / "schema")
        schema_key = f"schemas/{schema.parent.name}/{schema.name}"
        defaults = parameter_defaults(config)
        params = runtime_parameters(defaults)
        pipeline = create_pipeline(
            pipeline_name=config.pipeline_name,
            pipeline_root=config.pipeline_root(),
            data_root=f"{config.location('data')}/{config.dataset}",
            schema_path=f"{artifacts_uri}/{schema_key}",
            preprocessing_module=str(preprocessing),
            model_module=str(modules / "model.py"),
            registry=registry_target(config),
            # What the compile knows of the lineage; the commit and template are the submission's labels.
            run_labels={"modules": modules.name[:12], "image": image},
            num_epochs=params["num_epochs"],
            learning_rate=params["learning_rate"],
            span_start=params["span_start"],
            span_end=params["span_end"],
            window_spans=config.training.window_spans,
            min_accuracy=config.evaluation.min_accuracy,
            max_accuracy_drop=config.evaluation.max_accuracy_drop,
            # Vertex resolves baselines only with TFX's built-in strategies.
            baseline="latest-blessed",
            # The environment's engines (gcp.training, gcp.dataflow); none for a local environment.
            beam_pipeline_args=dataflow_beam_args(config, image=image),
            vertex_training=vertex_training_config(config, image=image),
        )
        artifacts = {schema_key: _keep(schema, output_dir / "dist" / schema_key)}
        by_id = {c.id: c for c in pipeline.components}
        for component_id, module_file in (("Transform", preprocessing), ("Trainer", modules / "model.py")):
            wheel, module_name = _package(by_id[component_id], module_file, staged_root / "build")
            key = f"wheels/{wheel.name}"  # TFX names the wheel after a hash of the module folder's sources.
            artifacts[key] = _keep(wheel, output_dir / "dist" / key)
            spec = by_id[component_id].exec_properties
            spec["module_path"] = f"{module_name}@{artifacts_uri}/{key}"
            spec["module_file"] = None
        runner = kubeflow_v2_dag_runner.KubeflowV2DagRunner(
            config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(default_image=image),
            output_dir=str(output_dir),
            output_filename="pipeline.json",
        )
        # The defaults go into the spec's runtimeConfig: a request that sends only some parameters (a message
        # with num_epochs and learning_rate) gets the rest from the template; the RuntimeParameter defaults
        # alone do not reach the compiled spec.
        runner.run(pipeline, parameter_values=defaults, write_out=True)
        return CompiledPipeline(
            spec_path=output_dir / "pipeline.json",
            artifacts=artifacts,
            modules_sha256=modules.name,
            image=image,
        )
    finally:
        shutil.rmtree(staged_root, ignore_errors=True)


def _keep(source: Path, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)
    return target


# What legitimately changes without a change to the DAG: SDK version labels, the image digest, and the
# content hashes of modules, wheels and schema (those change with the code and are reviewed there).
_VOLATILE = (
    (re.compile(r"@sha256:[0-9a-f]{64}"), "@sha256:<digest>"),
    (re.compile(r"-0\.0\+[0-9a-f]{64}-py3"), "-0.0+<hash>-py3"),
    (re.compile(r"/schemas/[0-9a-f]{64}/"), "/schemas/<sha256>/"),
    (re.compile(r"tfx-\d+\.\d+\.\d+"), "tfx-<version>"),
    # The modules' content hash in the registry push's lineage labels (JSON inside a JSON string).
    (re.compile(r'(\\"modules\\": \\")[0-9a-f]{12}'), r"\1<sha256>"),
)


def normalized(spec: dict[str, Any]) -> dict[str, Any]:
    """The compiled spec without versions, digests and content hashes: what a golden file compares."""
    spec = {key: value for key, value in spec.items() if key != "labels"}
    text = json.dumps(spec, indent=2, sort_keys=True)
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    return dict(json.loads(text))
