"""release.bootstrap: a new project's sequence after `cdktf deploy` is the steps CI runs, in order, stopping
at the first that fails; bad input stops before anything is sent."""

from __future__ import annotations

import argparse
import json

import pytest

from release import bootstrap

SHA = "ab" * 32


def plan(tmp_path, env, monkeypatch, dirty=False, **options):
    monkeypatch.setattr(bootstrap, "checkout_commit", lambda: ("c" * 40, dirty))
    args = argparse.Namespace(**{"env": env, "image": None, "commit": None, "branch": "main", **options})
    from contracts.config import load_environment

    return bootstrap.release_steps(load_environment(env), args, tmp_path)


def test_a_publishing_environment_builds_its_first_release_like_the_full_workflow(tmp_path, monkeypatch):
    steps = plan(tmp_path, "dev", monkeypatch)
    assert [s.name for s in steps] == ["image", "compile", "publish", "submit", "set current"]
    argv = {s.name: s.argv() for s in steps if s.name != "submit"}
    assert argv["image"] == ["--env", "dev", "--existing", "--output", str(tmp_path / "image.json")]
    # A new project has no image recorded: the failure says how to get one.
    assert "gcloud builds triggers run penguins-dev-full --project=my-dev-project" in steps[0].hint
    assert argv["compile"][:4] == ["--env", "dev", "--image-from", str(tmp_path / "image.json")]
    assert "--commit" in argv["publish"] and "c" * 40 in argv["publish"]
    assert argv["set current"] == ["--env", "dev", "--set-current", "--from", str(tmp_path / "submit.json")]


def test_a_given_image_skips_the_recorded_one_and_uncommitted_code_gets_no_commit_record(tmp_path, monkeypatch):
    image = "europe-west4-docker.pkg.dev/my-dev-project/penguins-dev-images/pipeline@sha256:" + "1" * 64
    steps = plan(tmp_path, "dev", monkeypatch, dirty=True, image=image)
    assert [s.name for s in steps] == ["compile", "publish", "submit", "set current"]
    assert steps[0].argv()[2:4] == ["--image", image]
    assert "--commit" not in steps[1].argv()


def test_an_adopting_environment_runs_the_template_its_release_store_published(tmp_path, monkeypatch):
    steps = plan(tmp_path, "prod", monkeypatch)
    assert [s.name for s in steps] == ["adopt", "submit", "set current"]
    adopt = steps[0].argv()
    assert adopt[:4] == ["--env", "prod", "--commit", "c" * 40] and adopt[6:8] == ["--wait", "0"]


def test_the_first_runs_job_id_follows_the_template_so_a_rerun_starts_nothing_new(tmp_path, monkeypatch):
    (tmp_path / "publish.json").write_text(json.dumps({"template_sha256": SHA, "template": "gs://b/t"}))
    [submit] = [s for s in plan(tmp_path, "prod", monkeypatch) if s.name == "submit"]
    argv = submit.argv()
    assert argv[argv.index("--trigger-id") + 1] == f"bootstrap-{SHA[:16]}"
    assert argv[argv.index("--template-from") + 1] == str(tmp_path / "publish.json")


def test_the_sequence_stops_at_the_first_failed_step_naming_it(capsys):
    ran = []

    def step(name, code, hint=""):
        return bootstrap.Step(name, lambda argv: ran.append(name) or code, list, hint)

    assert bootstrap.run([step("publish", 0), step("submit", 3, "try again"), step("set current", 0)]) == 3
    assert ran == ["publish", "submit"]
    err = capsys.readouterr().err
    assert "bootstrap stopped at submit (exit 3)" in err and err.rstrip().endswith("try again")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--env", "local"], "environment 'local' has no gcp section"),
        (["--env", "prod", "--image", "x@sha256:" + "1" * 64], "--image: environment 'prod' builds nothing"),
        (["--env", "nope"], "environment file not found"),
    ],
)
def test_bad_input_is_exit_2_before_anything_is_sent(monkeypatch, capsys, argv, message):
    monkeypatch.setattr(bootstrap, "seed", lambda config: pytest.fail("seeded after bad input"))
    assert bootstrap.main(argv) == 2
    assert message in capsys.readouterr().err
