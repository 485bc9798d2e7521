"""The lineage of what a run from this checkout executes: the working tree's commit and modules hash.

`release.submit` labels the runs it submits with it, and the trigger function's local backend (through
localcloud.run_service) labels event runs with it, so a local run says which code it ran the same way
whoever started it. Runs of a published template take theirs from the template's lineage record instead.
"""

from __future__ import annotations

import subprocess

from contracts.config import REPO_ROOT
from contracts.run_request import Lineage
from pipelines.sources import MODULES_DIR
from pipelines.staging import content_hash


def git_commit() -> str:
    """The checkout's HEAD commit id, or "unknown" outside a git checkout (e.g. an unpacked archive)."""
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else "unknown"


def working_tree_lineage(template_sha256: str | None = None) -> Lineage:
    """The commit and modules hash of the working tree, and the published template if the run pins one."""
    return Lineage(commit=git_commit(), modules_sha256=content_hash(MODULES_DIR), template_sha256=template_sha256)
