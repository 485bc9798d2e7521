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


def test_any_version_is_found_the_same_way(tmp_path, monkeypatch):
    """find_python("3.12") looks where find_python310 looks, with its own variable (PYTHON312)."""
    pyenv = tmp_path / "pyenv"
    real = pyenv / "versions" / "3.12.99" / "bin"
    real.mkdir(parents=True)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    (real / "python3.12").write_text(f"#!/bin/sh\nexec {sys.executable} -c 'import sys; sys.exit(0)'\n")
    (real / "python3.12").chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PYENV_ROOT", str(pyenv))
    monkeypatch.delenv("PYTHON312", raising=False)
    # The fake answers every version check: found in pyenv's versions folder, as 3.10 would be.
    assert python310.find_python("3.12") == str(real / "python3.12")
    monkeypatch.setenv(f"PYTHON{version.replace('.', '')}", sys.executable)
    assert python310.find_python(version) == sys.executable


def test_a_version_of_another_interpreter_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "none"))
    monkeypatch.setenv("PYTHON312", sys.executable)
    if sys.version_info[:2] != (3, 12):
        assert python310.find_python("3.12") is None  # PYTHON312 points at another version: not taken.
    assert "pyenv install 3.12" in python310.MISSING_PY312 and "PYTHON312=" in python310.MISSING_PY312


@pytest.mark.parametrize("version", ["3", "3.x", "python3.12", "3.12.1"])
def test_a_bad_version_is_named(version):
    with pytest.raises(ValueError, match=r"expected major\.minor"):
        python310.find_python(version)
