"""The new-data check against a real champion: a batch like the training data keeps it, a drifted batch
(Adelie and Chinstrap relabelled) retrains; both batches become spans. The submission is recorded by a
create-only stub here (tests/unit/test_run_service.py covers the local run service)."""

import pytest

from contracts.config import load_environment
from localcloud.labelled_data import generate
from pipelines.local import LocalRun, execute
from release.datacheck.cli import build_check, describe
from tests.unit.datacheck_helpers import FileSubmitter

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def champion_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("datacheck")
    config = load_environment("local")
    summary = execute(LocalRun(config=config, paths=config.local_paths(root), num_epochs=20, learning_rate=0.01))
    assert summary.succeeded and summary.blessed, summary.error
    return root


def check(root):
    config = load_environment("local")
    built = build_check(config, "local", root, None)
    built.submitter = FileSubmitter(root / "submitted")
    return built, config


def test_the_champion_is_evaluated_and_only_a_drifted_batch_retrains(champion_root):
    incoming = champion_root / "data" / "penguins" / "incoming"
    generate(incoming, 150, 3, None, 4, seed=1)
    built, config = check(champion_root)
    [kept] = built.run().batches
    assert kept["evaluation"]["champion"] is not None
    assert kept["evaluation"]["accuracy"] >= config.retrain_below, describe(built.run(), config)
    assert (kept["span"], kept["records"], kept["quarantined"], kept["retrain"]) == (2, 150, 4, False)
    assert set(kept["evaluation"]["per_class"]) == {"Adelie", "Chinstrap", "Gentoo"}

    generate(incoming, 150, 3, "relabel", 0, seed=2)
    built, _ = check(champion_root)
    [drifted] = built.run().batches
    assert drifted["evaluation"]["accuracy"] < config.retrain_below
    assert drifted["evaluation"]["per_class"]["Gentoo"]["accuracy"] >= 0.9  # only the relabelled classes fail
    assert (drifted["span"], drifted["retrain"]) == (3, True)
    [run] = built.submitter.runs().values()
    assert run["parameters"]["span_end"] == 3
