"""Content-addressed staging: paths change exactly when content does; nothing is overwritten."""

import pytest

from pipelines.staging import content_hash, stage


@pytest.fixture
def modules(tmp_path):
    folder = tmp_path / "modules"
    folder.mkdir()
    (folder / "a.py").write_text("A = 1\n")
    (folder / "b.py").write_text("B = 2\n")
    (folder / "notes.txt").write_text("not code")
    return folder


def test_same_content_same_path_and_no_rewrite(modules, tmp_path):
    first = stage(modules, tmp_path / "staged")
    mtime = (first / "a.py").stat().st_mtime_ns
    again = stage(modules, tmp_path / "staged")
    assert again == first
    assert (first / "a.py").stat().st_mtime_ns == mtime
    assert sorted(p.name for p in first.iterdir()) == ["a.py", "b.py"]


def test_edit_or_rename_changes_the_path_and_keeps_the_old_copy(modules, tmp_path):
    first = stage(modules, tmp_path / "staged")
    (modules / "a.py").write_text("A = 2\n")
    edited = stage(modules, tmp_path / "staged")
    (modules / "b.py").rename(modules / "c.py")
    renamed = stage(modules, tmp_path / "staged")
    assert len({first, edited, renamed}) == 3
    assert (first / "a.py").read_text() == "A = 1\n"


def test_ignored_files_do_not_change_the_hash(modules):
    before = content_hash(modules)
    (modules / "notes.txt").write_text("edited")
    (modules / "__pycache__").mkdir()
    (modules / "__pycache__" / "a.cpython-310.pyc").write_bytes(b"\0")
    assert content_hash(modules) == before


def test_single_file_is_staged_under_its_name(tmp_path):
    schema = tmp_path / "schema.pbtxt"
    schema.write_text("feature {}")
    staged = stage(schema, tmp_path / "staged")
    assert staged.name == "schema.pbtxt"
    assert staged.read_text() == "feature {}"
    assert staged.parent.name == content_hash(schema)


def test_missing_or_empty_source_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing to stage"):
        stage(tmp_path / "missing", tmp_path / "staged")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"no \.py files"):
        stage(tmp_path / "empty", tmp_path / "staged")
    assert not (tmp_path / "staged").exists() or not any((tmp_path / "staged").iterdir())
