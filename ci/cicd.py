"""The main job: run, on this machine, the workflows Cloud Build would run for what changed.

    nox -s cicd                         # changes since the last successful run on this environment
    nox -s cicd -- --base origin/main   # changes since a ref
    nox -s cicd -- --all                # every workflow, as on a first run
    nox -s cicd -- --dry-run            # print the plan only

The plan comes from the routing table (ci/routing.py) and the changed files: committed changes since the
base AND uncommitted ones (staged, unstaged, untracked), because the steps run the working tree; the output
says how many are uncommitted. Each step is the nox session Cloud Build calls. After every workflow
succeeds the commit is recorded, atomically, as the environment's last successful one
(.local/cicd/<env>.json); a failed run records nothing, so the next run plans the same changes again.
Exit status: 0 success (or nothing to run), 1 a step failed, 2 bad input (unknown ref, no history).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from ci.changes import ChangesError, all_files, changes_since, git, head_commit
from ci.routing import plan_pipelines, repository_pipelines
from ci.runner import DirectRunner, NoxRunner, Runner, Running, StepResult, finish_step, run_step, start_step
from ci.summary import render_summary
from ci.workflows import Context, Step, steps
from contracts.handover import write_result

REPO_ROOT = Path(__file__).resolve().parents[1]
# Pipeline first: it is what the job is for; the model tests then meet the champion a new run may have made;
# infra and the function follow.
ORDER = ("full", "modules", "model-tests", "function", "infra")


def state_path(repo: Path, env: str) -> Path:
    return repo / ".local" / "cicd" / f"{env}.json"


def read_state(repo: Path, env: str) -> dict[str, Any] | None:
    path = state_path(repo, env)
    try:
        state: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except ValueError as err:
        raise ChangesError(f"{path}: unreadable ({err}); delete it or pass --base REF") from None
    if not isinstance(state, dict) or not isinstance(state.get("commit"), str):
        raise ChangesError(f"{path}: no `commit` recorded; delete it or pass --base REF")
    return state


def write_state(repo: Path, env: str, state: dict[str, Any]) -> None:
    """Replace the record in one rename: a reader sees the old record or the new one, never a partial one."""
    write_result(state_path(repo, env), state)


def _uncommitted(repo: Path, head: str) -> list[str]:
    return list(changes_since(repo, head).uncommitted)


def _plan_inputs(args: argparse.Namespace, repo: Path, head: str) -> tuple[str, list[str], list[str]]:
    """(how the base was chosen, changed files, uncommitted files)."""
    if args.all:
        return "--all: every file", list(all_files(repo)), _uncommitted(repo, head)
    base = args.base
    if base is None:
        state = read_state(repo, args.env)
        if state is None:
            label = f"first run on '{args.env}' (no successful run recorded): every file"
            return label, list(all_files(repo)), _uncommitted(repo, head)
        base = state["commit"]
        try:
            changes = changes_since(repo, base)
        except ChangesError as err:
            raise ChangesError(
                f"the last successful commit on '{args.env}' ({base[:12]}, {state_path(repo, args.env)}) "
                f"cannot be used: {err}. Pass --base REF or --all."
            ) from None
        label = f"since the last successful run on '{args.env}' ({base[:12]})"
    else:
        changes = changes_since(repo, base)
        label = f"since {base} ({changes.base[:12]})"
    if changes.base == head and not changes.uncommitted:
        label += ", which is HEAD"
    return label, list(changes.files), list(changes.uncommitted)


def _state(head: str, branch: str, run_id: str, workflows: list[str], uncommitted: list[str]) -> dict[str, Any]:
    return {
        "commit": head,
        "branch": branch,
        "run_id": run_id,
        "workflows": workflows,
        # Uncommitted files that were part of the run; the next run plans them again (from this commit).
        "uncommitted": uncommitted,
        "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def _run_plan(
    plan: list[tuple[str, list[Step]]], runner: Runner, repo: Path, ctx: Context, out: TextIO
) -> tuple[list[tuple[str, StepResult]], bool]:
    """Run the workflows' steps in order, background steps alongside the next ones; stop at the first failure."""
    results: list[tuple[str, StepResult]] = []
    done: dict[tuple[str, tuple[str, ...]], str] = {}
    for workflow, workflow_steps in plan:
        background: Running | None = None
        for step in workflow_steps:
            key = (step.session, step.args)
            if key in done:
                # Two workflows share a step (function and infra both synthesize): run it once per job.
                results.append((workflow, StepResult(step, "reused", 0.0, f"ran in the {done[key]} workflow")))
                continue
            if step.joins and background is not None:
                results.append((workflow, finish_step(background, out)))
                background = None
                if results[-1][1].status == "failed":
                    return results, True
            if step.background:
                log = repo / ctx.work_dir / f"{workflow}-{step.session}.log"
                background = start_step(runner, step, repo, log, out)
            else:
                results.append((workflow, run_step(runner, step, repo, out)))
            done[key] = workflow
            if results and results[-1][1].status == "failed":
                if background is not None:
                    results.append((workflow, finish_step(background, out, cancel=True)))
                return results, True
        if background is not None:
            results.append((workflow, finish_step(background, out)))
            if results[-1][1].status == "failed":
                return results, True
    return results, False


def _branch(repo: Path) -> str:
    name = git(repo, "rev-parse", "--abbrev-ref", "HEAD").strip()
    return "detached" if name == "HEAD" else name


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ci.cicd", description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="local", help="environment (envs/<name>.yaml); default: local")
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument("--base", metavar="REF", help="plan the changes since this git ref")
    scope.add_argument("--all", action="store_true", help="run every workflow")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and the steps; run nothing")
    parser.add_argument("--repo", type=Path, default=REPO_ROOT, help=argparse.SUPPRESS)
    # Tests run the step commands with their own interpreter instead of nox (see ci.runner.DirectRunner).
    parser.add_argument("--direct-python", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    started = time.time()
    args = _parse(argv)
    repo = args.repo.resolve()
    try:
        head = head_commit(repo)
        label, files, uncommitted = _plan_inputs(args, repo, head)
        branch = _branch(repo)
    except ChangesError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    planned = plan_pipelines(files, repository_pipelines(repo))
    workflows = sorted(planned, key=ORDER.index)
    print(f"cicd on '{args.env}' at {head[:12]} ({branch}): {len(files)} changed file(s) {label}", file=out)
    if uncommitted:
        print(f"  {len(uncommitted)} of them uncommitted: they count (the steps run the working tree)", file=out)
    named = [f"{w} ({', '.join(planned[w])})" if planned[w] else w for w in workflows]
    print(f"  workflows: {', '.join(named) if named else 'none (no change that runs anything)'}", file=out)
    run_id = f"cicd-{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    ctx = Context(args.env, head, branch, run_id, bool(uncommitted), f"build/cicd/{run_id}")
    plan = [(workflow, steps(workflow, ctx, planned[workflow])) for workflow in workflows]
    if not workflows and not args.dry_run:
        write_state(repo, args.env, _state(head, branch, run_id, workflows, uncommitted))
        print(f"nothing to run; recorded {head[:12]} as the last successful commit on '{args.env}'", file=out)
        return 0
    if args.dry_run:
        for workflow, workflow_steps in plan:
            for step in workflow_steps:
                when = " (in the background)" if step.background else ""
                print(f"  {workflow}: {step.name}{when}: nox -s {step.session} -- {' '.join(step.args)}", file=out)
        return 0
    (repo / ctx.work_dir).mkdir(parents=True, exist_ok=True)
    runner: Runner = DirectRunner(repo, args.direct_python) if args.direct_python else NoxRunner(repo)
    results, failed = _run_plan(plan, runner, repo, ctx, out)
    # Background steps end later than they start; the summary lists every step in its workflow's order.
    order = {
        (w, id(step)): (i, j) for i, (w, workflow_steps) in enumerate(plan) for j, step in enumerate(workflow_steps)
    }
    results.sort(key=lambda item: order[(item[0], id(item[1].step))])
    summary = render_summary(repo / ctx.work_dir, results, started=started, run_id=run_id, workflows=workflows)
    print(summary.text, file=out)
    write_result(repo / ctx.work_dir / "summary.json", summary.data)
    if failed:
        print(f"cicd failed: nothing recorded; the next run plans these changes again ({run_id})", file=out)
        return 1
    write_state(repo, args.env, _state(head, branch, run_id, workflows, uncommitted))
    print(f"recorded {head[:12]} as the last successful commit on '{args.env}'", file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
