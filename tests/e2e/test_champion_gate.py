"""End to end: the no-regression gate compares the candidate with the registry's champion, the model that serves,
not with the newest blessed model.

A weaker model A (1 epoch) and a stronger one B (20 epochs) are trained and promoted in turn; a rollback makes
A the champion again, so B stays blessed but does not serve (TFX's latest-blessed baseline would still be B).
A retrain with A's settings is then judged against A: no regression, blessed, although it falls short of B
by more than `evaluation.max_regression`. With B promoted again, the same candidate is refused.
"""

import io

import pytest
from ml_metadata.metadata_store import metadata_store
from ml_metadata.proto import metadata_store_pb2
from tfx.components.evaluator import constants

from components.registry import open_registry
from contracts.config import load_environment
from contracts.registry import CHAMPION, baseline_uri, registry_target
from pipelines.local import LocalRun, execute
from release import models_cli

pytestmark = pytest.mark.e2e

ACCURACY = "sparse_categorical_accuracy"
# Where TFX's Evaluator records the baseline it compared with, on the blessing (evaluator/constants.py).
BASELINE_URI = constants.ARTIFACT_PROPERTY_BASELINE_MODEL_URI_KEY
WEAK = {"num_epochs": 1, "learning_rate": 0.01}
STRONG = {"num_epochs": 20, "learning_rate": 0.01}


def train(root, **settings):
    config = load_environment("local", "penguins")
    summary = execute(LocalRun(config=config, paths=config.local_paths(root), **settings), out=io.StringIO())
    assert summary.succeeded, summary.error
    return summary


def registry(root):
    return open_registry(registry_target(load_environment("local", "penguins"), root))


def models(*argv):
    assert (
        models_cli.main(
            [*argv, "--env", "local", "--pipeline", "penguins", "--reason", "e2e: the gate against the champion"]
        )
        == 0
    )


def make_champion(root, version):
    """Promote `version` unless it already is the champion (where a run's push promotes it)."""
    if registry(root).alias_version(CHAMPION) != version:
        models("promote", version, "--local-root", str(root))
    assert registry(root).alias_version(CHAMPION) == version


def last_blessing(root):
    """The newest ModelBlessing in the environment's ML Metadata: what the last Evaluator decided, against what."""
    config = load_environment("local", "penguins")
    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = str(config.local_paths(root).metadata_path)
    blessing = max(metadata_store.MetadataStore(connection).get_artifacts_by_type("ModelBlessing"), key=lambda a: a.id)
    return {key: value.string_value or value.int_value for key, value in blessing.custom_properties.items()}


@pytest.fixture(scope="module")
def rolled_back(tmp_path_factory):
    """A (weak) then B (strong) promoted, then a rollback: A serves, B is blessed and rolled away from."""
    root = tmp_path_factory.mktemp("champion-gate")
    weak = train(root, **WEAK)
    make_champion(root, weak.pushed_version)
    strong = train(root, **STRONG)
    assert strong.blessed and strong.pushed_version != weak.pushed_version
    make_champion(root, strong.pushed_version)
    models("rollback", "--local-root", str(root))
    assert registry(root).alias_version(CHAMPION) == weak.pushed_version
    return root, weak, strong


def test_a_candidate_no_worse_than_the_champion_is_blessed_though_worse_than_a_rolled_back_version(rolled_back):
    root, weak, strong = rolled_back
    drop = load_environment("local", "penguins").evaluation.max_regression
    # The scenario's premise: B is better than A by more than the allowed drop.
    assert strong.metrics[ACCURACY] - weak.metrics[ACCURACY] > drop
    candidate = train(root, **WEAK, enable_cache=False)  # retrained, not reused
    champion = registry(root).get(weak.pushed_version)
    # Judged against the champion (A), on the same eval split A was judged on.
    assert candidate.baseline_metrics[ACCURACY] == pytest.approx(weak.metrics[ACCURACY])
    assert last_blessing(root)[BASELINE_URI] == baseline_uri(champion)
    assert candidate.metrics[ACCURACY] >= weak.metrics[ACCURACY] - drop
    assert candidate.blessed is True, candidate.validation_failures
    # Against the newest blessed version (B, rolled away from) it would have been a regression.
    assert candidate.metrics[ACCURACY] < strong.metrics[ACCURACY] - drop


def test_the_same_candidate_is_refused_once_the_stronger_version_serves(rolled_back):
    root, _, strong = rolled_back
    make_champion(root, strong.pushed_version)
    candidate = train(root, **WEAK)
    assert candidate.baseline_metrics[ACCURACY] == pytest.approx(strong.metrics[ACCURACY])
    assert last_blessing(root)[BASELINE_URI] == baseline_uri(registry(root).get(strong.pushed_version))
    assert candidate.blessed is False
    assert [f.split(":")[0] for f in candidate.validation_failures] == ["no-regression"]
    assert registry(root).alias_version(CHAMPION) == strong.pushed_version  # nothing moved
