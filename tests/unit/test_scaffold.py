"""The scaffold's choice of environment files (its whole loop runs in tests/e2e/test_new_pipeline.py)."""

import shutil
from pathlib import Path

import pytest
import yaml

from contracts.config import REPO_ROOT
from release.scaffold import ScaffoldError, scaffold


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    """A minimal repository: the pipelines' folders, the environment files and the modules tests."""
    shutil.copytree(REPO_ROOT / "pipelines", tmp_path / "pipelines", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO_ROOT / "envs", tmp_path / "envs")
    (tmp_path / "tests" / "unit").mkdir(parents=True)
    return tmp_path


def _pipelines(root: Path, env: str) -> list[str]:
    return sorted(yaml.safe_load((root / "envs" / f"{env}.yaml").read_text())["pipelines"])


def test_a_copy_of_penguins_joins_the_local_environment_and_not_the_cloud_ones(root):
    scaffold("otters", "penguins", root=root)
    assert (root / "pipelines" / "otters" / "pipeline.py").is_file()
    assert _pipelines(root, "local") == ["diabetes", "otters", "penguins"]
    assert _pipelines(root, "dev") == _pipelines(root, "prod") == ["penguins"]


def test_naming_a_cloud_environment_is_refused_before_anything_is_written(root):
    before = (root / "envs" / "dev.yaml").read_text()
    with pytest.raises(ScaffoldError) as err:
        scaffold("otters", "penguins", envs=["local", "dev"], root=root)
    assert "dev.yaml" in str(err.value) and "one pipeline today" in str(err.value)
    assert not (root / "pipelines" / "otters").exists()
    assert (root / "envs" / "dev.yaml").read_text() == before
    assert _pipelines(root, "local") == ["diabetes", "penguins"]
