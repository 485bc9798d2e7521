"""Compile the pipeline once into the one Vertex AI PipelineJob template every cloud environment runs (offline).

Fixed at compile time (*what* runs, the same for every environment): the DAG, the pipeline image (by
digest), the user-module wheels and the schema (content-addressed URIs in the release store: the artifacts
location of the environment that publishes, e.g. dev's bucket, which prod reads), and the engines' shape
(contracts.environment_parameters.TemplateShape: Vertex AI Training, Dataflow). The pipeline's name is the
dataset's (`penguins`), not an environment's.

At submit time (contracts.environment_parameters; runtime parameters with no default, so a submission that
leaves one out is refused): `data_root`, `window_spans`, the gate (`gate_metric`, `gate_direction`,
`gate_bound`, `gate_max_regression`), `registry`, `baseline_model`, `training_config` (Vertex AI Training's
custom_config) and the `dataflow_*` arguments (placeholders in the Beam components' container args); and the
pipeline root, the PipelineJob's own field.
The run parameters (`num_epochs`, `learning_rate`, `span_start`, `span_end`) have the contract's defaults.

The Transform and Trainer user code is packaged into wheels here (TFX would do it while compiling, but by
writing to the pipeline root on GCS). The wheels go to a local dist folder and the spec points at the URIs
they will have once `publish` uploads that folder, so compiling needs no cloud access.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from contracts.config import ENVS_DIR, EnvironmentConfig, load_environment
from contracts.environment_parameters import TemplateShape, shape_differences, template_shape
from contracts.parameters import PIPELINE_PARAMETERS
from pipelines.cloud_engines import dataflow_beam_args, training_image
from pipelines.sources import pipeline_sources
from pipelines.staging import stage

# TFX needs a pipeline root to compile; the template keeps none (each submission sets its environment's).
_NO_PIPELINE_ROOT = "gs://pipeline-root-is-set-at-submit-time"
_PLACEHOLDER = re.compile(r"\{\{\$\.inputs\.parameters\['([^']+)'\]\}\}")


class CompileRefusedError(ValueError):
    """This environment does not compile its own template (it runs another's), or its runners disagree."""


@dataclass(frozen=True)
class CompiledPipeline:
    spec_path: Path
    # Local files to publish, keyed by the path they must have under the artifacts root.
    artifacts: dict[str, Path]
    modules_sha256: str
    image: str
    # The environments that run this template: the compiling one and those with releases_from naming it.
    environments: tuple[str, ...]


def template_environments(config: EnvironmentConfig) -> list[EnvironmentConfig]:
    """`config` and every environment in envs/ that runs its templates; CompileRefusedError if one cannot.

    An environment with `gcp.releases_from` compiles nothing: it runs the templates of the one it names.
    """
    if config.gcp is not None and config.gcp.releases_from is not None:
        raise CompileRefusedError(
            f"environment '{config.name}' runs the templates '{config.gcp.releases_from}' publishes "
            f"(gcp.releases_from): compile with --env {config.gcp.releases_from}, and submit that template"
        )
    runners = [config]
    for path in sorted(ENVS_DIR.glob("*.yaml")):
        other = load_environment(path)
        if other.gcp is not None and other.gcp.releases_from == config.name and other.name != config.name:
            differences = shape_differences(config, other)
            if differences:
                raise CompileRefusedError(
                    f"environment '{other.name}' runs the templates of '{config.name}' but needs another DAG: "
                    f"{'; '.join(differences)}. Make these settings equal in both environment files"
                )
            runners.append(other)
    return runners


def runtime_parameters(shape: TemplateShape) -> dict[str, Any]:
    """A RuntimeParameter for every run parameter (with the contract's default) and every environment
    parameter that a component takes (no default: the submission must give it; the `dataflow_*` ones are
    container-arg placeholders, declared by `declare_placeholders`)."""
    from tfx.orchestration import data_types

    params = {
        p.name: data_types.RuntimeParameter(name=p.name, ptype=p.ptype, default=p.ptype(p.default))
        for p in PIPELINE_PARAMETERS
    }
    for name, kind in shape.parameter_types().items():
        if not name.startswith("dataflow_"):
            params[name] = data_types.RuntimeParameter(name=name, ptype=kind)
    return params


def run_parameter_defaults() -> dict[str, int | float]:
    """What a run gets for a run parameter its request leaves out: the contract's default (spans 0..0: the
    newest window). Environment-neutral; every submitter sends its environment's training defaults anyway."""
    return {p.name: p.ptype(p.default) for p in PIPELINE_PARAMETERS}


def _package(component: Any, module_file: Path, build_dir: Path) -> tuple[Path, str]:
    """Build the component's user-module wheel; return it and the module name inside it."""
    from tfx.components.util import udf_utils

    wheel, user_module = udf_utils.package_user_module_file(component.id, str(module_file), str(build_dir))
    return Path(wheel), user_module.split("@", 1)[0]


def compile_pipeline(config: EnvironmentConfig, *, image: str, output_dir: Path) -> CompiledPipeline:
    """Write <output_dir>/pipeline.json and the wheels/schema to publish; return what was produced.

    CompileRefusedError for an environment that runs another's templates, or whose runners need another DAG.
    """
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

    from pipelines.pipeline import create_pipeline

    if "@sha256:" not in image:
        raise ValueError(f"image {image!r}: reference the pipeline image by digest (name@sha256:...), not a tag")
    environments = template_environments(config)
    # A local environment compiles the same DAG with its local folders: the main job checks the DAG compiles
    # and publishes it to .local/published exactly as Cloud Build does to the artifacts bucket.
    artifacts_uri = config.location("artifacts")
    shape = template_shape(config)
    output_dir.mkdir(parents=True, exist_ok=True)
    staged_root = Path(tempfile.mkdtemp(prefix="compile-", dir=output_dir))
    try:
        sources = pipeline_sources(config.dataset)
        preprocessing = stage(sources.modules_dir / "preprocessing.py", staged_root / "preprocessing")
        modules = stage(sources.modules_dir, staged_root / "modules")
        schema = stage(sources.schema_file, staged_root / "schema")
        schema_key = f"schemas/{schema.parent.name}/{schema.name}"
        pipeline = create_pipeline(
            pipeline_name=config.dataset,
            pipeline_root=_NO_PIPELINE_ROOT,
            schema_path=f"{artifacts_uri}/{schema_key}",
            preprocessing_module=str(preprocessing),
            model_module=str(modules / "model.py"),
            eval_config=sources.definition().eval_config(),
            # What the compile knows of the lineage; the commit and template are the submission's labels.
            run_labels={"modules": modules.name[:12], "image": image},
            **runtime_parameters(shape),
            beam_pipeline_args=dataflow_beam_args(shape, image=image),
            training_image=training_image(shape, image=image),
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
        # The run parameters' defaults go into the spec's runtimeConfig: a request that sends only some of them
        # gets the rest from the template (the RuntimeParameter defaults alone do not reach the compiled spec).
        runner.run(pipeline, parameter_values=run_parameter_defaults(), write_out=True)
        spec_path = output_dir / "pipeline.json"
        spec_path.write_text(json.dumps(finish_template(json.loads(spec_path.read_text())), indent=2, sort_keys=True))
        return CompiledPipeline(
            spec_path=spec_path,
            artifacts=artifacts,
            modules_sha256=modules.name,
            image=image,
            environments=tuple(env.name for env in environments),
        )
    finally:
        shutil.rmtree(staged_root, ignore_errors=True)


def finish_template(spec: dict[str, Any]) -> dict[str, Any]:
    """What TFX's compiler cannot say: declare the container-arg placeholders, and name no pipeline root."""
    spec = declare_placeholders(spec)
    runtime = spec.get("runtimeConfig", {})
    if runtime.pop("gcsOutputDirectory", None) != _NO_PIPELINE_ROOT:
        raise ValueError("the compiled template's pipeline root is not the stand-in the compile gave TFX")
    return spec


def declare_placeholders(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with every `{{$.inputs.parameters['x']}}` in an executor's container args (and its pre-cache
    hook's) declared: a STRING input of the executor's component, fed by the task from the pipeline's
    parameter `x`, which the root declares. TFX 1.16 takes only plain strings as Beam arguments; KFP resolves
    such placeholders (also inside a longer argument) from the task's inputs."""
    spec = json.loads(json.dumps(spec))  # a copy
    pipeline = spec["pipelineSpec"]
    root_inputs = pipeline["root"].setdefault("inputDefinitions", {}).setdefault("parameters", {})
    tasks = pipeline["root"]["dag"]["tasks"]
    for label, executor in pipeline["deploymentSpec"]["executors"].items():
        container = executor.get("container", {})
        args = [*container.get("args", []), *container.get("lifecycle", {}).get("preCacheCheck", {}).get("args", [])]
        names = sorted({name for arg in args for name in _PLACEHOLDER.findall(arg)})
        if not names:
            continue
        components = [name for name, comp in pipeline["components"].items() if comp.get("executorLabel") == label]
        for component in components:
            declared = pipeline["components"][component].setdefault("inputDefinitions", {}).setdefault("parameters", {})
            users = [task for task in tasks.values() if task["componentRef"]["name"] == component]
            for name in names:
                if name in declared:
                    raise ValueError(f"{component}: placeholder {name!r} clashes with one of its own parameters")
                declared[name] = {"type": "STRING"}
                root_inputs.setdefault(name, {"type": "STRING"})
                for task in users:
                    task.setdefault("inputs", {}).setdefault("parameters", {})[name] = {"componentInputParameter": name}
    return spec


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
