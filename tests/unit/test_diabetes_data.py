"""The diabetes data: span 1 matches its schema and is what derive.py makes of scikit-learn 1.5.1's raw files."""

import csv
import gzip
import hashlib
import importlib.util
import shutil
from pathlib import Path

import pytest
from google.protobuf import text_format
from tensorflow_metadata.proto.v0 import schema_pb2

ROOT = Path(__file__).resolve().parents[2] / "pipelines" / "diabetes"
CSV = ROOT / "data" / "span-1" / "diabetes.csv"
SCHEMA = ROOT / "schema" / "schema.pbtxt"
HEADER = ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6", "progression"]
CSV_SHA256 = "731c91514b20f51185739fd2533cde9eccd1c61b16c2aba62d9c8082a9151d4f"


def _load_derive():
    spec = importlib.util.spec_from_file_location("diabetes_derive", ROOT / "data" / "derive.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


derive = _load_derive()


def _rows() -> list[dict[str, str]]:
    with CSV.open(newline="") as f:
        return list(csv.DictReader(f))


def _schema() -> schema_pb2.Schema:
    return text_format.Parse(SCHEMA.read_text(), schema_pb2.Schema())


def _sklearn_data_dir() -> Path:
    if importlib.util.find_spec("sklearn") is None:
        pytest.skip("scikit-learn is not installed here (the TFX environment has the locked 1.5.1)")
    return derive.installed_source_dir()


def test_span_1_has_the_header_and_442_rows():
    with CSV.open(newline="") as f:
        assert next(csv.reader(f)) == HEADER
    assert len(_rows()) == 442
    assert hashlib.sha256(CSV.read_bytes()).hexdigest() == CSV_SHA256  # the README states it


def test_schema_describes_exactly_the_csv_columns_with_the_label():
    schema = _schema()
    assert [feature.name for feature in schema.feature] == HEADER
    assert derive.COLUMNS == HEADER
    assert derive.LABEL == "progression"


def _check(feature: schema_pb2.Feature, value: str) -> str | None:
    """What is wrong with `value` for `feature` (the CSV reader's view: INT is a whole number), or None."""
    if feature.presence.min_fraction == 1.0 and value == "":
        return "missing"
    if feature.type == schema_pb2.INT:
        try:
            number: float = int(value)
        except ValueError:
            return "not an integer"
        domain = feature.int_domain
    elif feature.type == schema_pb2.FLOAT:
        try:
            number = float(value)
        except ValueError:
            return "not a number"
        domain = feature.float_domain
    else:
        return f"unexpected type {schema_pb2.FeatureType.Name(feature.type)}"
    if not domain.min <= number <= domain.max:
        return f"outside {domain.min}..{domain.max}"
    return None


def test_every_row_passes_the_schema():
    features = {feature.name: feature for feature in _schema().feature}
    for feature in features.values():
        assert feature.WhichOneof("domain_info") in ("int_domain", "float_domain"), feature.name
        assert feature.presence.min_fraction == 1.0, feature.name
    problems = [
        f"row {index}: {name}={value!r}: {problem}"
        for index, row in enumerate(_rows(), start=1)
        for name, value in row.items()
        if (problem := _check(features[name], value))
    ]
    assert problems == []


def test_float_columns_keep_their_decimal_point_so_the_reader_infers_float():
    # A FLOAT column written without any decimal point would be inferred as INT and fail the schema.
    float_columns = [feature.name for feature in _schema().feature if feature.type == schema_pb2.FLOAT]
    rows = _rows()
    assert float_columns == ["bmi", "bp", "s2", "s3", "s4", "s5"]
    assert all("." in row[name] for row in rows for name in float_columns)


def test_derive_reproduces_span_1_from_the_installed_scikit_learn(tmp_path):
    _sklearn_data_dir()  # skips without scikit-learn; derive.py's default source is its folder
    out = tmp_path / "diabetes.csv"
    assert derive.main(["--out", str(out)]) == 0
    assert out.read_bytes() == CSV.read_bytes()


def test_derive_refuses_a_source_with_another_sha256(tmp_path):
    source = _sklearn_data_dir()
    shutil.copy(source / derive.DATA_FILE, tmp_path / derive.DATA_FILE)
    # A changed label: a well-formed file, but not the published one.
    labels = gzip.decompress((source / derive.TARGET_FILE).read_bytes()).decode().splitlines()
    labels[0] = "1.520000000000000000e+02"
    (tmp_path / derive.TARGET_FILE).write_bytes(gzip.compress(("\n".join(labels) + "\n").encode()))
    out = tmp_path / "out.csv"
    with pytest.raises(SystemExit, match=f"{derive.TARGET_FILE}: sha256 .* is not scikit-learn 1.5.1's"):
        derive.main(["--source-dir", str(tmp_path), "--out", str(out)])
    assert not out.exists()
