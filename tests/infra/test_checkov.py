"""checkov on the synthesized stacks reports no failed check (with the documented skips only).

checkov lives in its own environment (requirements/checkov.txt: its dependencies conflict with these);
`nox -s checkov` runs it on `python -m infra.synth` output. This test runs that same command when the
environment exists (.nox/checkov) and is skipped, saying so, when it does not.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from contracts.environment import REPO_ROOT
from infra.checkov_skips import SKIPS

CHECKOV_PYTHON = REPO_ROOT / ".nox" / "checkov" / "bin" / "python"


def test_every_skip_has_a_reason():
    assert SKIPS and all(check.startswith(("CKV_", "CKV2_")) and len(reason) > 40 for check, reason in SKIPS.items())


@pytest.mark.skipif(not CHECKOV_PYTHON.exists(), reason=f"no checkov environment at {CHECKOV_PYTHON}: nox -s checkov")
def test_checkov_reports_no_failed_check(stacks, tmp_path):
    for env, doc in stacks.items():
        path = tmp_path / "stacks" / env / "cdk.tf.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(doc))
    result = subprocess.run(
        [str(CHECKOV_PYTHON), "-m", "infra.checkov_run", str(tmp_path)],
        cwd=REPO_ROOT,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Failed checks: 0" in result.stdout
