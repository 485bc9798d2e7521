"""release.bootstrap: a new project's sequence after `cdktf deploy` is the steps CI runs, in order, stopping
at the first that fails; bad input stops before anything is sent."""

from __future__ import annotations

import argparse
import json

import pytest

from release import bootstrap

SHA = "ab" * 32


def plan(tmp_path, env, monkeypatch, dirty=False, pipeline="penguins", **options):
    monkeypatch.setattr(bootstrap, "checkout_commit", lambda: ("c" * 40, dirty))
    defaults = {"env": env, "pipeline": None, "image": None, "commit": None, "branch": "main", "wait": 5400.0}
    args = argparse.Namespace(**{**defaults, **options})
    from contracts.config import load_environment

    return bootstrap.release_steps(load_environment(env).for_pipeline(pipeline), args, tmp_path)


def test_a_publishing_environment_starts_its_full_build_for_its_first_release(tmp_path, monkeypatch):
    """No image yet on a new project: the full build makes it, then compiles, publishes, runs and sets the pointer."""
    steps = plan(tmp_path, "dev", monkeypatch)
    assert [s.name for s in steps] == ["full build"]


class FakeCloudBuild:
    """What CloudBuildClient's run_build_trigger and get_build answer: the build's states, one per poll."""

    def __init__(self, states):
        self.states, self.requests = list(states), []

    def run_build_trigger(self, request):
        from google.cloud.devtools.cloudbuild_v1 import Build, BuildOperationMetadata

        self.requests.append(request)
        metadata = BuildOperationMetadata(build=Build(id="b-1"))
        return type("Operation", (), {"metadata": metadata})()

    def get_build(self, name):
        from google.cloud.devtools.cloudbuild_v1 import Build

        self.requests.append(name)
        state = self.states.pop(0)
        return Build(id="b-1", status=Build.Status[state], status_detail="step compile failed")


@pytest.mark.parametrize(("states", "code"), [(["QUEUED", "WORKING", "SUCCESS"], 0), (["WORKING", "FAILURE"], 1)])
def test_the_full_build_is_started_on_the_branch_and_followed_to_its_end(monkeypatch, capsys, states, code):
    from contracts.config import load_environment
    from release import approvals

    fake = FakeCloudBuild(states)
    monkeypatch.setattr(approvals, "client", lambda: fake)
    slept = []
    assert (
        bootstrap.full_build(
            load_environment("dev", "penguins").for_pipeline("penguins"), "main", 600, sleep=slept.append
        )
        == code
    )
    run, *polls = fake.requests
    assert run.name == "projects/my-dev-project/locations/europe-west4/triggers/penguins-dev-penguins-full"
    assert run.source.branch_name == "main" and run.source.project_id == "my-dev-project"
    assert polls == ["projects/my-dev-project/locations/europe-west4/builds/b-1"] * len(states)
    assert len(slept) == len(states) - 1
    assert ("ended FAILURE: step compile failed" in capsys.readouterr().err) == (code == 1)


def test_a_full_build_still_running_after_the_wait_is_a_failure_saying_so(monkeypatch, capsys):
    from contracts.config import load_environment
    from release import approvals

    monkeypatch.setattr(approvals, "client", lambda: FakeCloudBuild(["WORKING"] * 3))
    assert (
        bootstrap.full_build(
            load_environment("dev", "penguins").for_pipeline("penguins"), "main", 0, sleep=lambda s: None
        )
        == 1
    )
    assert "is still WORKING after 0 s" in capsys.readouterr().err


def test_a_given_image_skips_the_recorded_one_and_uncommitted_code_gets_no_commit_record(tmp_path, monkeypatch):
    image = "europe-west4-docker.pkg.dev/my-dev-project/penguins-dev-images/pipeline@sha256:" + "1" * 64
    steps = plan(tmp_path, "dev", monkeypatch, dirty=True, image=image)
    assert [s.name for s in steps] == ["compile", "publish", "submit", "set current"]
    assert steps[0].argv()[:6] == ["--env", "dev", "--pipeline", "penguins", "--image", image]
    assert "--commit" not in steps[1].argv()


def test_an_adopting_environment_runs_the_template_its_release_store_published(tmp_path, monkeypatch):
    steps = plan(tmp_path, "prod", monkeypatch, pipeline="diabetes")
    assert [s.name for s in steps] == ["adopt", "submit", "set current"]
    adopt = steps[0].argv()
    assert adopt[:6] == ["--env", "prod", "--pipeline", "diabetes", "--commit", "c" * 40]
    assert adopt[8:10] == ["--wait", "5400.0"]


def test_every_step_works_on_the_pipeline_being_bootstrapped(tmp_path, monkeypatch):
    (tmp_path / "publish.json").write_text(json.dumps({"template_sha256": SHA, "template": "gs://b/t"}))
    image = "europe-west4-docker.pkg.dev/my-dev-project/penguins-dev-images/pipeline@sha256:" + "1" * 64
    for steps in (
        plan(tmp_path, "dev", monkeypatch, pipeline="diabetes", image=image),
        plan(tmp_path, "prod", monkeypatch, pipeline="diabetes"),
    ):
        for step in steps:
            argv = step.argv()
            assert argv[argv.index("--pipeline") + 1] == "diabetes", step.name


def test_without_pipeline_every_pipeline_is_bootstrapped_in_turn_stopping_at_the_first_failure(monkeypatch):
    done = []

    def bootstrap_pipeline(config, args):
        done.append(config.selected)
        return 3 if config.selected == failing else 0

    monkeypatch.setattr(bootstrap, "bootstrap_pipeline", bootstrap_pipeline)
    failing = None
    assert bootstrap.main(["--env", "dev"]) == 0 and done == ["diabetes", "penguins"]
    done.clear()
    failing = "diabetes"
    assert bootstrap.main(["--env", "dev"]) == 3 and done == ["diabetes"]
    done.clear()
    assert bootstrap.main(["--env", "dev", "--pipeline", "penguins"]) == 0 and done == ["penguins"]


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
        (["--env", "dev", "--pipeline", "nope"], "has no pipeline 'nope'"),
    ],
)
def test_bad_input_is_exit_2_before_anything_is_sent(monkeypatch, capsys, argv, message):
    monkeypatch.setattr(bootstrap, "seed", lambda config: pytest.fail("seeded after bad input"))
    assert bootstrap.main(argv) == 2
    assert message in capsys.readouterr().err
