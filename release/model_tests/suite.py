"""The model tests a version passes before it serves, and again whenever the tests change.

Each test takes the loaded version and raises SmokeTestFailedError naming what failed. Their identity is the
sha256 of this folder's files (`suite_sha256`): an outcome is recorded with it and with the version's content
sha256, so a version that passed exactly these tests need not be tested again (the tests are deterministic on
the same files), and a change to the tests means every champion is tested anew (the `model-tests` route).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

from contracts.registry import ModelVersion, SmokeTestFailedError
from release.model_tests.behaviour import batch_consistency
from release.model_tests.fetch import local_copy
from release.model_tests.smoke import smoke_test

FOLDER = Path(__file__).parent
TESTS: tuple[tuple[str, Callable[[str, Any], None]], ...] = (
    ("smoke", smoke_test),
    ("batch-consistency", batch_consistency),
)


@lru_cache(maxsize=1)
def suite_sha256() -> str:
    """One digest over this folder's files (names and bytes): what "the model tests" are in this checkout."""
    digest = hashlib.sha256()
    for path in sorted(FOLDER.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(path.relative_to(FOLDER).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def run_suite(version: ModelVersion, *, project: str | None = None, storage_client: Any = None) -> None:
    """Load `version` and run every test; the first failure raises SmokeTestFailedError."""
    from components.registry.predictor import Predictor

    name = f"version {version.version}"
    with local_copy(version.uri, project=project, storage_client=storage_client) as folder:
        try:
            predictor = Predictor(folder, version.version)
        except Exception as err:  # Whatever stops it loading (a TF error too) is a failed test.
            raise SmokeTestFailedError(f"{name}: smoke test failed: {err}") from err
        # Inside the block: a model may read its assets (vocabularies) after loading.
        for _, test in TESTS:
            test(name, predictor)
