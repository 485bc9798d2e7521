"""Synthesize every environment's stack to Terraform JSON, atomically: all of it or nothing.

    python -m infra.synth [--out build/infra] [--env dev --env prod | --env path/to/env.yaml]

Every environment file is validated before anything is built; an invalid one stops with a message naming the
file and the field (exit 2) and the output folder is left exactly as it was. The stacks are synthesized into a
temporary folder beside the output and moved into place only when all of them succeeded. Prints where each
stack's Terraform JSON is: <out>/stacks/<env>/cdk.tf.json. Needs Node.js (jsii), not Terraform, no network.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from contracts.config import ConfigError
from contracts.trigger_message import MessageError
from infra.app import ENVIRONMENTS, build_app, load_configs

DEFAULT_OUT = Path("build") / "infra"


def synthesize(out: Path, environments: Sequence[str | Path] = ENVIRONMENTS) -> list[Path]:
    """Write all stacks under `out` (replacing it) and return their cdk.tf.json paths; raises ConfigError."""
    configs = load_configs(environments)
    out = out.resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    staging.chmod(0o755)  # mkdtemp makes it private; the output is an ordinary folder.
    try:
        build_app(configs, staging).synth()
        previous = out.with_name(f".{out.name}-previous")
        if out.exists():
            out.rename(previous)
        staging.rename(out)
        shutil.rmtree(previous, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return [out / "stacks" / config.name / "cdk.tf.json" for config in configs]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="infra.synth", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default: {DEFAULT_OUT})")
    parser.add_argument("--env", action="append", help="environment name or file (repeatable; default: dev, prod)")
    args = parser.parse_args(argv)
    try:
        paths = synthesize(args.out, args.env or ENVIRONMENTS)
    except (ConfigError, MessageError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
