"""Publish a compiled pipeline (wheels and schema, the modules folder, then the template), or move the
environment's current-template pointer of a pipeline to the template a run was just submitted on.

    python -m release.publish --env dev [--pipeline P] [--compiled DIR] --commit SHA --branch NAME [--to DIR]
    python -m release.publish --env dev [--pipeline P] --set-current --from build/cloudbuild/submit.json

Publishing: everything is content-addressed and create-only under the environment's artifacts bucket
(gs://<prefix>-artifacts: the release store), the local environment's published folder (.local/published), or
--to DIR. An environment that runs another's releases (prod: gcp.releases_from) publishes nothing. Without
--commit (uncommitted code) the template is published but no commit record names it. Prints the template URI
(and writes it to --result-file as JSON).

--set-current: after a successful submit, point templates/current/<pipeline>.json in the environment's own
artifacts location at the template that run was submitted on (release/publishing/current.py); the trigger function, the
schedules and the data check then run it. A run submitted earlier never moves it back.
Exit status: 0 done, 2 bad input, 3 backend unavailable (retry), 4 Google Cloud refused (release/cloud_errors.py).
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from contracts.config import ConfigError, EnvironmentConfig, add_pipeline_argument, load_pipeline_environment
from contracts.current_template import current_key
from contracts.handover import write_result
from contracts.run_request import SubmissionError
from pipelines.sources import pipeline_sources
from release.cloud_errors import exit_status
from release.publishing.current import record_for, set_current
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
    # The modules of the pipeline the template is (the compile names it after its pipeline folder).
    pipeline = json.loads(spec.read_text())["pipelineSpec"]["pipelineInfo"]["name"]
    modules = publish_modules(store, pipeline_sources(pipeline).modules_dir)
    template = publish_template(
        store, spec, pipeline=pipeline, commit_sha=commit_sha, branch=branch, modules_sha256=modules.sha256
    )
    published = {"template": template.uri, "template_sha256": template.sha256, "modules_sha256": modules.sha256}
    return {**published, "commit": commit_sha or "", "branch": branch}


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="release.publish", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="dev")
    add_pipeline_argument(parser)
    parser.add_argument(
        "--compiled", type=Path, help="output folder of the compile (default: build/vertex/<env>/<pipeline>)"
    )
    parser.add_argument("--commit", help="the full commit SHA the template was compiled from (omit: uncommitted)")
    parser.add_argument("--branch", help="the branch it was compiled from (required to publish)")
    parser.add_argument("--to", help="publish (or set the pointer) in this folder or gs:// URI instead")
    parser.add_argument("--result-file", type=Path, help="also write the result (JSON) here, for the next step")
    parser.add_argument("--set-current", action="store_true", help="move the current-template pointer instead")
    parser.add_argument("--from", dest="submitted", type=Path, help="--set-current: the submit step's result file")
    parser.add_argument("--set-by", help="--set-current: who sets it (default: <source>:<trigger> of the submit)")
    args = parser.parse_args(argv)
    if args.set_current and not args.submitted:
        parser.error("--set-current needs --from <the submit step's result file>")
    if not args.set_current and not args.branch:
        parser.error("--branch is required to publish")
    return args


def _publish(config: EnvironmentConfig, args: argparse.Namespace) -> dict[str, str]:
    if config.gcp is not None and config.gcp.releases_from is not None:
        raise ConfigError(
            f"environment '{config.name}' runs the templates '{config.gcp.releases_from}' publishes "
            f"(gcp.releases_from): publish with --env {config.gcp.releases_from}"
        )
    target = args.to or config.location("artifacts")
    compiled = args.compiled or Path("build") / "vertex" / config.name / config.dataset
    return publish_compiled(store_for(target), compiled, commit_sha=args.commit, branch=args.branch)


def _set_current(config: EnvironmentConfig, args: argparse.Namespace) -> dict[str, str]:
    try:
        submitted = json.loads(args.submitted.read_text())
    except FileNotFoundError:
        raise SubmissionError(f"{args.submitted}: no submit result (the submit step writes it on success)") from None
    except ValueError as err:
        raise SubmissionError(f"{args.submitted}: not a submit result ({err})") from None
    if not isinstance(submitted, dict):
        raise SubmissionError(f"{args.submitted}: not a submit result (expected a JSON object)")
    try:
        record = record_for(submitted, set_by=args.set_by)
    except ValueError as err:
        raise SubmissionError(f"{args.submitted}: {err}") from None
    store = store_for(args.to or config.location("artifacts"))
    outcome = set_current(store, record, config.dataset)
    return {
        "pointer": store.uri(current_key(config.dataset)),
        "template": outcome.record.template,
        "job_id": outcome.record.job_id,
        "written": "yes" if outcome.written else "no",
        "reason": outcome.reason,
    }


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)  # google-cloud's Python 3.10 notices.
    try:
        config = load_pipeline_environment(args.env, args.pipeline)
        result = _set_current(config, args) if args.set_current else _publish(config, args)
    except (ConfigError, SubmissionError, PublishConflictError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Exception as err:
        return exit_status(err)
    if args.result_file:
        write_result(args.result_file, result)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
