"""The model tests a version passes before it serves, and again whenever the tests change.

A version is tested as a version of its pipeline (its records and how they are judged are the pipeline's:
smoke.py). Each test takes the loaded version and the pipeline and raises SmokeTestFailedError naming what
failed. The identity of a pipeline's tests (`suite_sha256`) is the sha256 of this folder's files, of the
pipeline's model_tests/ folder (its shipped records) and of the judgement its definition states: an outcome
is recorded with it and with the version's content sha256, so a version that passed exactly these tests need
not be tested again (the tests are deterministic on the same files), and a change to the tests means every
champion they apply to is tested anew (the `model-tests` route).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from contracts.registry import ModelVersion, SmokeTestFailedError
from release.model_tests.behaviour import batch_consistency
from release.model_tests.fetch import local_copy
from release.model_tests.smoke import judgement, smoke_test, tests_folder

FOLDER = Path(__file__).parent
TESTS: tuple[tuple[str, Callable[[str, Any, str], None]], ...] = (
    ("smoke", smoke_test),
    ("batch-consistency", batch_consistency),
)


def _files(digest: Any, folder: Path, prefix: str) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            name = f"{prefix}/{path.relative_to(folder).as_posix()}"
            digest.update(name.encode() + b"\0" + path.read_bytes())


@cache
def suite_sha256(pipeline: str) -> str:
    """One digest of what `pipeline`'s model tests are in this checkout: this folder's files and the pipeline's
    model_tests/ folder (names and bytes), and the judgement its definition states."""
    digest = hashlib.sha256()
    _files(digest, FOLDER, "release/model_tests")
    _files(digest, tests_folder(pipeline), f"pipelines/{pipeline}/model_tests")
    digest.update(b"judgement\0" + judgement(pipeline).identity())
    return digest.hexdigest()


def run_suite(version: ModelVersion, *, pipeline: str, project: str | None = None, storage_client: Any = None) -> None:
    """Load `version` (of `pipeline`) and run every test; the first failure raises SmokeTestFailedError."""
    from components.registry.predictor import Predictor

    name = f"version {version.version}"
    with local_copy(version.uri, project=project, storage_client=storage_client) as folder:
        try:
            predictor = Predictor(folder, version.version)
        except Exception as err:  # Whatever stops it loading (a TF error too) is a failed test.
            raise SmokeTestFailedError(f"{name}: smoke test failed: {err}") from err
        # Inside the block: a model may read its assets (vocabularies) after loading.
        for _, test in TESTS:
            test(name, predictor, pipeline)
