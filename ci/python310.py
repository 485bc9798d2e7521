"""Find a working Python 3.10 for the TFX sessions (standard library only: the noxfile imports it)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from collections.abc import Iterator

MISSING_PY310 = (
    "Python 3.10 was not found. TFX 1.16 needs Python 3.10 (or 3.9). Install it with one of\n"
    "  pyenv install 3.10    |    uv python install 3.10    |    your OS package manager\n"
    "or point PYTHON310 at an interpreter: PYTHON310=/path/to/python3.10 nox ..."
)


def _works(python: str) -> bool:
    """True if `python` runs and is 3.10 (a pyenv shim for an unselected version fails here)."""
    try:
        result = subprocess.run(
            [python, "-c", "import sys; assert sys.version_info[:2] == (3, 10)"],
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def _candidates() -> Iterator[str | None]:
    """Cheapest first, lazily: every check spawns the interpreter, and a pyenv shim is slow to refuse."""
    yield os.environ.get("PYTHON310")
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    # Installed but unselected pyenv versions: the shim refuses them, the binaries themselves work.
    yield from sorted(glob.glob(os.path.join(pyenv_root, "versions", "3.10*", "bin", "python3.10")), reverse=True)
    yield shutil.which("python3.10")
    if shutil.which("uv"):
        found = subprocess.run(["uv", "python", "find", "3.10"], capture_output=True, text=True)
        yield found.stdout.strip() if found.returncode == 0 else None


def find_python310() -> str | None:
    """An interpreter path for Python 3.10: $PYTHON310, pyenv's versions folder, PATH, then uv's."""
    return next((c for c in _candidates() if c and _works(c)), None)
