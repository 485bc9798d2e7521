"""WindowExampleGen: which spans a window holds, the files it reads, and one real execution over them."""

import csv
import json
from pathlib import Path

import pytest
import tensorflow as tf
from tfx.components.example_gen import utils
from tfx.types import artifact_utils, standard_artifacts
from tfx.utils import proto_utils

from components.window_example_gen import (
    Executor,
    WindowDriver,
    example_spans,
    span_folders,
    window_files,
    window_span_numbers,
)
from pipelines.pipeline import example_gen_configs

HEADER = ["species", "island", "bill_length_mm", "body_mass_g"]


def write_span(root: Path, number: int, rows: int, folder: str | None = None) -> None:
    path = root / (folder or f"span-{number}")
    path.mkdir(parents=True)
    with (path / "part.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        for i in range(rows):
            # Distinct rows per span, so the hash split and the counts tell spans apart.
            writer.writerow(["Adelie", f"island-{number}", f"{number}.{i}", 3000 + 10 * number + i])


@pytest.mark.parametrize(
    ("window", "newest", "expected"),
    [
        ('{"span_start": 3}', 3, [3]),
        ('{"span_start": 8}', 10, [8, 9, 10]),
        ('{"window_spans": 3}', 10, [8, 9, 10]),
        ('{"window_spans": 3}', 2, [1, 2]),  # Fewer spans than the window: all of them.
        ('{"window_spans": 1}', 7, [7]),
    ],
)
def test_window_span_numbers(window, newest, expected):
    assert window_span_numbers(window, newest) == expected


def test_window_start_after_its_newest_span_is_refused():
    with pytest.raises(ValueError, match=r"span_start 5 is not in 1\.\.4"):
        window_span_numbers('{"span_start": 5}', 4)


def test_span_folders_are_numbered_as_integers(tmp_path):
    for n in (9, 10, 2):
        write_span(tmp_path, n, 1)
    (tmp_path / "span-x").mkdir()
    (tmp_path / "notes.txt").write_text("not a span")
    assert span_folders(str(tmp_path)) == {2: "span-2", 9: "span-9", 10: "span-10"}
    # span-10 is newer than span-9 (not "span-10" < "span-9" as strings).
    assert window_span_numbers('{"window_spans": 2}', max(span_folders(str(tmp_path)))) == [9, 10]
    files = window_files(str(tmp_path), [9, 10])
    assert [Path(f).parent.name for n in (9, 10) for f in files[n]] == ["span-9", "span-10"]


def test_two_folders_for_one_span_number_are_refused(tmp_path):
    write_span(tmp_path, 9, 1)
    write_span(tmp_path, 9, 1, folder="span-09")
    with pytest.raises(ValueError, match="span 9 has two folders"):
        span_folders(str(tmp_path))


def test_a_missing_span_is_named(tmp_path):
    write_span(tmp_path, 1, 1)
    write_span(tmp_path, 3, 1)
    with pytest.raises(ValueError, match=r"span 2 is missing: no folder span-2 .*spans there: 1, 3.*1..3"):
        window_files(str(tmp_path), [1, 2, 3])


def test_a_span_without_csv_files_is_named(tmp_path):
    (tmp_path / "span-4").mkdir()
    with pytest.raises(ValueError, match=r"span 4: no \*\.csv files"):
        window_files(str(tmp_path), [4])


def run_executor(tmp_path: Path, data: Path, newest: int, window: str):
    input_config, output_config = example_gen_configs()
    examples = standard_artifacts.Examples()
    examples.uri = str(tmp_path / "examples")
    exec_properties = {
        "input_base": str(data),
        # As TFX's driver leaves it: the pattern resolved for the newest span, and that span.
        "input_config": json.dumps({"splits": [{"name": "single_split", "pattern": f"span-{newest}/*.csv"}]}),
        "output_config": proto_utils.proto_to_json(output_config),
        "output_data_format": 6,
        "output_file_format": 5,
        utils.SPAN_PROPERTY_NAME: newest,
        "window": window,
    }
    assert input_config.splits[0].pattern == "span-{SPAN}/*.csv"
    Executor().Do({}, {"examples": [examples]}, exec_properties)
    rows = {}
    for split in ("train", "eval"):
        files = tf.io.gfile.glob(f"{artifact_utils.get_split_uri([examples], split)}/*.gz")
        rows[split] = [
            tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(files, compression_type="GZIP")
        ]
    return examples, rows


def islands(rows):
    return sorted({e.features.feature["island"].bytes_list.value[0].decode() for e in rows})


def test_a_three_span_window_is_one_artifact_with_a_stable_split(tmp_path):
    data = tmp_path / "data"
    for n, count in ((1, 30), (2, 40), (3, 50), (4, 60)):
        write_span(data, n, count)
    examples, rows = run_executor(tmp_path / "three", data, newest=4, window='{"window_spans": 3}')
    assert len(rows["train"]) + len(rows["eval"]) == 40 + 50 + 60
    assert islands(rows["train"] + rows["eval"]) == ["island-2", "island-3", "island-4"]
    assert example_spans(examples) == [2, 3, 4]
    assert json.loads(examples.split_names) == ["train", "eval"]
    # A row's split depends on the row alone: span 4's rows split alike in a one-span window.
    _, alone = run_executor(tmp_path / "one", data, newest=4, window='{"span_start": 4}')
    for split in ("train", "eval"):
        in_window = {e.SerializeToString(deterministic=True) for e in rows[split] if islands([e]) == ["island-4"]}
        assert in_window == {e.SerializeToString(deterministic=True) for e in alone[split]}
    assert len(alone["train"]) + len(alone["eval"]) == 60


def test_a_missing_span_fails_before_anything_is_written(tmp_path):
    data = tmp_path / "data"
    write_span(data, 1, 5)
    write_span(data, 3, 5)
    with pytest.raises(ValueError, match="span 2 is missing"):
        run_executor(tmp_path, data, newest=3, window='{"span_start": 1}')
    assert not (tmp_path / "examples").exists()


def test_a_different_header_in_the_window_is_refused(tmp_path):
    data = tmp_path / "data"
    write_span(data, 1, 5)
    write_span(data, 2, 5)
    (data / "span-2" / "part.csv").write_text("species,island\nAdelie,x\n")
    with pytest.raises(ValueError, match="header differs"):
        run_executor(tmp_path, data, newest=2, window='{"span_start": 1}')


def test_the_local_driver_fingerprints_every_span_of_the_window(tmp_path):
    data = tmp_path / "data"
    for n in (1, 2, 3):
        write_span(data, n, 5)
    input_config, _ = example_gen_configs()

    def fingerprint(window):
        props = {
            "input_base": str(data),
            "input_config": proto_utils.proto_to_json(input_config),
            "range_config": json.dumps({"rolling_range": {"num_spans": 1}}),
            "window": window,
        }
        resolved = WindowDriver(None).resolve_exec_properties(props, None, None)
        assert resolved[utils.SPAN_PROPERTY_NAME] == 3
        return resolved[utils.FINGERPRINT_PROPERTY_NAME]

    three, one = fingerprint('{"window_spans": 3}'), fingerprint('{"window_spans": 1}')
    assert [line.split(":")[0] for line in three.splitlines()] == ["span 1", "span 2", "span 3"]
    assert one.splitlines() == three.splitlines()[-1:]
    # A change to an older span of the window changes the cache key.
    with (data / "span-1" / "part.csv").open("a") as f:
        f.write("Adelie,island-1,9.9,3999\n")
    assert fingerprint('{"window_spans": 3}') != three


def test_examples_of_another_example_gen_hold_their_one_span():
    examples = standard_artifacts.Examples()
    examples.set_int_custom_property(utils.SPAN_PROPERTY_NAME, 7)
    assert example_spans(examples) == [7]
