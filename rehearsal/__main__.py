"""python -m rehearsal: the cloud rehearsal (`nox -s rehearse` runs it with the environments it needs).

    python -m rehearsal --tfx-python .nox/tfx/bin/python --infra-python .nox/infra/bin/python [--env dev --env prod]

Exit status: 0 every step passed, 1 a step failed (the lines marked ✗ say which and the request that decided
it), 2 bad input (a missing environment, interpreter or stack).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rehearsal.run import Options, rehearse

REPOSITORY = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rehearsal", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--tfx-python", required=True, help="the TFX environment's Python (the registry push, the fixture)"
    )
    parser.add_argument(
        "--infra-python", help="the CDKTF environment's Python: synthesize first (default: use --stacks as is)"
    )
    parser.add_argument("--env", action="append", choices=("dev", "prod"), help="environments (default: dev and prod)")
    parser.add_argument("--out", type=Path, default=REPOSITORY / "build" / "rehearsal")
    parser.add_argument("--stacks", type=Path, default=REPOSITORY / "build" / "infra" / "stacks")
    parser.add_argument("--budget", type=float, default=600.0, help="seconds before unfinished builds are given up")
    parser.add_argument(
        "--pipelines-in-turn",
        action="store_true",
        help="an environment's pipelines one after the other (default: each in its own thread; ~340 s against ~210 s "
        "for two pipelines on 2 cores)",
    )
    args = parser.parse_args(argv)
    for python in (args.tfx_python, args.infra_python):
        if python and not Path(python).exists():
            print(f"error: {python} does not exist", file=sys.stderr)
            return 2
    options = Options(
        REPOSITORY,
        args.out,
        args.stacks,
        args.tfx_python,
        args.infra_python,
        tuple(args.env or ("dev", "prod")),
        args.budget,
        not args.pipelines_in_turn,
    )
    return rehearse(options)


if __name__ == "__main__":
    sys.exit(main())
