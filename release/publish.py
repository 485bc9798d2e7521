"""Publish a compiled pipeline: its wheels and schema, the modules folder, then the template (immutable).

    python -m release.publish --env dev --compiled build/vertex/dev --commit SHA --branch NAME [--to DIR]

Everything is content-addressed and create-only under the environment's artifacts bucket
(gs://<prefix>-artifacts), the local environment's published folder (.local/published), or --to DIR.
Without --commit (uncommitted code) the template is published but no commit record names it.
Prints the template URI that submissions pin (and writes it to --result-file as JSON).
Exit status: 0 published, 2 bad input, 3 backend unavailable (retry), 4 Google Cloud refused (release/cloud_errors.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from contracts.config import ConfigError, load_environment
from contracts.handover import write_result
from contracts.run_request import BackendUnavailableError, SubmissionError
from pipelines.sources import MODULES_DIR
from release.cloud_errors import cloud_failure
from release.publishing.modules import publish_modules
from release.publishing.store import ArtifactStore, PublishConflictError, store_for
from release.publishing.templates import publish_template


def publish_compiled(
    store: ArtifactStore, compiled_dir: Path, *, commit_sha: str | None, branch: str
) -> dict[str, str]:
    """Upload dist/ (wheels first: the template references them), the modules, then the template.

    A committed template also gets its lineage record (commit, modules hash, image) beside it, which the
    trigger function labels event runs with.
    """
    spec = compiled_dir / "pipeline.json"
    dist = compiled_dir / "dist"
    if not spec.is_file():
        raise SubmissionError(f"{spec}: no compiled template (run `nox -s compile` first)")
    for path in sorted(p for p in dist.rglob("*") if p.is_file()):
        key = path.relative_to(dist).as_posix()
        # Wheel names carry TFX's hash of their sources, but wheel bytes embed build times: an existing
        # name is already the published content.
        if key.startswith("wheels/") and store.exists(key):
            continue
        store.write_new(key, path.read_bytes())
    modules = publish_modules(store, MODULES_DIR)
    template = publish_template(store, spec, commit_sha=commit_sha, branch=branch, modules_sha256=modules.sha256)
    published = {"template": template.uri, "template_sha256": template.sha256, "modules_sha256": modules.sha256}
    return {**published, "commit": commit_sha or "", "branch": branch}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="release.publish", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="dev")
    parser.add_argument("--compiled", type=Path, help="output folder of the compile (default: build/vertex/<env>)")
    parser.add_argument("--commit", help="the full commit SHA the template was compiled from (omit: uncommitted)")
    parser.add_argument("--branch", required=True)
    parser.add_argument("--to", help="publish to this folder or gs:// URI instead of the environment's store")
    parser.add_argument("--result-file", type=Path, help="also write the result (JSON) here, for the next step")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)  # google-cloud's Python 3.10 notices.
    try:
        config = load_environment(args.env)
        target = args.to or config.location("artifacts")
        compiled = args.compiled or Path("build") / "vertex" / config.name
        published = publish_compiled(store_for(target), compiled, commit_sha=args.commit, branch=args.branch)
    except (ConfigError, SubmissionError, PublishConflictError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except BackendUnavailableError as err:
        print(f"error (transient, retry): {err}", file=sys.stderr)
        return 3
    except Exception as err:
        failure = cloud_failure(err)
        if failure is None:
            raise
        print(f"error: {failure}", file=sys.stderr)
        return failure.status
    if args.result_file:
        write_result(args.result_file, published)
    print(json.dumps(published, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
