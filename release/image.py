"""The pipeline image step: which image a compile uses, recorded by what went into it.

    python -m release.image --env local --commit SHA --output build/cicd/<run>/image.json
    python -m release.image --env dev --commit SHA --built /workspace/image-digest --output ...  # Cloud Build
    python -m release.image --env dev --existing --output ...   # the modules fast path: no build

An image is identified by the sha256 of its inputs (the Dockerfile, the pipeline lock, and the files the
image's code is and imports: `image_inputs`) and recorded create-only as images/<inputs sha256>.json in the
environment's artifacts store, so the `modules` workflow compiles against the image that holds exactly the
current components and locked dependencies, and finds none when this change altered them (the `full`
workflow builds that one).

Locally the image is built when a Docker engine answers; otherwise the build is skipped, saying why, and
the record names `local/<pipeline>-pipeline@sha256:<inputs sha256>`: the local backend runs the same
locked environment (.nox/tfx) instead of an image. Exit status: 0 done, 2 bad input or no image, 3 retry.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ci.import_graph import closure, relative
from contracts.config import REPO_ROOT, ConfigError, EnvironmentConfig, load_environment
from contracts.handover import write_result

# The image's identity: the files that decide what it runs. The fixed inputs, plus every Python file under
# IMAGE_TREES (what the Dockerfile copies and the executors import) and the first-party files those import,
# found from the imports (ci/import_graph.py), plus the data files under IMAGE_TREES. A file nothing in the
# image imports (a local tool, the release commands) never changes the identity, so it never rebuilds it.
IMAGE_FIXED = ("Dockerfile", ".dockerignore", "requirements/pipeline.txt")
IMAGE_TREES = ("components", "pipelines", "serving")
# Not in the image, in each pipeline's folder (pipelines/<name>/<excluded>/): the modules are published by content
# hash and each compiled spec points at its own; the shipped spans are seeded into the data area, not read here;
# the model tests' records are read by release/model_tests/, which runs outside the image.
IMAGE_EXCLUDED = ("modules", "data", "model_tests")
_SKIPPED_SUFFIXES = (".md", ".pyc")
_DIGEST_REF = re.compile(r"^[a-z0-9][a-z0-9._/:-]*@sha256:[0-9a-f]{64}$")


class ImageError(Exception):
    """No usable image: the message says which and what to run."""


def _tree_files(root: Path) -> list[Path]:
    found = []
    for tree in IMAGE_TREES:
        for path in sorted((root / tree).rglob("*")):
            rel = path.relative_to(root).as_posix()
            if not path.is_file() or "__pycache__" in path.parts or path.suffix in _SKIPPED_SUFFIXES:
                continue
            if excluded_from_image(rel):
                continue
            found.append(path)
    return found


def excluded_from_image(rel: str) -> bool:
    """Whether the repository path `rel` is in a pipeline's modules/, data/ or model_tests/ folder (never in the
    image)."""
    parts = rel.split("/")
    return len(parts) > 3 and parts[0] == "pipelines" and parts[2] in IMAGE_EXCLUDED


def image_inputs(root: Path) -> list[str]:
    """The repository-relative paths of the files that make the image what it is, sorted."""
    trees = _tree_files(root)
    imported = closure([path for path in trees if path.suffix == ".py"], [root])
    imported = {path for path in imported if not excluded_from_image(path.relative_to(root).as_posix())}
    fixed = [root / name for name in IMAGE_FIXED if (root / name).is_file()]
    return relative({*fixed, *trees, *imported}, root)


def inputs_sha256(root: Path) -> str:
    """One hash over the image's input files, their names and bytes."""
    digest = hashlib.sha256()
    for rel in image_inputs(root):
        digest.update(rel.encode() + b"\0" + hashlib.sha256((root / rel).read_bytes()).digest())
    return digest.hexdigest()


def docker_engine() -> str | None:
    """None if a Docker engine answers; otherwise the reason there is none."""
    docker = shutil.which("docker")
    if docker is None:
        return "no docker client on PATH"
    try:
        result = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=15
        )
    except subprocess.TimeoutExpired:
        return "the Docker engine did not answer within 15 s"
    if result.returncode != 0 or not result.stdout.strip():
        message = (result.stderr.strip().splitlines() or ["no server version"])[-1]
        return f"no Docker engine answers ({message})"
    return None


def docker_build(root: Path, name: str, commit: str) -> str:
    """Build the image from the Dockerfile; its reference by image id (a sha256 digest)."""
    tag = f"{name}:{commit[:12]}"
    subprocess.run(["docker", "build", "--file", str(root / "Dockerfile"), "--tag", tag, str(root)], check=True)
    image_id = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", tag], capture_output=True, text=True, check=True
    ).stdout.strip()
    return f"{name}@{image_id}"


def record_path(inputs: str) -> str:
    return f"images/{inputs}.json"


def _record(store: Any, inputs: str, entry: dict[str, Any]) -> dict[str, Any]:
    """Record the image for `inputs`; the first record wins (same inputs, same image contents)."""
    from release.publishing.store import PublishConflictError

    data = (json.dumps(entry, indent=2, sort_keys=True) + "\n").encode()
    try:
        store.write_new(record_path(inputs), data)
        return entry
    except PublishConflictError:
        existing: dict[str, Any] = json.loads(store.read(record_path(inputs)))
        return existing


def resolve(args: argparse.Namespace, config: EnvironmentConfig, root: Path) -> dict[str, Any]:
    """What the step hands to compile: the image reference, and whether it was built, skipped or found."""
    from release.publishing.store import store_for

    inputs = inputs_sha256(root)
    store = store_for(config.location("artifacts"))
    result: dict[str, Any] = {"inputs_sha256": inputs, "built": False, "existing": False, "reason": None}
    if args.existing:
        try:
            record = json.loads(store.read(record_path(inputs)))
        except FileNotFoundError:
            raise ImageError(
                f"no pipeline image is recorded for the current image inputs ({inputs[:12]}, "
                f"{store.uri(record_path(inputs))}): this change alters what goes into the image "
                "(components, pipelines outside modules/, Dockerfile, locks), so the `full` workflow builds "
                "it and runs the pipeline; or no `full` run has happened on this environment yet"
            ) from None
        return {**result, "image": record["image"], "existing": True, "commit": record.get("commit")}
    if not args.commit:
        raise ImageError("--commit is required to build or record an image")
    # One image for every pipeline of the environment (their modules are not in it): named as the cloud
    # repository's image is, <prefix>-images/pipeline.
    name = "pipeline"
    if args.built:
        try:
            image = args.built.read_text().strip()
        except OSError as err:
            raise ImageError(f"--built {args.built}: cannot read the pushed image's digest file ({err})") from None
        if not _DIGEST_REF.match(image):
            raise ImageError(f"{args.built}: expected the pushed image as name@sha256:<digest>, got {image!r}")
        result.update(built=True)
    elif config.backend != "local":
        raise ImageError(f"'{config.name}': Cloud Build builds and pushes the image; pass --built FILE (name@digest)")
    elif (reason := docker_engine()) is None:
        image = docker_build(root, name, args.commit)
        result.update(built=True)
    else:
        image = f"local/{name}@sha256:{inputs}"
        result.update(reason=f"{reason}; the local backend runs the locked environment instead of an image")
    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    record = _record(store, inputs, {"image": image, "commit": args.commit, "built": result["built"], "at": now})
    return {**result, "image": record["image"], "commit": record["commit"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="release.image", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="local")
    parser.add_argument("--commit", help="full commit id the image is built from")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--built", type=Path, help="file holding the pushed image as name@sha256:<digest> (kaniko)")
    mode.add_argument("--existing", action="store_true", help="use the image recorded for the current inputs")
    parser.add_argument("--output", type=Path, required=True, help="where to write the result (JSON) for compile")
    args = parser.parse_args(argv)
    from contracts.run_request import BackendUnavailableError

    try:
        result = resolve(args, load_environment(args.env), REPO_ROOT)
    except (ConfigError, ImageError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except BackendUnavailableError as err:
        print(f"error (transient, retry): {err}", file=sys.stderr)
        return 3
    write_result(args.output, result)
    how = "built" if result["built"] else "existing" if result["existing"] else f"build skipped: {result['reason']}"
    print(f"image: {result['image']}\n  {how}\n  inputs sha256: {result['inputs_sha256']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
