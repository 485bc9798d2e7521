"""End to end: the rolling window. Three spans, a run of spans 0..0 (the newest training.window_spans = 3)
reads all of them into one Examples artifact, records each in the model version's lineage; the identical
rerun is fully cached; a retrain compares candidate and champion on the same eval split."""

import csv
import io

import pytest
import tensorflow as tf
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import proto_utils

from components.registry import open_registry
from components.window_example_gen import Executor
from contracts.config import load_environment
from contracts.registry import registry_target
from pipelines.local import LocalRun, execute
from pipelines.pipeline import example_gen_configs
from pipelines.sources import pipeline_sources
from release.promotion.announced import after_registration

pytestmark = pytest.mark.e2e


def rows_of(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def write(path, rows):
    path.mkdir(parents=True)
    with open(path / "penguins.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)


@pytest.fixture(scope="module")
def window_env(tmp_path_factory):
    """Span 1 as shipped; spans 2 and 3 hold its even and odd rows, so the window is span 1's rows twice."""
    root = tmp_path_factory.mktemp("window-env")
    config = load_environment("local", "penguins")
    assert config.training.window_spans == 3
    header, *rows = rows_of(pipeline_sources("penguins").data_dir / "span-1" / "penguins.csv")
    data = config.local_paths(root).data_root(config.dataset)
    write(data / "span-1", [header, *rows])
    write(data / "span-2", [header, *rows[::2]])
    write(data / "span-3", [header, *rows[1::2]])
    return root, config


def run(window_env, **overrides):
    root, config = window_env
    args = dict(config=config, paths=config.local_paths(root), num_epochs=20, learning_rate=0.01)
    args.update(overrides)
    out = io.StringIO()
    return execute(LocalRun(**args), out=out)


def span_1_eval_count(tmp_path):
    """Span 1's eval rows, by the same executor: the hash split depends on the row alone."""
    input_config, output_config = example_gen_configs()
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    Executor().Do(
        {},
        {"examples": [examples]},
        {
            "input_base": str(pipeline_sources("penguins").data_dir),
            "input_config": proto_utils.proto_to_json(input_config),
            "output_config": proto_utils.proto_to_json(output_config),
            "output_data_format": 6,
            "output_file_format": 5,
            "span": 1,
            "window": '{"span_start": 1}',
        },
    )
    files = tf.io.gfile.glob(f"{artifact_utils.get_split_uri([examples], 'eval')}/*.gz")
    return sum(1 for _ in tf.data.TFRecordDataset(files, compression_type="GZIP"))


@pytest.fixture(scope="module")
def first_run(window_env):
    """The first run, then what follows it locally (the run worker, `nox -s pipeline`): its version is tested and
    becomes the champion, the baseline of the runs after it."""
    summary = run(window_env)
    root, config = window_env
    assert after_registration(config, root, summary.pushed_version, by="e2e") == "champion"
    return summary


def test_the_newest_window_is_read_and_every_span_is_in_the_lineage(first_run, window_env, tmp_path):
    summary = first_run
    assert summary.succeeded, summary.error
    assert summary.blessed is True and summary.pushed_by_this_run
    # The window holds span 1's rows twice (spans 2 and 3 split them): twice its eval rows.
    assert summary.metrics["example_count"] == 2 * span_1_eval_count(tmp_path)
    root, config = window_env
    (version,) = open_registry(registry_target(config, root)).versions()
    assert [s.number for s in version.lineage.spans] == [1, 2, 3]
    assert len({s.sha256 for s in version.lineage.spans}) == 3


def test_an_identical_rerun_of_the_window_is_fully_cached(first_run, window_env):
    """Once the gate's baseline (the champion when a run starts) is what it was for the last run."""
    run(window_env)  # the first run's model may have become the champion since: its gate judges it again
    summary = run(window_env)
    assert summary.succeeded, summary.error
    assert summary.all_cached, [(c.node_id, c.status) for c in summary.components]
    assert summary.pushed_version == first_run.pushed_version and not summary.pushed_by_this_run


def test_a_retrain_compares_candidate_and_champion_on_the_same_eval_split(first_run, window_env):
    summary = run(window_env, num_epochs=19, span_start=2, span_end=3)
    assert summary.succeeded, summary.error
    statuses = {c.node_id: c.status for c in summary.components}
    assert statuses["WindowExampleGen"] == "complete" and statuses["Evaluator"] == "complete"
    # Spans 2..3: span 1's rows once; the champion is evaluated on exactly the candidate's eval rows.
    assert summary.metrics["example_count"] * 2 == first_run.metrics["example_count"]
    assert summary.baseline_metrics["example_count"] == summary.metrics["example_count"]
