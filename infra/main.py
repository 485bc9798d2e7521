"""The CDKTF app entry point: `cdktf synth` runs this (cdktf.json), and so can plain `python -m infra.main`.

Writes to $CDKTF_OUTDIR when the CDKTF CLI sets it, else infra/cdktf.out (a relative path is taken from infra/,
where the CLI runs, so both ways write to the same git-ignored folder). For an atomic write to a chosen folder
and errors that name the file and the field, use `python -m infra.synth` instead.
"""

from __future__ import annotations

import os
from pathlib import Path

from infra.app import build_app, load_configs

INFRA_DIR = Path(__file__).resolve().parent


def main() -> None:
    outdir = INFRA_DIR / os.environ.get("CDKTF_OUTDIR", "cdktf.out")  # An absolute value replaces INFRA_DIR.
    build_app(load_configs(), outdir).synth()


if __name__ == "__main__":
    main()
