"""The model registry from the command line: list, show, promote, auto-promote, roll back, approve, history, repair.

    python -m release.models_cli list [--env local] [--pipeline NAME] [--local-root DIR] [--json]
    python -m release.models_cli show VERSION
    python -m release.models_cli promote VERSION [--approve NAME] [--reason TEXT]
    python -m release.models_cli auto-promote VERSION          # what runs after a version is registered
    python -m release.models_cli rollback [--to VERSION] [--approve NAME] [--reason TEXT]
    python -m release.models_cli approve BUILD_ID [--reject] [--reason TEXT]
    python -m release.models_cli history
    python -m release.models_cli repair                         # settle a stopped move, put serving back
    python -m release.models_cli promote VERSION --canary PERCENT   # serve it to PERCENT of requests first
    python -m release.models_cli canary [status|promote|rollback]   # the running canary; end it by hand
    python -m release.models_cli canary settle                  # apply the monitor's stored verdict (canary build)

Each command works on one pipeline's registered model (--pipeline NAME; optional where the environment has one
pipeline, and without it an environment with several is refused, exit status 2, listing them). The
environment decides the backend (MLflow under the local root, or Vertex AI) and whether a move needs an
approval (release.auto_promote); --env takes the environments in envs/, or a file that names no approval-gated
environment's project and location (release/promotion/targets.py). Locally the approval is `--approve NAME`;
on Google Cloud it is Cloud Build's: promote and rollback start the approval-gated promote build and print its
id, `approve` decides it, and the approved build makes the move (release/approvals.py). A version must have
passed its pipeline's model tests (release/model_tests/), and every move is one recorded transaction
(release/promotion/): a move stopped half way is settled by the next move or by `repair`. A promotion with
--canary (or release.canary.percent in the environment) starts a canary instead: the version serves that share
of the traffic beside the champion until the monitor (`nox -s monitor`) judges it after its bake time and
promotes or rolls it back on its own (release/promotion/canary.py); `canary promote|rollback` ends it by hand.
Exit status: 0 done, 1 a step failed (the model tests, a deploy; nothing moved), 2 bad input (nothing
changed), 3 retry (Google Cloud unavailable, a deploy still running, another move in progress), 4 Google
Cloud refused: credentials, permission, not found (release/cloud_errors.py).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import warnings
from pathlib import Path
from typing import Any

from contracts.config import ConfigError, add_pipeline_argument
from contracts.environment import EnvironmentConfig
from contracts.registry import (
    CHAMPION,
    AliasMove,
    ModelVersion,
    RegistryError,
    SmokeTestFailedError,
    registry_target,
)
from release.cloud_errors import UNAVAILABLE, cloud_failure
from release.model_tests import ModelTestsNotRunError
from release.promotion.targets import load_pipeline_target, load_target

MOVES = ("promote", "auto-promote", "rollback", "repair")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--env", default="local", help="environment: a name in envs/, or a file")
    add_pipeline_argument(common)
    common.add_argument("--local-root", type=Path, help="local: state folder (default: the environment's)")
    common.add_argument("--json", action="store_true", help="print JSON instead of text")
    mover = argparse.ArgumentParser(add_help=False)
    mover.add_argument("--approve", metavar="NAME", help="who approved the move (required where auto_promote is off)")
    mover.add_argument("--reason", default="manual", help="why, for the history")
    mover.add_argument("--by", default=None, help="who moves it (default: the current user)")
    mover.add_argument(
        "--build",
        "--approved-build",
        dest="build",
        metavar="BUILD_ID",
        help="Google Cloud: the Cloud Build build this step runs in (promote, rollback: its approval is checked)",
    )
    parser = argparse.ArgumentParser(prog="models", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", parents=[common], help="every version with aliases and lineage")
    commands.add_parser("show", parents=[common], help="one version").add_argument("version")
    canary = argparse.ArgumentParser(add_help=False)
    canary.add_argument(
        "--canary",
        type=int,
        metavar="PERCENT",
        help="serve VERSION to PERCENT (1-99) of the requests beside the champion first; 0: all at once "
        "(default: release.canary.percent, else all at once)",
    )
    promote = commands.add_parser("promote", parents=[common, mover, canary], help="make VERSION the champion")
    promote.add_argument("version")
    auto = commands.add_parser(
        "auto-promote",
        parents=[common, mover, canary],
        help="promote a newly registered VERSION where auto_promote is on",
    )
    auto.add_argument("version")
    watch = commands.add_parser(
        "canary", parents=[common, mover], help="the running canary (status), or end it by hand (promote, rollback)"
    )
    watch.add_argument("action", nargs="?", choices=("status", "promote", "rollback", "settle"), default="status")
    back = commands.add_parser("rollback", parents=[common, mover], help="the champion back to the one before it")
    back.add_argument("--to", metavar="VERSION", help="roll back to this version instead")
    # The promote build passes the version it was approved for in the same place for both actions.
    back.add_argument("version", nargs="?", help="same as --to")
    decide = commands.add_parser("approve", parents=[common], help="Google Cloud: approve a pending promote build")
    decide.add_argument("build_id")
    decide.add_argument("--reject", action="store_true", help="reject it instead (the build then never runs)")
    decide.add_argument("--reason", default="", help="the comment Cloud Build records with the decision")
    commands.add_parser("history", parents=[common], help="every alias move")
    commands.add_parser("repair", parents=[common], help="settle a move that stopped half way; serving to the alias")
    return parser.parse_args(argv)


def _line(version: ModelVersion, metric: str) -> str:
    """One version as `list` shows it, with its value of `metric` (the gate metric's key, e.g. its accuracy)."""
    lineage = version.lineage
    value = lineage.metrics.get(metric)
    spans = ",".join(str(s.number) for s in lineage.spans) or "-"
    return (
        f"{version.version:>8}  {','.join(version.aliases) or '-':<10} {version.created_at[:19]}  "
        f"commit {lineage.commit or '-':<12}  spans {spans:<4} {metric} {value if value is not None else '-'}"
    )


def _move_line(move: AliasMove) -> str:
    approval = f", approved by {move.approved_by}" if move.approved_by else ""
    share = f" at {move.percent}%" if move.percent else ""
    change = f"{move.alias}: {move.from_version or '-'} -> {move.to_version}{share}"
    serving = f" [{move.serving}]" if move.serving else ""
    return f"{move.at[:19]}  {move.kind:<8} {change}  by {move.by}{approval}: {move.reason}{serving}"


def _print(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, sort_keys=True) if args.json else text)


def run(args: argparse.Namespace) -> None:
    from components.registry import open_registry

    if args.command == "approve":  # A build's decision: whichever pipeline it moves.
        _decide(args, load_target(args.env))
        return
    config = load_pipeline_target(args.env, args.pipeline)
    registry = open_registry(registry_target(config, args.local_root))
    if registry.target.backend == "mlflow" and args.command not in MOVES:
        _settle_locally(registry)
    if args.command == "list":
        versions = registry.versions()
        text = "\n".join(_line(v, config.evaluation.gate.key) for v in versions) or "no versions"
        _print(args, [v.model_dump(mode="json") for v in versions], text)
    elif args.command == "show":
        version = registry.get(args.version)
        _print(args, version.model_dump(mode="json"), json.dumps(version.model_dump(mode="json"), indent=2))
    elif args.command == "history":
        _history(args, registry)
    elif args.command == "repair":
        _repair(args, registry)
    elif args.command == "canary":
        _canary(args, config, registry)
    elif _needs_cloud_build_approval(args, config):
        _request(args, config, registry)
    else:
        _move(args, config, registry)


def _settle_locally(registry: Any) -> None:
    """A local read settles what a stopped move left pending first (cheap when nothing is): what it shows agrees.

    On Google Cloud reads only read: settling there writes the journal and may move traffic, which is a move's
    (or `repair`'s) business and permissions.
    """
    from release.promotion.moves import open_mover

    mover = open_mover(registry)
    with mover.locked():
        for entry in mover.settle():
            print(f"settled {entry.describe()}", file=sys.stderr)


def _history(args: argparse.Namespace, registry: Any) -> None:
    from release.promotion.journal import committed
    from release.promotion.moves import open_mover

    entries = open_mover(registry).entries()
    moves = committed(entries)
    lines = [_move_line(m) for m in moves] or ["no moves"]
    lines += [f"{e.describe()}: `models repair` settles it" for e in entries if e.state == "pending"]
    _print(args, [m.model_dump(mode="json") for m in moves], "\n".join(lines))


def _repair(args: argparse.Namespace, registry: Any) -> None:
    from release.promotion.moves import open_mover, repair

    settled, changed = repair(open_mover(registry))
    lines = [f"settled {e.describe()}" for e in settled] + changed
    data = {"settled": [e.describe() for e in settled], "changed": changed}
    _print(args, data, "\n".join(lines) or "nothing to repair: the history, the alias and serving agree")


def _needs_cloud_build_approval(args: argparse.Namespace, config: EnvironmentConfig) -> bool:
    """On Google Cloud without auto_promote the move is an approved build's; --approve NAME is the local form."""
    if args.command == "auto-promote" or config.gcp is None or config.release.auto_promote or args.build:
        return False
    if getattr(args, "canary", None):
        raise RegistryError(
            f"{config.name}: an approved build promotes as the environment file says: set release.canary.percent "
            "there for canaries (--canary is for environments without approval builds)"
        )
    if args.approve:
        raise RegistryError(
            f"{config.name}: approvals here are Cloud Build's, not --approve: run without it to start the "
            "approval build, then `models approve BUILD_ID`"
        )
    return True


def _rollback_target(args: argparse.Namespace) -> str | None:
    if args.to and args.version and args.to != args.version:
        raise RegistryError(f"rollback: --to {args.to} and {args.version} disagree; give one")
    return args.to or args.version or None


def _request(args: argparse.Namespace, config: EnvironmentConfig, registry: Any) -> None:
    from release import approvals
    from release.promotion.moves import open_mover, rollback_target

    assert config.gcp is not None
    # The approver sees the concrete version: a rollback to "the one before" is resolved now.
    version = args.version if args.command == "promote" else _rollback_target(args)
    version = version or rollback_target(open_mover(registry))
    registry.get(version)  # an unknown version fails here, before anyone is asked to approve it
    by = args.by or getpass.getuser()
    build_id = approvals.request_move(
        approvals.client(), config.gcp, config.selected, args.command, version, by=by, reason=args.reason
    )
    text = (
        f"{args.command} {version}: approval build {build_id} is waiting for an approver; "
        f"approve it with `nox -s models -- approve {build_id} --env {args.env}` (or --reject)"
    )
    _print(args, {"build_id": build_id, "action": args.command, "version": version}, text)


def _decide(args: argparse.Namespace, config: EnvironmentConfig) -> None:
    from release import approvals

    if config.gcp is None:
        raise RegistryError(f"{config.name}: no Cloud Build here; local approvals are `promote --approve NAME`")
    approve = not args.reject
    approvals.decide(approvals.client(), config.gcp, args.build_id, approve=approve, comment=args.reason)
    verb = "approved" if approve else "rejected"
    _print(args, {"build_id": args.build_id, "decision": verb}, f"build {args.build_id}: {verb}")


def _move(args: argparse.Namespace, config: EnvironmentConfig, registry: Any) -> None:
    from release.promotion import moves

    version = _rollback_target(args) if args.command == "rollback" else args.version
    by, reason, approved_by = args.by or getpass.getuser(), args.reason, args.approve
    if args.build and args.command == "auto-promote":
        by = args.by or f"cloudbuild:{args.build}"
    elif args.build:
        approved = _approved(args, config, version)
        by, reason, approved_by = approved.by, approved.reason, approved.approved_by
    mover = moves.open_mover(registry)
    gate = _gate(registry, config.dataset, f"{args.command} by {by}")
    percent = _canary_percent(args, config)
    if percent:
        from release.promotion import canary

        move = canary.start(
            mover, version, percent, gate, by=by, reason=reason, approved_by=approved_by,
            auto=args.command == "auto-promote",
        )  # fmt: skip
        if move is None:
            _print(args, None, f"version {version}: already the champion or its canary at {percent}%: nothing changed")
        else:
            _print(args, move.model_dump(mode="json"), _move_line(move))
        return
    if args.command == "promote":
        move = moves.promote(mover, version, gate, by=by, reason=reason, approved_by=approved_by)
    elif args.command == "auto-promote":
        move = moves.auto_promote(mover, version, gate, by=by)
    else:
        move = moves.rollback(mover, gate, to=version, by=by, reason=reason, approved_by=approved_by)
    if move is None:
        _print(args, None, f"version {version} is already {CHAMPION}: nothing changed")
    else:
        _print(args, move.model_dump(mode="json"), _move_line(move))


def _canary_percent(args: argparse.Namespace, config: EnvironmentConfig) -> int | None:
    """The share a promotion starts as a canary at: --canary (0: none), else release.canary.percent."""
    asked = getattr(args, "canary", None)
    if args.command == "rollback":
        return None
    if asked is None:
        return config.release.canary.percent
    if not 0 <= asked <= 99:
        raise RegistryError(f"--canary {asked}: a share of 1 to 99 percent (0: all the traffic at once)")
    return asked or None


def _canary(args: argparse.Namespace, config: EnvironmentConfig, registry: Any) -> None:
    from release.promotion import canary
    from release.promotion.moves import check_approval, open_mover

    mover = open_mover(registry)
    if args.action == "status":  # A read: settled first locally (run() did), never on Google Cloud.
        running = canary.running(mover)
        if running is None:
            _print(args, None, "no canary is running")
        else:
            bake = config.release.canary.bake_minutes
            text = (
                f"version {running.candidate} serves {running.percent}% beside champion {running.champion} since "
                f"{running.started_at[:19]} (by {running.started_by}); the monitor judges it once {bake} min have "
                "passed"
            )
            _print(args, running.as_dict(), text)
        return
    by = args.by or getpass.getuser()
    if args.action == "settle":  # The verdict the monitor stored, applied (on Google Cloud: the canary build).
        from release.datacheck.layout import open_store
        from release.monitor.canary import apply_verdict

        by = f"cloudbuild:{args.build}" if args.build else by
        settled = apply_verdict(mover, open_store(config, args.local_root), by=by)
        if settled is None:
            _print(args, None, "nothing to settle: no canary is running, or the monitor has no verdict on it yet")
        else:
            _print(args, settled.model_dump(mode="json"), _move_line(settled))
        return
    if args.action == "promote":  # By hand the champion moves as a promotion does: approved where required.
        if config.gcp is not None and not config.release.auto_promote:
            raise RegistryError(
                f"{config.name}: the champion moves here by an approved build: the monitor promotes the canary after "
                "its bake time, or `models promote VERSION` asks for an approval"
            )
        check_approval(registry.target, args.approve)
    move = canary.finish(mover, args.action, by=by, reason=f"canary {args.action} by hand: {args.reason}")
    _print(args, move.model_dump(mode="json"), _move_line(move))


def _gate(registry: Any, pipeline: str, by: str) -> Any:
    """The model tests of `pipeline` a move needs: a recorded pass, or a run in a child process started only
    when needed."""
    from release.model_tests.process import SuiteProcess
    from release.model_tests.records import outcomes_for
    from release.model_tests.suite import suite_sha256
    from release.promotion.moves import ModelTestGate

    target = registry.target
    outcomes = outcomes_for(target, credentials=getattr(registry, "credentials", None))
    return ModelTestGate(outcomes, suite_sha256(pipeline), lambda: SuiteProcess(pipeline, target.project), by)


def _approved(args: argparse.Namespace, config: EnvironmentConfig, version: str | None) -> Any:
    from release import approvals

    if config.gcp is None or not version:
        raise RegistryError("--build: only on Google Cloud, with the version the build was approved for")
    return approvals.approved_move(approvals.client(), config.gcp, config.selected, args.build, args.command, version)


def _status(err: BaseException) -> tuple[int, str]:
    """The exit status and the one line for a failed command, from the error and what caused it."""
    from release.promotion.vertex_endpoint import DeployUnresolvedError, ServingError
    from release.promotion.vertex_journal import MoveInProgressError

    chain: list[BaseException] = [err]
    while chain[-1].__cause__ is not None and len(chain) < 10:
        chain.append(chain[-1].__cause__)
    for link in chain:
        if isinstance(link, SmokeTestFailedError | ModelTestsNotRunError):
            return 1, f"{err}; the champion did not move"
        if isinstance(link, DeployUnresolvedError | MoveInProgressError):
            return UNAVAILABLE, str(err)
        failure = cloud_failure(link) if isinstance(link, Exception) else None
        if failure is not None:
            return failure.status, f"{err} ({failure})" if link is not err else str(failure)
    if any(isinstance(link, ServingError) for link in chain):
        return 1, str(err)
    return 2, str(err)


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", category=FutureWarning)  # google-cloud's Python 3.10 notices.
    args = _parse(argv)
    try:
        run(args)
    except (ConfigError, RegistryError, ModelTestsNotRunError) as err:
        status, message = _status(err)
    except Exception as err:
        failure = cloud_failure(err)
        if failure is None:
            raise
        status, message = failure.status, str(failure)
    else:
        return 0
    print(f"error: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
