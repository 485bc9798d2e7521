"""The scaffold's choice of environment files (its whole loop runs in tests/e2e/test_new_pipeline.py)."""

import shutil
from pathlib import Path

import pytest
import yaml

from contracts.config import REPO_ROOT
from release.scaffold import scaffold


@pytest.fixture()
def root(tmp_path: Path) -> Path:
    """A minimal repository: the pipelines' folders, the environment files and the modules tests."""
    shutil.copytree(REPO_ROOT / "pipelines", tmp_path / "pipelines", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO_ROOT / "envs", tmp_path / "envs")
    (tmp_path / "tests" / "unit").mkdir(parents=True)
    return tmp_path


def _pipelines(root: Path, env: str) -> list[str]:
    return sorted(yaml.safe_load((root / "envs" / f"{env}.yaml").read_text())["pipelines"])


def test_a_copy_of_penguins_joins_every_environment_that_has_penguins(root):
    from contracts.config import load_environment
    from contracts.environment import EnvironmentConfig

    scaffold("otters", "penguins", root=root)
    assert (root / "pipelines" / "otters" / "pipeline.py").is_file()
    for env in ("local", "dev", "prod"):
        assert _pipelines(root, env) == ["diabetes", "otters", "penguins"], env
        # It loads, with the template's settings (its schedules are its own: the naming rule is per pipeline).
        raw = yaml.safe_load((root / "envs" / f"{env}.yaml").read_text())
        config = EnvironmentConfig.model_validate(raw).for_pipeline("otters")
        assert config.settings == load_environment(env).for_pipeline("penguins").settings


def test_only_the_named_environment_files_get_the_copy(root):
    before = (root / "envs" / "prod.yaml").read_text()
    scaffold("otters", "penguins", envs=["local", "dev"], root=root)
    assert _pipelines(root, "dev") == _pipelines(root, "local") == ["diabetes", "otters", "penguins"]
    assert (root / "envs" / "prod.yaml").read_text() == before
