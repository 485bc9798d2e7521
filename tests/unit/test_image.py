"""The image step: what goes into the image, how it is identified, built, skipped, recorded and found."""

from __future__ import annotations

import argparse
import json
import os
import re
import stat
from pathlib import Path

import pytest

from ci.routing import plan_workflows
from contracts.config import REPO_ROOT, EnvironmentConfig, load_environment
from release import image


def _args(**values) -> argparse.Namespace:
    defaults = {"commit": "c" * 40, "built": None, "existing": False}
    return argparse.Namespace(**{**defaults, **values})


def _local(tmp_path: Path) -> EnvironmentConfig:
    raw = load_environment("local", "penguins").model_dump()
    raw["local"] = {"root": tmp_path / "state"}
    return EnvironmentConfig.model_validate(raw)


def _tree(root: Path) -> Path:
    for rel in ("Dockerfile", "requirements/pipeline.txt", "components/gate.py", "pipelines/penguins/modules/model.py"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"# {rel}\n")
    return root


def test_every_image_input_routes_to_full_and_modules_are_not_inputs():
    inputs = image.image_inputs(REPO_ROOT)
    assert "Dockerfile" in inputs and "requirements/pipeline.txt" in inputs
    assert any(p.startswith("components/") for p in inputs)
    for path in inputs:
        assert "full" in plan_workflows([path]), path
    assert not any(p.startswith("pipelines/penguins/modules/") for p in inputs)


def test_the_dockerfile_copies_only_image_inputs():
    # From the build context; `COPY --from=<stage>` copies out of another image (Beam's launcher).
    copied = re.findall(r"^COPY\s+(?!--from=)(\S+)\s", (REPO_ROOT / "Dockerfile").read_text(), flags=re.M)
    assert copied
    for source in copied:
        assert any(p == source.rstrip("/") or p.startswith(source) for p in image.image_inputs(REPO_ROOT)), source
    ignore = (REPO_ROOT / ".dockerignore").read_text().split()
    assert "*" in ignore and {"pipelines/*/modules/", "pipelines/*/data/"} <= set(ignore)
    assert {f"!{c}" for c in copied} <= set(ignore)


def test_inputs_hash_follows_the_image_not_the_modules(tmp_path):
    root = _tree(tmp_path)
    before = image.inputs_sha256(root)
    (root / "pipelines/penguins/modules/model.py").write_text("# new model\n")
    assert image.inputs_sha256(root) == before
    (root / "components/gate.py").write_text("# new gate\n")
    assert image.inputs_sha256(root) != before


def test_without_a_docker_engine_the_build_is_skipped_then_found_by_the_fast_path(tmp_path, monkeypatch):
    root, config = _tree(tmp_path / "repo"), _local(tmp_path)
    monkeypatch.setattr(image, "docker_engine", lambda: "no Docker engine answers (test)")
    result = image.resolve(_args(), config, root)
    assert not result["built"] and "no Docker engine answers (test)" in result["reason"]
    assert result["image"] == f"local/pipeline@sha256:{result['inputs_sha256']}"
    record = config.local_paths().published / "images" / f"{result['inputs_sha256']}.json"
    assert json.loads(record.read_text())["commit"] == "c" * 40
    found = image.resolve(_args(existing=True, commit=None), config, root)
    assert found["existing"] and found["image"] == result["image"]
    # A change to the image inputs: the fast path finds no image and says the full workflow builds it.
    (root / "components/gate.py").write_text("# changed\n")
    with pytest.raises(image.ImageError, match="the `full` workflow builds"):
        image.resolve(_args(existing=True, commit=None), config, root)


def test_the_first_record_for_the_same_inputs_wins(tmp_path, monkeypatch):
    root, config = _tree(tmp_path / "repo"), _local(tmp_path)
    monkeypatch.setattr(image, "docker_engine", lambda: "none")
    first = image.resolve(_args(commit="a" * 40), config, root)
    second = image.resolve(_args(commit="b" * 40), config, root)
    assert second["commit"] == "a" * 40 and second["image"] == first["image"]


def test_a_docker_engine_builds_the_image(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "docker.log"
    fake = bin_dir / "docker"
    fake.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> {log}\n'
        'case "$1" in\n'
        "  info) echo 27.1.1 ;;\n"
        f"  image) echo sha256:{'e' * 64} ;;\n"
        "esac\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    assert image.docker_engine() is None
    result = image.resolve(_args(), _local(tmp_path), _tree(tmp_path / "repo"))
    assert result["built"] and result["image"] == f"pipeline@sha256:{'e' * 64}"
    assert "build --file" in log.read_text()


def test_pushed_digest_is_recorded_and_tags_are_refused(tmp_path, monkeypatch):
    root, config = _tree(tmp_path / "repo"), _local(tmp_path)
    digest = tmp_path / "digest"
    digest.write_text(f"europe-west4-docker.pkg.dev/p/r/pipeline@sha256:{'1' * 64}\n")
    assert image.resolve(_args(built=digest), config, root)["built"]
    digest.write_text("europe-west4-docker.pkg.dev/p/r/pipeline:v1\n")
    with pytest.raises(image.ImageError, match="name@sha256"):
        image.resolve(_args(built=digest), config, root)
    with pytest.raises(image.ImageError, match="cannot read the pushed image's digest file"):
        image.resolve(_args(built=tmp_path / "missing"), config, root)


def test_cloud_environments_need_the_pushed_image(tmp_path):
    with pytest.raises(image.ImageError, match="--built"):
        image.resolve(_args(), load_environment("dev", "penguins"), _tree(tmp_path))


def test_cli_writes_the_result_for_compile(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(image, "docker_engine", lambda: "no engine (test)")
    monkeypatch.setattr(image, "REPO_ROOT", _tree(tmp_path / "repo"))
    env_file = tmp_path / "local.yaml"
    env_file.write_text((REPO_ROOT / "envs/local.yaml").read_text().replace("root: .local", f"root: {tmp_path}/s"))
    out = tmp_path / "out" / "image.json"
    assert image.main(["--env", str(env_file), "--commit", "d" * 40, "--output", str(out)]) == 0
    assert json.loads(out.read_text())["reason"].startswith("no engine (test)")
    assert "build skipped" in capsys.readouterr().out
    assert image.main(["--env", str(env_file), "--existing", "--output", str(out)]) == 0
    assert image.main(["--env", "nope", "--existing", "--output", str(out)]) == 2
