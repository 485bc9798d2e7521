"""Print which workflows a change runs, as JSON (standard library only, so it answers in milliseconds).

    python -m ci.plan --files pipelines/penguins/modules/model.py README.md
    python -m ci.plan --base origin/main            # committed and uncommitted changes since that ref
    python -m ci.plan --base HEAD~1 --committed-only

Output: {"workflows": [...], "pipelines": {...}, "triggers": [...], "superseded": {...}, "pull_request": [...],
"files": [...]}.
`workflows` is what a push runs (sorted; empty for a documentation-only change); `pipelines` names, for each
workflow that runs per pipeline (full, modules), the pipelines it runs for (a change in pipelines/<name>/ runs
that pipeline's, a change to what they share runs every pipeline's); `triggers` is what Cloud
Build's push filters would fire (a superseded trigger still fires there and stops at its first step, see
ci/cloudbuild/modules.yaml); `pull_request` is what a pull request with these changes runs (the `checks` that
gate its merge).
Exit status: 0 planned, 2 bad input (unknown ref, no history, bad path).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ci.changes import ChangesError, changes_since
from ci.routing import (
    PER_PIPELINE,
    SUPERSEDES,
    fired,
    fired_on_pull_request,
    normalize,
    plan_pipelines,
    repository_pipelines,
)

REPO_ROOT = Path(__file__).resolve().parents[1]


def plan(files: list[str], pipelines: tuple[str, ...] | None = None) -> dict[str, Any]:
    """The plan for a list of changed, repository-relative paths (`pipelines`: default the repository's)."""
    paths = sorted({normalize(f) for f in files})
    triggers = fired(paths)
    planned = plan_pipelines(paths, repository_pipelines(REPO_ROOT) if pipelines is None else pipelines)
    workflows = sorted(planned)
    superseded = {w: SUPERSEDES[w] for w in triggers if w not in workflows}
    return {
        "workflows": workflows,
        "pipelines": {w: names for w, names in planned.items() if w in PER_PIPELINE},
        "triggers": triggers,
        "superseded": superseded,
        "pull_request": fired_on_pull_request(paths),
        "files": paths,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ci.plan", description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--files", nargs="+", metavar="PATH", help="changed paths, relative to the repository root")
    source.add_argument("--base", metavar="REF", help="plan the changes since this git ref")
    parser.add_argument("--repo", type=Path, default=REPO_ROOT)
    parser.add_argument("--committed-only", action="store_true", help="with --base: ignore uncommitted changes")
    args = parser.parse_args(argv)
    try:
        if args.files is not None:
            result = plan(args.files)
        else:
            changes = changes_since(args.repo, args.base, include_uncommitted=not args.committed_only)
            result = plan(list(changes.files))
            result.update(base=changes.base, head=changes.head, uncommitted=list(changes.uncommitted))
    except (ChangesError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
