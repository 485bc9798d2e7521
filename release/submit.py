"""Submit a pipeline run to an environment's backend: local (LocalDagRunner in a worker process) or vertex.

    python -m release.submit --env local --num-epochs 5 --learning-rate 0.01 [--follow]
    python -m release.submit --env dev --pipeline P --num-epochs 5 --learning-rate 0.01   # the current template
    python -m release.submit --env dev --pipeline P --template commit:<sha> --num-epochs 5 --learning-rate 0.01

Vertex runs submit the one published template with the environment's values and, as the baseline its gate
compares against, the registry's champion now. Which template: `--template` (a URI, a sha256 or
commit:<sha> in the release store; `current`: the environment's current one), else the environment's pin for the
pipeline (`pipelines.<name>.template_sha256`), else its current-template pointer (templates/current/<pipeline>.json,
which CI moves).
Parameters are validated before anything is published or submitted. The job id is derived from
--trigger-id (e.g. a Pub/Sub message id), so submitting the same trigger twice starts one run.
Exit status: 0 submitted (or already running under that job id), 1 a followed run failed, 2 bad input,
3 backend unavailable (retry), 4 Google Cloud refused (credentials, permission, not found: release/cloud_errors.py).
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

from contracts.config import (
    ConfigError,
    EnvironmentConfig,
    add_pipeline_argument,
    environment_file,
    load_pipeline_environment,
    release_source,
)
from contracts.current_template import ResolvedTemplate
from contracts.environment import Training
from contracts.handover import result_value, write_result
from contracts.parameters import SPAN_END, SPAN_START, validate_span_range
from contracts.run_request import (
    Lineage,
    RunRequest,
    SubmissionError,
    SubmitResult,
    Submitter,
    job_id_for,
    lineage_labels,
    template_sha256,
)
from pipelines.worktree import working_tree_lineage
from release.cloud_errors import exit_status

CURRENT = "current"


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="release.submit", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="local")
    add_pipeline_argument(parser)
    parser.add_argument("--num-epochs", type=int, help="default: the environment's training.num_epochs")
    parser.add_argument("--learning-rate", type=float, help="default: the environment's training.learning_rate")
    parser.add_argument("--span-start", type=int, default=0)
    parser.add_argument("--span-end", type=int, default=0)
    parser.add_argument("--trigger-id", help="what caused this run (e.g. a Pub/Sub message id); default: random")
    parser.add_argument("--source", default="manual", help="label: what kind of trigger (manual, pubsub, ci)")
    parser.add_argument("--no-cache", action="store_true")
    template = parser.add_mutually_exclusive_group()
    template.add_argument(
        "--template",
        help="vertex: template URI, sha256 or commit:<sha> in the release store, or `current` (default: the "
        "environment's pin, else its current-template pointer)",
    )
    template.add_argument("--template-from", type=Path, help="the publish step's result file (JSON with `template`)")
    parser.add_argument("--local-root", type=Path, help="local: state folder (default: the environment's)")
    parser.add_argument("--follow", action="store_true", help="local: follow the run to its end")
    parser.add_argument("--result-file", type=Path, help="write the outcome (JSON) here, for the next steps")
    args = parser.parse_args(argv)
    if args.template_from:
        args.template = _template_from(args.template_from)
    args.trigger_id = args.trigger_id or f"{args.source}-{uuid.uuid4().hex[:12]}"
    return args


def _template_from(path: Path) -> str:
    """The template URI in the publish step's result file; SubmissionError naming the file otherwise."""
    try:
        return result_value(path, "template", "publish")
    except ValueError as err:
        raise SubmissionError(str(err)) from None


def build_request(args: argparse.Namespace, pipeline_name: str, defaults: Training | None, pipeline: str) -> RunRequest:
    """The validated request: raises SubmissionError naming the first bad value.

    Labelled with the working tree's lineage; a vertex submitter replaces it by its template's where known.
    """
    try:
        span_start, span_end = validate_span_range(args.span_start, args.span_end)
    except ValueError as err:
        raise SubmissionError(str(err)) from err
    trigger = args.trigger_id or f"{args.source}-{uuid.uuid4().hex[:12]}"
    defaults = defaults or Training()
    return RunRequest(
        job_id=job_id_for(pipeline_name, trigger),
        parameters={
            "num_epochs": defaults.num_epochs if args.num_epochs is None else args.num_epochs,
            "learning_rate": defaults.learning_rate if args.learning_rate is None else args.learning_rate,
            SPAN_START.name: span_start,
            SPAN_END.name: span_end,
        },
        # The same lineage labels an event run gets from the trigger function (contracts.run_request).
        labels=lineage_labels(
            working_tree_lineage(pipeline, template_sha256(args.template)),
            source=args.source,
            span_start=span_start,
            span_end=span_end,
            trigger=trigger,
        ),
        enable_caching=not args.no_cache,
    )


def resolve_template(config: EnvironmentConfig, ref: str | None) -> ResolvedTemplate:
    """The template a vertex run of `config` submits: `ref` (URI, sha256, commit:<sha>), or for None and
    `current` the environment's pin, else its pointer. TemplateNotFoundError (a SubmissionError) otherwise.

    An explicit template's lineage record is read when a run is submitted (release/vertex.py).
    """
    from release.publishing.current import current_template
    from release.publishing.store import store_for
    from release.publishing.templates import resolve_template as find_published

    try:
        if ref is None or ref == CURRENT:
            return current_template(config)
    except ValueError as err:  # a malformed lineage record beside the pinned template
        raise SubmissionError(str(err)) from None
    if not ref.startswith(("gs://", "/")) and not Path(ref).exists():
        # A sha256 or commit:<sha>: published in the release store (prod's is dev's: gcp.releases_from).
        ref = find_published(store_for(release_source(config).location("artifacts")), ref, config.selected)
    return ResolvedTemplate(ref, "explicit", Lineage(template_sha256=template_sha256(ref)))


def submitter_for(config: EnvironmentConfig, env: str, template: str | None, local_root: Path | None) -> Submitter:
    """The Submitter of environment `config`: the local run service, or Vertex with a published template.

    The one choice of backend: `submit` and the new-data check (release/datacheck) both take it from here.
    A vertex environment resolves its template now (`resolve_template`), and the champion at each submission.
    """
    if config.backend == "local":
        from localcloud.run_service import LocalSubmitter

        # The local worker runs the working tree's pipeline: the DAG the template holds, from the same code.
        if template and template.startswith("/") and not Path(template).is_file():
            raise SubmissionError(f"template {template} does not exist (publish it first)")
        return LocalSubmitter(environment_file(env).resolve(), config.local_paths(local_root), config.dataset)
    from release.vertex import VertexSubmitter

    return VertexSubmitter(config, resolve_template(config, template))


def _submitter(args: argparse.Namespace, config: EnvironmentConfig) -> Submitter:
    return submitter_for(config, args.env, args.template, args.local_root)


def outcome_of(result: SubmitResult, submitter: Submitter, args: argparse.Namespace, pipeline: str) -> dict[str, Any]:
    """What the result file records: the run, and the template and baseline it was submitted with (the
    current-template pointer is set from it: release/publishing/current.py)."""
    resolved: ResolvedTemplate | None = getattr(submitter, "template", None)
    template = resolved.uri if resolved is not None else args.template
    lineage = (
        resolved.lineage if resolved is not None else working_tree_lineage(pipeline, template_sha256(args.template))
    )
    baseline = getattr(submitter, "last_baseline", None)
    return {
        "job_id": result.job_id,
        "backend": result.backend,
        "created": result.created,
        "location": result.location,
        "submitted_at": time.time(),
        "source": args.source,
        "trigger": args.trigger_id,
        "template": template,
        "template_sha256": template_sha256(template),
        "template_source": resolved.source if resolved is not None else ("explicit" if template else None),
        "commit": lineage.commit,
        "dirty": lineage.dirty,
        "modules_sha256": lineage.modules_sha256,
        "image": lineage.image,
        "baseline": baseline.version if baseline is not None else None,
    }


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", category=FutureWarning)  # google-cloud's Python 3.10 notices.
    try:
        args = _parse(argv)
        config = load_pipeline_environment(args.env, args.pipeline)
        request = build_request(args, config.pipeline_name, config.training, config.dataset)
        submitter = _submitter(args, config)
        result = submitter.submit(request)
    except (ConfigError, SubmissionError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Exception as err:
        return exit_status(err)
    outcome = outcome_of(result, submitter, args, config.dataset)
    state = "submitted" if result.created else "already submitted (same job id): nothing new started"
    print(f"{result.job_id}: {state}\n  backend: {result.backend}\n  follow: {result.location}", flush=True)
    if outcome["template"] and result.backend == "vertex":
        baseline = outcome["baseline"] or "none (no champion yet)"
        print(f"  template: {outcome['template']} ({outcome['template_source']})\n  baseline: {baseline}", flush=True)
    code = 0
    if args.follow and result.backend == "local":
        from localcloud import run_store
        from localcloud.runs_cli import follow

        root = config.local_paths(args.local_root).root
        code = follow(root, result.job_id)
        record = run_store.load(root, result.job_id)
        outcome.update(
            status=record.status,
            blessed=record.blessed,
            pushed_version=record.pushed_version,
            pushed_by_this_run=record.pushed_by_this_run,
            metrics=record.metrics,
        )
    if args.result_file:
        write_result(args.result_file, outcome)
    return code


if __name__ == "__main__":
    sys.exit(main())
