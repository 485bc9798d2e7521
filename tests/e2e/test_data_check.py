"""The new-data check against a real champion: a batch like the training data keeps it, a drifted batch
(Adelie and Chinstrap relabelled) retrains; both batches become spans. The submission is recorded by a
create-only stub here (tests/unit/test_run_service.py covers the local run service)."""

import pytest

from components.registry import open_registry
from contracts.config import load_environment
from contracts.registry import registry_target
from localcloud.labelled_data import generate
from pipelines.local import LocalRun, execute
from release.datacheck.cli import build_check, describe
from release.promotion.announced import after_registration
from tests.datacheck_helpers import FileSubmitter

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def champion_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("datacheck")
    config = load_environment("local", "penguins")
    summary = execute(LocalRun(config=config, paths=config.local_paths(root), num_epochs=20, learning_rate=0.01))
    assert summary.succeeded and summary.blessed, summary.error
    # What the run worker does after a run that registered a version: test it, make it the champion.
    assert after_registration(config, root, summary.pushed_version, by="e2e") == "champion"
    return root


def check(root):
    config = load_environment("local", "penguins")
    built = build_check(config, "local", root, None)
    built.submitter = FileSubmitter(root / "submitted")
    return built, config


def test_the_champion_is_evaluated_and_only_a_drifted_batch_retrains(champion_root):
    incoming = champion_root / "data" / "penguins" / "incoming"
    generate(incoming, 150, 3, None, 4, seed=1, pipeline="penguins")
    built, config = check(champion_root)
    [kept] = built.run().batches
    assert kept["evaluation"]["champion"] is not None
    assert kept["evaluation"]["value"] >= config.retrain_bound, describe(built.run(), config)
    assert (kept["span"], kept["records"], kept["quarantined"], kept["retrain"]) == (2, 150, 4, False)
    assert set(kept["evaluation"]["per_class"]) == {"Adelie", "Chinstrap", "Gentoo"}

    generate(incoming, 150, 3, "relabel", 0, seed=2, pipeline="penguins")
    built, _ = check(champion_root)
    [drifted] = built.run().batches
    assert drifted["evaluation"]["value"] < config.retrain_bound
    assert drifted["evaluation"]["per_class"]["Gentoo"]["accuracy"] >= 0.9  # only the relabelled classes fail
    assert (drifted["span"], drifted["retrain"]) == (3, True)
    [run] = built.submitter.runs().values()
    assert run["parameters"]["span_end"] == 3


def test_no_champion_yet_trains_on_the_window_ending_at_the_new_span_through_the_local_run_service(tmp_path, capsys):
    """The CLI as a user runs it: the batch becomes span 2, one run through the local run service trains on
    the window ending at it (spans 1..2), and the version it pushes records both spans in its lineage; the
    check run again starts nothing."""
    import io

    from localcloud import run_store
    from localcloud.runs_cli import follow
    from release.datacheck import cli

    generate(tmp_path / "data" / "penguins" / "incoming", 120, 2, None, 2, seed=3, pipeline="penguins")
    assert cli.main(["--pipeline", "penguins", "--local-root", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "120 valid records -> span-2, 2 quarantined; no champion yet" in out
    [record] = run_store.list_runs(tmp_path)
    followed = io.StringIO()
    assert follow(tmp_path, record.job_id, followed) == 0, followed.getvalue()
    record = run_store.load(tmp_path, record.job_id)
    # The rolling window ending at the new span: training.window_spans is 3, so spans 1 and 2.
    assert record.status == "succeeded" and (record.parameters["span_start"], record.parameters["span_end"]) == (1, 2)
    assert record.labels["source"] == "data" and record.labels["spans"] == "1-2"
    (version,) = open_registry(registry_target(load_environment("local", "penguins"), tmp_path)).versions()
    assert [s.number for s in version.lineage.spans] == [1, 2]
    assert cli.main(["--pipeline", "penguins", "--local-root", str(tmp_path)]) == 0
    assert len(run_store.list_runs(tmp_path)) == 1
