"""The noxfile (ci.python310) finds Python 3.10 by itself, past a pyenv shim that refuses an unselected version."""

import os
import stat
import sys

import pytest

from ci import python310


def fake_python(path, exit_code):
    path.write_text(f"#!/bin/sh\nexit {exit_code}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


def test_skips_a_failing_shim_and_finds_pyenv_versions(tmp_path, monkeypatch):
    bin_dir = tmp_path / "shims"
    bin_dir.mkdir()
    fake_python(bin_dir / "python3.10", 127)  # What an unselected pyenv shim does.
    pyenv = tmp_path / "pyenv"
    real = pyenv / "versions" / "3.10.99" / "bin"
    real.mkdir(parents=True)
    (real / "python3.10").symlink_to(sys.executable)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    monkeypatch.setenv("PYENV_ROOT", str(pyenv))
    monkeypatch.delenv("PYTHON310", raising=False)
    assert python310.find_python310() == str(real / "python3.10")


def test_explicit_interpreter_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHON310", sys.executable)
    assert python310.find_python310() == sys.executable


def test_nothing_found_gives_none(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "none"))
    monkeypatch.setenv("PYTHON310", str(fake_python(tmp_path / "python", 1)))
    assert python310.find_python310() is None
    assert "pyenv install 3.10" in python310.MISSING_PY310


@pytest.mark.skipif(sys.version_info[:2] != (3, 10), reason="the tests session runs on Python 3.10")
def test_the_running_interpreter_qualifies():
    assert python310._works(sys.executable)
