"""`python -m infra.synth`: all stacks or nothing; bad environment files name the file and the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from contracts.config import ENVS_DIR
from infra import synth


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def synthesized_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "infra"
    assert synth.main(["--out", str(out)]) == 0
    return out


def test_synthesizes_every_environment_and_prints_where(synthesized_dir, capsys):
    for env in ("dev", "prod"):
        doc = json.loads((synthesized_dir / "stacks" / env / "cdk.tf.json").read_text())
        assert doc["provider"]["google"][0]["project"] == f"my-{env}-project"
    (asset,) = (synthesized_dir / "stacks" / "dev" / "assets").rglob("*.zip")
    assert asset.stat().st_size > 0
    assert not [p for p in synthesized_dir.parent.iterdir() if p.name.startswith(".")]  # no staging left over


def _bad_env(tmp_path: Path, change) -> Path:
    raw = yaml.safe_load((ENVS_DIR / "dev.yaml").read_text())
    change(raw)
    path = tmp_path / "dev.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def SCHEDULES(raw):  # noqa: N802
    """The penguins pipeline's schedules in a raw environment file."""
    return raw["pipelines"]["penguins"]["schedules"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda raw: raw["gcp"].update(region="europe-west99"), "gcp.region"),
        (lambda raw: SCHEDULES(raw)[0].update(cron="0 9 * *"), "pipelines.penguins.schedules.0.cron"),
        (lambda raw: SCHEDULES(raw)[0]["payload"].update(num_epochs="0"), "pipelines.penguins.schedules.0.payload"),
        (lambda raw: SCHEDULES(raw)[0]["payload"].update(batch_size=3), "pipelines.penguins.schedules.0.payload"),
        (lambda raw: raw["gcp"].pop("project"), "gcp.project"),
        (lambda raw: raw["gcp"]["ci"].update(require_approval="sometimes"), "gcp.ci.require_approval"),
        (
            lambda raw: raw["pipelines"]["penguins"].update(template_sha256="latest"),
            "pipelines.penguins.template_sha256",
        ),
    ],
)
def test_invalid_environment_fails_naming_file_and_field_and_writes_nothing(
    synthesized_dir, tmp_path, capsys, change, field
):
    before = snapshot(synthesized_dir)
    bad = _bad_env(tmp_path, change)
    assert synth.main(["--out", str(synthesized_dir), "--env", "prod", "--env", str(bad)]) == 2
    err = capsys.readouterr().err
    assert str(bad) in err and field in err
    assert snapshot(synthesized_dir) == before


def test_missing_environment_file_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    assert synth.main(["--out", str(out), "--env", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml: environment file not found" in capsys.readouterr().err
    assert not out.exists()


def test_local_environment_has_nothing_to_deploy(tmp_path, capsys):
    out = tmp_path / "out"
    assert synth.main(["--out", str(out), "--env", "local"]) == 2
    assert "no gcp section" in capsys.readouterr().err
    assert not out.exists()
