"""The model tests per pipeline: each pipeline's shipped records, judged as its definition says (penguins: the
class right and valid probabilities; diabetes: each prediction within SMOKE_MAX_ABS_ERROR), batch consistency
over every output, the tests' identity per pipeline, and the pipeline taken from the config a caller has."""

from __future__ import annotations

import pytest

from contracts.config import load_environment
from contracts.registry import CHAMPION, Lineage, ModelVersion, SmokeTestFailedError
from pipelines.diabetes import pipeline as diabetes
from release.model_tests.behaviour import batch_consistency, same
from release.model_tests.smoke import judgement, shipped_records
from release.model_tests.suite import run_suite, suite_sha256
from tests import promotion_helpers as helpers
from tests.tiny_model import diabetes_least_squares, save_tiny_model, save_tiny_regressor

pytestmark = pytest.mark.slow  # TensorFlow: seconds


def _version(path, number="1"):
    return ModelVersion(
        version=number,
        content_sha256="a" * 64,
        blessed=True,
        uri=str(path),
        created_at="2026-01-01T00:00:00+00:00",
        lineage=Lineage(pipeline_run_id="run-1"),
    )


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """SavedModels: a diabetes model as good as a blessed one, two that no blessed model is (a constant at the
    labels' mean, and one answering z-scores), and a penguins model."""
    root = tmp_path_factory.mktemp("models")
    return {
        "good": save_tiny_regressor(root / "good" / "Format-Serving", *diabetes_least_squares()),
        "mean": save_tiny_regressor(root / "mean" / "Format-Serving", bias=152.1),
        "z-scores": save_tiny_regressor(root / "z" / "Format-Serving", {"bmi": 0.2}, bias=-5.0),
        "penguins": save_tiny_model(root / "penguins" / "Format-Serving"),
    }


def test_each_pipeline_states_how_its_smoke_test_judges():
    penguins = judgement("penguins")
    assert (penguins.task, penguins.label, penguins.min_correct, penguins.probabilities) == (
        "classification",
        "species",
        5,
        "probabilities",
    )
    regression = judgement("diabetes")
    assert (regression.task, regression.label, regression.max_abs_error) == ("regression", "progression", 50.0)
    records, labels = shipped_records("diabetes")
    assert len(records) == 8 and all(sorted(r) == sorted(diabetes.FEATURES) for r in records)
    # Typed as serving_raw takes them: age, sex, s1 and s6 integers, the others numbers.
    assert all(type(r[name]) is int for r in records for name in ("age", "sex", "s1", "s6"))
    # Low to high progression: no constant is within the bound of both ends.
    assert max(labels) - min(labels) > 2 * diabetes.SMOKE_MAX_ABS_ERROR
    assert suite_sha256("diabetes") != suite_sha256("penguins")


def test_a_blessed_diabetes_model_passes_and_a_constant_or_wrong_unit_one_fails(models):
    run_suite(_version(models["good"]), pipeline="diabetes")
    with pytest.raises(SmokeTestFailedError, match=r"version 1: smoke test failed: 6 of 8 shipped records off by more"):
        run_suite(_version(models["mean"]), pipeline="diabetes")
    with pytest.raises(
        SmokeTestFailedError, match=r"6 of 8 shipped records off by more than 50 \(record 2: -0.6 for 77;"
    ):
        run_suite(_version(models["z-scores"]), pipeline="diabetes")


def test_a_version_is_judged_by_its_own_pipeline(models):
    run_suite(_version(models["penguins"]), pipeline="penguins")
    with pytest.raises(SmokeTestFailedError, match=r"smoke test failed: instances\[0\]: missing"):
        run_suite(_version(models["penguins"]), pipeline="diabetes")
    with pytest.raises(SmokeTestFailedError, match=r"smoke test failed: instances\[0\]: missing"):
        run_suite(_version(models["good"]), pipeline="penguins")


class BatchDependent:
    """Answers each record with the mean over its batch: alone, a record gets its own value."""

    def predict(self, records):
        mean = sum(r["bmi"] for r in records) / len(records)
        return [{"progression": mean, "note": "x"} for _ in records]


class Rounding:
    """Answers differ by float rounding between a record alone and in a batch; strings stay equal."""

    def __init__(self):
        self.calls = 0

    def predict(self, records):
        self.calls += 1
        nudge = 1e-6 * (len(records) > 1)
        return [{"progression": 100.0 * r["bmi"] * (1 + nudge), "probabilities": [0.5, 0.5 + nudge]} for r in records]


def test_batch_consistency_compares_every_output_of_any_pipeline():
    batch_consistency("version 1", Rounding(), "diabetes")
    with pytest.raises(SmokeTestFailedError, match="batch-consistency failed: record 0 alone is"):
        batch_consistency("version 1", BatchDependent(), "diabetes")
    assert same({"species": "Adelie", "p": [0.1, 0.9]}, {"species": "Adelie", "p": [0.1 + 1e-7, 0.9]})
    assert not same({"species": "Adelie"}, {"species": "Gentoo"})
    assert not same({"progression": 1.0}, {"progression": 1.0, "extra": 2})
    assert not same({"progression": 151.0}, {"progression": 152.0})


def test_auto_promotion_after_a_run_tests_the_version_as_its_pipelines(models, tmp_path):
    """Two pipelines, one registry: the diabetes run's version is tested with the diabetes tests, and its
    outcome and champion are the diabetes model's alone."""
    from components.registry import open_registry
    from contracts.registry import registry_target
    from release.promotion.announced import after_registration

    config = load_environment(helpers.two_pipelines(tmp_path), "diabetes")
    registry = open_registry(registry_target(config, tmp_path))
    good, _ = registry.register(str(models["good"]), helpers.LINEAGE, blessed=True)
    mean, _ = registry.register(str(models["mean"]), helpers.LINEAGE, blessed=True)
    assert after_registration(config, tmp_path, good.version, by="run") == "champion"
    assert after_registration(config, tmp_path, mean.version, by="run").startswith(
        "not promoted: version 2: smoke test failed: 6 of 8"
    )
    assert registry.alias_version(CHAMPION) == "1"
    outcomes = helpers.outcomes_file(registry).read_text().splitlines()
    assert len(outcomes) == 2 and all(suite_sha256("diabetes") in line for line in outcomes)
    penguins = open_registry(registry_target(config.for_pipeline("penguins"), tmp_path))
    assert penguins.versions() == [] and penguins.alias_version(CHAMPION) is None
    assert not helpers.outcomes_file(penguins).exists()
