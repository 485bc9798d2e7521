"""The main job's planning, bad input, recording and failure handling, on small temporary git repositories."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from ci import cicd
from ci.changes import changes_since, git
from ci.plan import main as plan_main
from ci.scratch import commit


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    for rel in (
        "README.md",
        "pipelines/penguins/modules/model.py",
        "pipelines/penguins/pipeline.py",
        "components/gate.py",
        "infra/main.py",
        ".gitignore",
    ):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(f"# {rel}\n" if rel != ".gitignore" else "/.local/\n/build/\n")
    git(root, "init", "-q", "-b", "main")
    commit(root, "initial")
    return root


def _run(repo: Path, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    code = cicd.main(["--repo", str(repo), "--direct-python", "/bin/false", *args], out=out)
    return code, out.getvalue()


def _edit(repo: Path, rel: str) -> None:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text((path.read_text() if path.exists() else "") + "# edited\n")


def test_repository_without_history_is_refused_and_runs_nothing(tmp_path, capsys):
    git(tmp_path, "init", "-q")
    code, _ = _run(tmp_path)
    assert code == 2
    assert "no commits yet" in capsys.readouterr().err
    assert not (tmp_path / ".local").exists() and not (tmp_path / "build").exists()


def test_unknown_base_ref_is_refused(repo, capsys):
    code, _ = _run(repo, "--base", "no-such-branch")
    assert code == 2
    assert "base ref 'no-such-branch' does not exist" in capsys.readouterr().err
    assert not cicd.state_path(repo, "local").exists()


def test_documentation_only_change_runs_nothing_and_records_the_commit(repo):
    first = git(repo, "rev-parse", "HEAD").strip()
    cicd.write_state(repo, "local", {"commit": first})
    _edit(repo, "README.md")
    head = commit(repo, "docs")
    code, out = _run(repo)
    assert code == 0
    assert "workflows: none" in out and "nothing to run" in out
    assert json.loads(cicd.state_path(repo, "local").read_text())["commit"] == head
    assert not (repo / "build").exists()


def test_first_run_plans_every_workflow(repo):
    code, out = _run(repo, "--dry-run")
    assert code == 0
    assert "first run on 'local'" in out
    assert "workflows: full (penguins), model-tests, infra" in out
    # Per pipeline: each step of the release names its pipeline.
    assert "full: compile penguins: nox -s compile -- --env local --pipeline penguins" in out
    assert not cicd.state_path(repo, "local").exists()


def test_a_failed_step_records_nothing(repo):
    first = git(repo, "rev-parse", "HEAD").strip()
    cicd.write_state(repo, "local", {"commit": first})
    _edit(repo, "pipelines/penguins/modules/model.py")
    commit(repo, "change")
    code, out = _run(repo)
    assert code == 1
    (work_dir,) = (repo / "build" / "cicd").iterdir()
    statuses = {s["step"]: s["status"] for s in json.loads((work_dir / "summary.json").read_text())["steps"]}
    # The tests ran in the background while the image step failed; nothing after the failure ran.
    assert statuses["image (existing)"] == "failed"
    assert statuses["unit tests"] in {"failed", "cancelled"}
    assert "compile" not in statuses and "publish" not in statuses
    assert "cicd failed: nothing recorded" in out
    assert json.loads(cicd.state_path(repo, "local").read_text())["commit"] == first


def test_uncommitted_changes_count_and_are_reported(repo):
    head = git(repo, "rev-parse", "HEAD").strip()
    cicd.write_state(repo, "local", {"commit": head})
    _edit(repo, "pipelines/penguins/modules/model.py")
    (repo / "components" / "new.py").write_text("# untracked\n")
    code, out = _run(repo, "--dry-run")
    assert code == 0
    assert "2 of them uncommitted" in out
    assert "workflows: full" in out
    # A template of uncommitted code gets no commit record.
    publish = next(line for line in out.splitlines() if "nox -s publish" in line)
    assert "--commit" not in publish


def test_a_recorded_commit_that_no_longer_exists_names_the_way_out(repo, capsys):
    cicd.write_state(repo, "local", {"commit": "f" * 40})
    code, _ = _run(repo)
    assert code == 2
    err = capsys.readouterr().err
    assert "last successful commit" in err and "--base REF or --all" in err


def test_renames_and_deletions_change_both_paths(repo):
    base = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "mv", "pipelines/penguins/modules/model.py", "pipelines/penguins/modules/trainer.py")
    git(repo, "rm", "-q", "components/gate.py")
    commit(repo, "change")
    changes = changes_since(repo, base, include_uncommitted=False)
    assert set(changes.committed) == {
        "pipelines/penguins/modules/model.py",
        "pipelines/penguins/modules/trainer.py",
        "components/gate.py",
    }


def test_plan_cli_with_a_base(repo, capsys):
    _edit(repo, "infra/main.py")
    commit(repo, "change")
    assert plan_main(["--repo", str(repo), "--base", "HEAD~1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["workflows"] == ["infra"] and result["files"] == ["infra/main.py"]
    assert result["pull_request"] == ["checks"]  # shown apart: the main job never runs it
    assert plan_main(["--repo", str(repo), "--base", "nope"]) == 2


@pytest.mark.parametrize("content", ["{not json", '{"branch": "main"}', "[]"])
def test_an_unusable_record_names_itself_and_runs_nothing(repo, capsys, content):
    cicd.state_path(repo, "local").parent.mkdir(parents=True)
    cicd.state_path(repo, "local").write_text(content)
    code, _ = _run(repo)
    assert code == 2
    assert f"{cicd.state_path(repo, 'local')}:" in capsys.readouterr().err
    assert not (repo / "build").exists()
    assert cicd.state_path(repo, "local").read_text() == content


def test_state_is_replaced_whole(repo):
    cicd.write_state(repo, "local", {"commit": "a" * 40})
    cicd.write_state(repo, "local", {"commit": "b" * 40})
    folder = cicd.state_path(repo, "local").parent
    assert [p.name for p in folder.iterdir()] == ["local.json"]
    assert json.loads((folder / "local.json").read_text()) == {"commit": "b" * 40}


def test_a_change_to_the_model_tests_re_tests_the_champion_and_nothing_else(repo):
    first = git(repo, "rev-parse", "HEAD").strip()
    cicd.write_state(repo, "local", {"commit": first})
    _edit(repo, "pipelines/penguins/model_tests/smoke_records.json")
    commit(repo, "stricter records")
    code, out = _run(repo, "--dry-run")
    assert code == 0
    assert "workflows: model-tests" in out
    assert "model-tests: model tests: nox -s model_tests -- --env local" in out


@pytest.mark.parametrize("workflow", ["full", "modules"])
def test_every_pipelines_compile_runs_alongside_the_tests_and_each_releases_in_turn(workflow):
    """Compiles need only the image: all of them come before the first publish, the step that waits for the
    tests; then each pipeline publishes, submits and moves its pointer."""
    from ci.workflows import Context, steps

    ctx = Context(env="local", commit="c" * 40, branch="main", run_id="cicd-1", dirty=False, work_dir="build/cicd/1")
    planned = steps(workflow, ctx, ["diabetes", "penguins"])
    names = [s.name for s in planned]
    assert names[0] == "unit tests" and planned[0].background
    assert names[2:] == [
        "compile diabetes",
        "compile penguins",
        "publish diabetes",
        "submit diabetes",
        "set current diabetes",
        "publish penguins",
        "submit penguins",
        "set current penguins",
    ]
    assert [s.name for s in planned if s.joins] == ["publish diabetes"]


def test_the_summary_keeps_its_columns_apart_for_a_pipelines_long_step_names(tmp_path):
    from ci.runner import StepResult
    from ci.summary import render_summary
    from ci.workflows import Step

    results = [
        ("full", StepResult(Step("set current diabetes", "publish", ()), "ok", 1.1)),
        ("full", StepResult(Step("image", "image", ()), "skipped", 0.2, "no Docker engine")),
    ]
    summary = render_summary(tmp_path, results, started=0.0, run_id="cicd-1", workflows=["full"])
    lines = summary.text.splitlines()[1:3]
    assert lines[0].split() == ["full", "set", "current", "diabetes", "ok", "1.1s"]
    # The status column starts at the same place on every line.
    assert lines[0].index(" ok ") + 1 == lines[1].index("skipped")
