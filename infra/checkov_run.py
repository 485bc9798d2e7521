"""Run checkov on the synthesized Terraform JSON, offline, with the documented skips (standard library only).

    python -m infra.checkov_run build/infra    (in the checkov environment: nox -s checkov)

Network calls are disabled (no Prisma Cloud API key, no guideline download, no external modules), so the
result depends only on the checkov version in requirements/checkov.txt. Exit status is checkov's: 0 when no
check failed. Each skip and its reason is in infra/checkov_skips.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from infra.checkov_skips import SKIPS

OFFLINE_ENV = {
    "BC_SKIP_MAPPING": "TRUE",  # do not download the check-to-guideline mapping
    "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
    "LOG_LEVEL": "WARNING",
}


def checkov_command(target: Path) -> list[str]:
    executable = shutil.which("checkov", path=str(Path(sys.executable).parent)) or shutil.which("checkov")
    if executable is None:
        raise FileNotFoundError("checkov is not installed in this environment: run `nox -s checkov`")
    where = ["-f", str(target)] if target.is_file() else ["-d", str(target)]
    return [
        executable,
        *where,
        "--framework",
        "terraform_json",
        "--skip-download",
        "--download-external-modules",
        "false",
        "--skip-check",
        ",".join(sorted(SKIPS)),
        "--quiet",
        "--compact",
    ]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m infra.checkov_run <synth dir or cdk.tf.json>", file=sys.stderr)
        return 2
    target = Path(args[0])
    if not target.exists():
        print(f"error: {target} does not exist (run python -m infra.synth first)", file=sys.stderr)
        return 2
    for check, reason in sorted(SKIPS.items()):
        print(f"skipping {check}: {reason}")
    result = subprocess.run(checkov_command(target), env={**os.environ, **OFFLINE_ENV}, check=False)
    if result.returncode == 0:
        print("checkov: no failed checks")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
