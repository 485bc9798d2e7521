"""Compile the training pipeline into the Vertex AI PipelineJob template its environments run (offline).

    python -m pipelines.kubeflow_v2_runner --env dev [--pipeline P] --image REGION-docker.pkg.dev/.../pipeline@sha256:
    python -m pipelines.kubeflow_v2_runner --env dev --image ... --update-golden   # refresh the golden spec
    python -m pipelines.kubeflow_v2_runner --env local --image-from build/cicd/<run>/image.json  # the main job

One template serves the compiling environment and every environment that runs its releases
(`gcp.releases_from`: prod runs dev's), with their values given at submit time; compiling for prod is refused,
naming the environment to compile. A local environment compiles the same DAG with its published folder as the
release store.

One template per pipeline (`--pipeline`, needed when the environment has several).
Writes <output-dir>/pipeline.json and <output-dir>/dist/ (wheels and schema, to be published).
Exit status: 0 compiled, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

from contracts.config import REPO_ROOT, ConfigError, add_pipeline_argument, load_pipeline_environment
from contracts.handover import result_value


def golden(pipeline: str) -> Path:
    """The golden spec of `pipeline`: its normalised dev template, reviewed as a diff when it changes."""
    return REPO_ROOT / "tests" / "golden" / pipeline / "vertex_pipeline.json"


# The golden spec is the template dev publishes, compiled with this stand-in digest (normalisation hides it).
GOLDEN_IMAGE = "europe-west4-docker.pkg.dev/my-dev-project/penguins-dev-images/pipeline@sha256:" + "0" * 64


def _image_from(path: Path) -> str:
    """The `image` of the image step's result file; ConfigError naming the file otherwise."""
    try:
        return result_value(path, "image", "image step")
    except ValueError as err:
        raise ConfigError(str(err)) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pipelines.kubeflow_v2_runner", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="dev", help="environment name or file")
    add_pipeline_argument(parser)
    image = parser.add_mutually_exclusive_group()
    image.add_argument("--image", help="pipeline image by digest (name@sha256:...); default with --update-golden")
    image.add_argument("--image-from", type=Path, help="the image step's result file (JSON with an `image` key)")
    parser.add_argument("--output-dir", type=Path, help="default: build/vertex/<env>/<pipeline>")
    parser.add_argument(
        "--update-golden", action="store_true", help="rewrite tests/golden/<pipeline>/vertex_pipeline.json"
    )
    args = parser.parse_args(argv)
    try:
        config = load_pipeline_environment(args.env, args.pipeline)
        image = args.image or (GOLDEN_IMAGE if args.update_golden else None)
        if args.image_from:
            image = _image_from(args.image_from)
        if not image:
            raise ConfigError("--image is required: the pipeline image, referenced by digest")
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    warnings.filterwarnings("ignore", category=FutureWarning)
    from pipelines.progress import component_progress
    from pipelines.vertex_compile import compile_pipeline, normalized

    output_dir = args.output_dir or REPO_ROOT / "build" / "vertex" / config.name / config.dataset
    start = time.perf_counter()
    try:
        # Wheel builds print setuptools output; it goes to the log with everything else TFX says.
        with component_progress(output_dir / "compile.log"):
            compiled = compile_pipeline(config, image=image, output_dir=output_dir)
    except (ValueError, ConfigError) as err:  # CompileRefusedError is a ValueError
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"compiled {config.dataset} for {config.name} in {time.perf_counter() - start:.1f}s: {compiled.spec_path}")
    print(f"  runs in: {', '.join(compiled.environments)} (their values are given at submit time)")
    print(f"  image: {compiled.image}")
    print(f"  modules sha256: {compiled.modules_sha256}")
    for key in sorted(compiled.artifacts):
        print(f"  to publish: {key}")
    if args.update_golden:
        spec = normalized(json.loads(compiled.spec_path.read_text()))
        path = golden(config.dataset)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(spec, indent=2, sort_keys=True) + "\n")
        print(f"golden spec updated: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
