"""Find a working Python of a given version for the nox sessions (standard library only: the noxfile imports it).

The TFX sessions need 3.10 (TFX 1.16 supports 3.9-3.10); the Cloud Function's tests need 3.12, its runtime.
A version is looked for the same way each time: $PYTHON<major><minor> (e.g. PYTHON312), pyenv's versions
folder (installed but not selected: the shims refuse those, the binaries work), PATH, then uv's.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from collections.abc import Iterator


def _variable(version: str) -> str:
    return "PYTHON" + version.replace(".", "")


def missing_message(version: str, needed_by: str) -> str:
    """What to do when `version` is not found: the ways to install it, and the variable that points at one."""
    variable = _variable(version)
    return (
        f"Python {version} was not found. {needed_by} Install it with one of\n"
        f"  pyenv install {version}    |    uv python install {version}    |    your OS package manager\n"
        f"or point {variable} at an interpreter: {variable}=/path/to/python{version} nox ..."
    )


MISSING_PY310 = missing_message("3.10", "TFX 1.16 needs Python 3.10 (or 3.9).")
MISSING_PY312 = missing_message("3.12", "The Cloud Function runs on Python 3.12 (runtime python312).")


def _works(python: str, version: str = "3.10") -> bool:
    """True if `python` runs and is `version` (a pyenv shim for an unselected version fails here)."""
    major, minor = (int(part) for part in version.split("."))
    try:
        result = subprocess.run(
            [python, "-c", f"import sys; assert sys.version_info[:2] == ({major}, {minor})"],
            capture_output=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


def _candidates(version: str) -> Iterator[str | None]:
    """Cheapest first, lazily: every check spawns the interpreter, and a pyenv shim is slow to refuse."""
    yield os.environ.get(_variable(version))
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    # Installed but unselected pyenv versions: the shim refuses them, the binaries themselves work.
    pattern = os.path.join(pyenv_root, "versions", f"{version}*", "bin", f"python{version}")
    yield from sorted(glob.glob(pattern), reverse=True)
    yield shutil.which(f"python{version}")
    if shutil.which("uv"):
        found = subprocess.run(["uv", "python", "find", version], capture_output=True, text=True)
        yield found.stdout.strip() if found.returncode == 0 else None


def find_python(version: str) -> str | None:
    """An interpreter path for Python `version` ("3.12"): $PYTHON312, pyenv's versions folder, PATH, then uv's."""
    parts = version.split(".")
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        raise ValueError(f"version {version!r}: expected major.minor, e.g. 3.12")
    return next((c for c in _candidates(version) if c and _works(c, version)), None)


def find_python310() -> str | None:
    """An interpreter path for Python 3.10: $PYTHON310, pyenv's versions folder, PATH, then uv's."""
    return find_python("3.10")
