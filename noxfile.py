"""The one task entry point: CI and Cloud Build call only these sessions. `nox -l` lists them.

Sessions that touch TFX run on Python 3.10 (TFX 1.16 supports 3.9-3.10), found by `find_python310`, in
virtualenvs built by uv from the hashed lock files in requirements/ and reused between runs.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import nox

REPO = Path(__file__).parent
sys.path.insert(0, str(REPO))  # nox does not put the noxfile's folder on the import path.

from ci.python310 import MISSING_PY310, find_python310  # noqa: E402

REQ = REPO / "requirements"
PIPELINE_LOCKS = (REQ / "pipeline.txt",)
TEST_LOCKS = (REQ / "pipeline.txt", REQ / "dev.txt")
LINT_LOCKS = (REQ / "lint.txt",)
# Type-checked code: everything that does not import TensorFlow/TFX (those ship no usable stubs).
TYPED = ("ci", "envconfig", "pipelines/parameters.py", "pipelines/staging.py", "pipelines/local_data.py")
# Read by TensorFlow at import: TFX 1.16 expects tf_keras (Keras 2), not Keras 3; quiet the C++ logs.
TF_ENV = {"TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(REPO)}

nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lint", "tests"]

PY310 = find_python310()
# Without Python 3.10 the TFX sessions get no virtualenv, so their first line can say what is missing
# (nox's own "interpreter not found" would come first otherwise).
TFX_PYTHON: str | bool = PY310 or False


def _require_py310(session: nox.Session) -> None:
    if PY310 is None:
        session.error(MISSING_PY310)


def install_locked(session: nox.Session, locks: tuple[Path, ...]) -> None:
    """Make the session's venv exactly match `locks`; skipped when they have not changed since last time."""
    digest = hashlib.sha256(b"".join(lock.read_bytes() for lock in locks)).hexdigest()
    marker = Path(session.virtualenv.location) / ".locks-sha256"
    if marker.exists() and marker.read_text() == digest:
        session.log("environment matches the lock files; nothing to install")
        return
    session.run_install(
        "uv",
        "pip",
        "sync",
        "--require-hashes",
        *map(str, locks),
        env={"VIRTUAL_ENV": session.virtualenv.location, "UV_COMPILE_BYTECODE": "1"},
    )
    marker.write_text(digest)


@nox.session(python=False)
def lock(session: nox.Session) -> None:
    """Regenerate every lock file in requirements/ from its .in file (needs uv and the package index)."""
    compile_ = ("uv", "pip", "compile", "--generate-hashes", "--quiet")
    linux310 = ("--python-version", "3.10", "--python-platform", "x86_64-manylinux_2_36")
    with session.chdir(REQ):
        session.run(*compile_, *linux310, "pipeline.in", "-o", "pipeline.txt", external=True)
        session.run(*compile_, *linux310, "dev.in", "-c", "pipeline.txt", "-o", "dev.txt", external=True)
        for name in ("tools", "lint"):
            session.run(
                *compile_, "--universal", "--python-version", "3.9", f"{name}.in", "-o", f"{name}.txt", external=True
            )


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff lint and format check over the repository, and mypy on the code that does not import TFX."""
    install_locked(session, LINT_LOCKS)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", *TYPED)


@nox.session(python=TFX_PYTHON)
def tests(session: nox.Session) -> None:
    """The test suite (unit, pipeline graph, end to end on a temporary local environment); what CI runs.

    Extra arguments go to pytest, e.g. `nox -s tests -- -m "not e2e"` for the fast tiers only.
    """
    _require_py310(session)
    install_locked(session, TEST_LOCKS)
    session.run("pytest", *session.posargs, env=TF_ENV)


@nox.session(python=TFX_PYTHON)
def pipeline(session: nox.Session) -> None:
    """Run the training pipeline on the local environment and print its summary.

    Arguments go to pipelines.local_runner, e.g. `nox -s pipeline -- --num-epochs 5 --learning-rate 0.02`.
    """
    _require_py310(session)
    install_locked(session, PIPELINE_LOCKS)
    session.run("python", "-m", "pipelines.local_runner", *session.posargs, env=TF_ENV)


@nox.session(python=TFX_PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmark: cold local run, fully cached rerun, and the plain-Keras floor; writes benchmarks/results/."""
    _require_py310(session)
    install_locked(session, PIPELINE_LOCKS)
    session.run("python", "-m", "benchmarks.local_pipeline", *session.posargs, env=TF_ENV)
