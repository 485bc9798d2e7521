"""release.adopt: prod waits for the template dev published for the pushed commit, then hands it to submit."""

from __future__ import annotations

import json

import pytest

from release import adopt
from release.publishing.store import LocalStore
from release.publishing.templates import publish_template

COMMIT = "c" * 40
PROD_PENGUINS = ["--env", "prod", "--pipeline", "penguins"]  # the commands need the pipeline: prod has two


def publish(store: LocalStore, tmp_path, commit: str = COMMIT, pipeline: str = "penguins") -> str:
    spec = tmp_path / "pipeline.json"
    image = "europe-west4-docker.pkg.dev/my-dev-project/penguins-dev-images/pipeline@sha256:" + "1" * 64
    executor = {"container": {"image": image}}
    spec.write_text(json.dumps({"pipelineSpec": {"deploymentSpec": {"executors": {"a": executor}}}}))
    return publish_template(
        store, spec, pipeline=pipeline, commit_sha=commit, branch="main", modules_sha256="2" * 64
    ).uri


class Clock:
    """A fake clock the fake sleep advances, with a hook that runs on each sleep (a publisher finishing)."""

    def __init__(self, on_sleep=lambda now: None) -> None:
        self.now, self.slept, self.on_sleep = 0.0, [], on_sleep

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
        self.on_sleep(self.now)


def test_a_published_commit_is_found_at_once_with_its_lineage(tmp_path):
    store = LocalStore(tmp_path / "dev-artifacts")
    uri = publish(store, tmp_path)
    clock = Clock()
    found = adopt.wait_for_release(
        store, "penguins", COMMIT, 60, clock=lambda: clock.now, sleep=clock.sleep, say=lambda _: None
    )
    assert found["template"] == uri and uri.endswith(f"/templates/{found['template_sha256']}/pipeline.json")
    assert (found["commit"], found["modules_sha256"]) == (COMMIT, "2" * 64)
    assert found["image"].endswith("@sha256:" + "1" * 64)
    assert clock.slept == []


def test_it_waits_for_the_publishing_build_then_adopts(tmp_path):
    store = LocalStore(tmp_path / "dev-artifacts")
    clock = Clock(on_sleep=lambda now: publish(store, tmp_path) if now >= 90 else None)
    said: list[str] = []
    found = adopt.wait_for_release(
        store, "penguins", COMMIT, 600, poll_seconds=30, clock=lambda: clock.now, sleep=clock.sleep, say=said.append
    )
    assert found["commit"] == COMMIT and clock.slept == [30, 30, 30]
    assert "waiting for the penguins template of commit cccccccccccc" in said[0]


def test_a_commit_never_published_fails_clearly_when_the_wait_is_over(tmp_path):
    store = LocalStore(tmp_path / "dev-artifacts")
    publish(store, tmp_path, commit="d" * 40)  # another commit's template is not this one's
    publish(store, tmp_path, pipeline="diabetes")  # nor another pipeline's of this commit
    clock = Clock()
    with pytest.raises(
        adopt.NotPublishedError,
        match=rf"penguins template published for commit {COMMIT} after waiting 100 s "
        rf"\(.*/templates/commits/penguins/{COMMIT}.json does not exist\)",
    ):
        adopt.wait_for_release(
            store,
            "penguins",
            COMMIT,
            100,
            poll_seconds=30,
            clock=lambda: clock.now,
            sleep=clock.sleep,
            say=lambda _: None,
        )
    assert clock.slept == [30, 30, 30, 10]  # bounded: never past the deadline


def test_main_writes_the_publish_result_submit_reads(tmp_path, monkeypatch, capsys):
    store = LocalStore(tmp_path / "dev-artifacts")
    uri = publish(store, tmp_path)
    seen = []
    monkeypatch.setattr("release.publishing.store.store_for", lambda location: seen.append(location) or store)
    result = tmp_path / "publish.json"
    code = adopt.main([*PROD_PENGUINS, "--commit", COMMIT, "--branch", "main", "--result-file", str(result)])
    assert code == 0, capsys.readouterr().err
    assert seen == ["gs://penguins-dev-artifacts"]  # prod adopts from dev's store (gcp.releases_from)
    written = json.loads(result.read_text())
    assert written["template"] == uri and written["adopted_from"] == "dev" and written["branch"] == "main"


def test_main_exit_1_when_nothing_was_published_in_time(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr("release.publishing.store.store_for", lambda location: LocalStore(tmp_path / "empty"))
    args = [*PROD_PENGUINS, "--commit", COMMIT, "--branch", "main", "--wait", "0", "--result-file", str(tmp_path / "r")]
    assert adopt.main(args) == 1
    assert f"no penguins template published for commit {COMMIT}" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--env", "dev", "--pipeline", "penguins", "--commit", COMMIT],
            "environment 'dev' publishes its own releases",
        ),
        (
            [*PROD_PENGUINS, "--commit", "abc123"],
            "--commit 'abc123': expected a full lowercase hex git commit id",
        ),
        (
            [*PROD_PENGUINS, "--commit", COMMIT, "--wait", "-1"],
            "--wait -1: expected seconds",
        ),
        (["--env", "nope", "--commit", COMMIT], "environment file not found"),
    ],
)
def test_bad_input_is_exit_2_naming_it(tmp_path, capsys, args, message):
    assert adopt.main([*args, "--branch", "main", "--result-file", str(tmp_path / "r")]) == 2
    assert message in capsys.readouterr().err
