"""The working tree a local run executes: its HEAD commit, whether tracked files differ from it, and the
hash of the pipeline's modules. A local run stages its modules from this checkout, so this is the code it ran.

Here (standard library and the pipeline's own path rules), not in release/, so that the local runner
(`nox -s pipeline`) records it too: pipelines/ may not import release/. The release commands (submit, the
data check) and localcloud (the trigger function's local backend) import it from here as well, so no import
runs release -> localcloud -> release.
"""

from __future__ import annotations

import subprocess

from contracts.config import REPO_ROOT
from contracts.run_request import Lineage
from pipelines.sources import pipeline_sources
from pipelines.staging import content_hash


def _git(*args: str) -> str | None:
    """git's stdout in the repository, or None outside a git checkout (e.g. an unpacked archive)."""
    try:
        result = subprocess.run(["git", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return result.stdout if result.returncode == 0 else None


def git_commit() -> str:
    """The checkout's HEAD commit id, or "unknown" outside a git checkout."""
    out = _git("rev-parse", "HEAD")
    return out.strip() if out else "unknown"


def is_dirty() -> bool | None:
    """Whether tracked files differ from HEAD (staged or not), as `git describe --dirty` counts it; untracked
    files do not count (the modules hash covers new module files). None outside a git checkout."""
    out = _git("status", "--porcelain", "--untracked-files=no")
    return None if out is None else bool(out.strip())


def working_tree_lineage(pipeline: str, template_sha256: str | None = None) -> Lineage:
    """The commit, dirtiness and hash of `pipeline`'s modules in the working tree, and the published template
    if the run pins one."""
    return Lineage(
        commit=git_commit(),
        dirty=is_dirty(),
        modules_sha256=content_hash(pipeline_sources(pipeline).modules_dir),
        template_sha256=template_sha256,
    )
