"""The model registry from the command line: list, show, promote, roll back, history.

    python -m release.models_cli list [--env local] [--local-root DIR] [--json]
    python -m release.models_cli show VERSION
    python -m release.models_cli promote VERSION [--approve NAME] [--reason TEXT]
    python -m release.models_cli rollback [--to VERSION] [--approve NAME] [--reason TEXT]
    python -m release.models_cli approve BUILD_ID [--reject] [--reason TEXT]
    python -m release.models_cli history

The environment decides the backend (MLflow under the local root, or Vertex AI) and whether promotion needs
an approval (release.auto_promote). Locally that approval is `--approve NAME`; on Google Cloud it is Cloud
Build's: promote and rollback start the approval-gated promote build and print its id, `approve` decides it,
and the approved build makes the move (release/approvals.py). Every alias move is smoke-tested first and
recorded with who and why.
Exit status: 0 done, 1 the smoke test failed (nothing moved), 2 bad input (nothing changed), 3 Google Cloud
unavailable (retry), 4 Google Cloud refused: credentials, permission, not found (release/cloud_errors.py).
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import warnings
from pathlib import Path
from typing import Any

from contracts.config import ConfigError, load_environment
from contracts.environment import EnvironmentConfig
from contracts.registry import (
    CHAMPION,
    AliasMove,
    ModelVersion,
    Registry,
    RegistryError,
    SmokeTestFailedError,
    registry_target,
)
from release.cloud_errors import cloud_failure


def _parse(argv: list[str] | None) -> argparse.Namespace:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--env", default="local", help="environment name (envs/<name>.yaml) or file")
    common.add_argument("--local-root", type=Path, help="local: state folder (default: the environment's)")
    common.add_argument("--json", action="store_true", help="print JSON instead of text")
    mover = argparse.ArgumentParser(add_help=False)
    mover.add_argument("--approve", metavar="NAME", help="who approved the move (required where auto_promote is off)")
    mover.add_argument("--reason", default="manual", help="why, for the history")
    mover.add_argument("--by", default=None, help="who moves it (default: the current user)")
    mover.add_argument(
        "--approved-build", metavar="BUILD_ID", help="Google Cloud: the approved promote build this step runs in"
    )
    parser = argparse.ArgumentParser(prog="models", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", parents=[common], help="every version with aliases and lineage")
    commands.add_parser("show", parents=[common], help="one version").add_argument("version")
    commands.add_parser("promote", parents=[common, mover], help="make VERSION the champion").add_argument("version")
    back = commands.add_parser("rollback", parents=[common, mover], help="the champion back to the previous one")
    back.add_argument("--to", metavar="VERSION", help="roll back to this version instead")
    # The promote build passes the version it was approved for in the same place for both actions.
    back.add_argument("version", nargs="?", help="same as --to")
    decide = commands.add_parser("approve", parents=[common], help="Google Cloud: approve a pending promote build")
    decide.add_argument("build_id")
    decide.add_argument("--reject", action="store_true", help="reject it instead (the build then never runs)")
    decide.add_argument("--reason", default="", help="the comment Cloud Build records with the decision")
    commands.add_parser("history", parents=[common], help="every alias move")
    return parser.parse_args(argv)


def _line(version: ModelVersion) -> str:
    lineage = version.lineage
    accuracy = lineage.metrics.get("sparse_categorical_accuracy")
    spans = ",".join(str(s.number) for s in lineage.spans) or "-"
    return (
        f"{version.version:>8}  {','.join(version.aliases) or '-':<10} {version.created_at[:19]}  "
        f"commit {lineage.commit or '-':<12}  spans {spans:<4} accuracy {accuracy if accuracy is not None else '-'}"
    )


def _move_line(move: AliasMove) -> str:
    approval = f", approved by {move.approved_by}" if move.approved_by else ""
    change = f"{move.alias}: {move.from_version or '-'} -> {move.to_version}"
    serving = f" [{move.serving}]" if move.serving else ""
    return f"{move.at[:19]}  {move.kind:<8} {change}  by {move.by}{approval}: {move.reason}{serving}"


def _print(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, sort_keys=True) if args.json else text)


def run(args: argparse.Namespace) -> None:
    from components.registry import open_registry

    config = load_environment(args.env)
    if args.command == "approve":
        _decide(args, config)
        return
    registry = open_registry(registry_target(config, args.local_root))
    if args.command == "list":
        versions = registry.versions()
        _print(args, [v.model_dump(mode="json") for v in versions], "\n".join(map(_line, versions)) or "no versions")
    elif args.command == "show":
        version = registry.get(args.version)
        _print(args, version.model_dump(mode="json"), json.dumps(version.model_dump(mode="json"), indent=2))
    elif args.command == "history":
        moves = registry.history()
        _print(args, [m.model_dump(mode="json") for m in moves], "\n".join(map(_move_line, moves)) or "no moves")
    elif _needs_cloud_build_approval(args, config):
        _request(args, config, registry)
    else:
        _move(args, config, registry)


def _needs_cloud_build_approval(args: argparse.Namespace, config: EnvironmentConfig) -> bool:
    """On Google Cloud without auto_promote the move is an approved build's; --approve NAME is the local form."""
    if config.gcp is None or config.release.auto_promote or args.approved_build:
        return False
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


def _request(args: argparse.Namespace, config: EnvironmentConfig, registry: Registry) -> None:
    from components.registry.promotion import previous_champion
    from release import approvals

    assert config.gcp is not None
    # The approver sees the concrete version: a rollback to "the previous one" is resolved now.
    version = args.version if args.command == "promote" else _rollback_target(args) or previous_champion(registry)
    registry.get(version)  # an unknown version fails here, before anyone is asked to approve it
    by = args.by or getpass.getuser()
    build_id = approvals.request_move(approvals.client(), config.gcp, args.command, version, by=by, reason=args.reason)
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


def _move(args: argparse.Namespace, config: EnvironmentConfig, registry: Registry) -> None:
    from components.registry.promotion import move_champion, rollback

    version = args.version if args.command == "promote" else _rollback_target(args)
    by, reason, approved_by = args.by or getpass.getuser(), args.reason, args.approve
    if args.approved_build:
        approved = _approved(args, config, version)
        by, reason, approved_by = approved.by, approved.reason, approved.approved_by
    if args.command == "promote":
        from components.registry.smoke import SmokeProcess

        # Started before the registry is read: the child's TensorFlow import overlaps MLflow's here.
        smoke = SmokeProcess()
        try:
            move = move_champion(registry, version, by=by, reason=reason, approved_by=approved_by, smoke=smoke)
        finally:
            smoke.close()
    else:
        move = rollback(registry, to=version, by=by, reason=reason, approved_by=approved_by)
    if move is None:
        _print(args, None, f"version {version} is already {CHAMPION}: nothing changed")
    else:
        _print(args, move.model_dump(mode="json"), _move_line(move))


def _approved(args: argparse.Namespace, config: EnvironmentConfig, version: str | None):
    from release import approvals

    if config.gcp is None or not version:
        raise RegistryError("--approved-build: only on Google Cloud, with the version the build was approved for")
    return approvals.approved_move(approvals.client(), config.gcp, args.approved_build, args.command, version)


def main(argv: list[str] | None = None) -> int:
    warnings.filterwarnings("ignore", category=FutureWarning)  # google-cloud's Python 3.10 notices.
    args = _parse(argv)
    try:
        run(args)
    except SmokeTestFailedError as err:
        print(f"error: {err}; the champion did not move", file=sys.stderr)
        return 1
    except (ConfigError, RegistryError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except Exception as err:
        failure = cloud_failure(err)
        if failure is None:
            raise
        print(f"error: {failure}", file=sys.stderr)
        return failure.status
    return 0


if __name__ == "__main__":
    sys.exit(main())
