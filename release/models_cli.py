"""The model registry from the command line: list, show, promote, roll back, history.

    python -m release.models_cli list [--env local] [--local-root DIR] [--json]
    python -m release.models_cli show VERSION
    python -m release.models_cli promote VERSION [--approve NAME] [--reason TEXT]
    python -m release.models_cli rollback [--to VERSION] [--approve NAME] [--reason TEXT]
    python -m release.models_cli history

The environment decides the backend (MLflow under the local root, or Vertex AI) and whether promotion needs
an approval (release.auto_promote). Every alias move is smoke-tested first and recorded with who and why.
Exit status: 0 done, 1 the smoke test failed (nothing moved), 2 bad input (nothing changed).
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
from contracts.registry import CHAMPION, AliasMove, ModelVersion, RegistryError, SmokeTestFailedError, registry_target


def _parse(argv: list[str] | None) -> argparse.Namespace:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--env", default="local", help="environment name (envs/<name>.yaml) or file")
    common.add_argument("--local-root", type=Path, help="local: state folder (default: the environment's)")
    common.add_argument("--json", action="store_true", help="print JSON instead of text")
    mover = argparse.ArgumentParser(add_help=False)
    mover.add_argument("--approve", metavar="NAME", help="who approved the move (required where auto_promote is off)")
    mover.add_argument("--reason", default="manual", help="why, for the history")
    mover.add_argument("--by", default=None, help="who moves it (default: the current user)")
    parser = argparse.ArgumentParser(prog="models", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", parents=[common], help="every version with aliases and lineage")
    commands.add_parser("show", parents=[common], help="one version").add_argument("version")
    commands.add_parser("promote", parents=[common, mover], help="make VERSION the champion").add_argument("version")
    back = commands.add_parser("rollback", parents=[common, mover], help="the champion back to the previous one")
    back.add_argument("--to", metavar="VERSION", help="roll back to this version instead")
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
    return f"{move.at[:19]}  {move.kind:<8} {change}  by {move.by}{approval}: {move.reason}"


def _print(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, sort_keys=True) if args.json else text)


def run(args: argparse.Namespace) -> None:
    from components.registry import open_registry
    from components.registry.promotion import move_champion, rollback

    config = load_environment(args.env)
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
    else:
        by = args.by or getpass.getuser()
        if args.command == "promote":
            move = move_champion(registry, args.version, by=by, reason=args.reason, approved_by=args.approve)
        else:
            move = rollback(registry, to=args.to, by=by, reason=args.reason, approved_by=args.approve)
        if move is None:
            _print(args, None, f"version {args.version} is already {CHAMPION}: nothing changed")
        else:
            _print(args, move.model_dump(mode="json"), _move_line(move))


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
    return 0


if __name__ == "__main__":
    sys.exit(main())
