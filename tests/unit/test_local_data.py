"""Seeding the local data area: spans are copied once, never overwritten."""

import pytest

from pipelines.local_data import seed_spans


def test_copies_missing_spans_and_keeps_existing(tmp_path):
    source = tmp_path / "repo"
    for span, text in (("span-1", "a\n"), ("span-2", "b\n")):
        (source / span).mkdir(parents=True)
        (source / span / "data.csv").write_text(text)
    dest = tmp_path / "local"
    (dest / "span-1").mkdir(parents=True)
    (dest / "span-1" / "data.csv").write_text("local edit\n")

    assert seed_spans(source, dest) == ["span-2"]
    assert (dest / "span-1" / "data.csv").read_text() == "local edit\n"
    assert (dest / "span-2" / "data.csv").read_text() == "b\n"
    assert seed_spans(source, dest) == []
    assert sorted(p.name for p in dest.iterdir()) == ["span-1", "span-2"]


def test_preserves_modification_times(tmp_path):
    source = tmp_path / "repo" / "span-1"
    source.mkdir(parents=True)
    (source / "data.csv").write_text("x\n")
    seed_spans(source.parent, tmp_path / "local")
    copied = tmp_path / "local" / "span-1" / "data.csv"
    assert copied.stat().st_mtime_ns == (source / "data.csv").stat().st_mtime_ns


def test_no_spans_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="no span-<N> folders"):
        seed_spans(tmp_path, tmp_path / "local")
