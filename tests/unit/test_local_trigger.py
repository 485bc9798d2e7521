"""The local trigger command (`nox -s trigger`, localcloud/pubsub.py): the CloudEvent it builds is what the
function accepts, it reports what the function did with the message, and bad input exits 2."""

from __future__ import annotations

import json

import functions_framework
import pytest

from contracts.config import REPO_ROOT
from contracts.run_request import job_id_for
from localcloud import pubsub as local_trigger

MAIN = REPO_ROOT / "cloudfunctions" / "trigger_pipeline" / "main.py"
ARTICLE_MESSAGE = {"num_epochs": 3, "learning_rate": 1e-2}
SCHEDULER_MESSAGE = {"num_epochs": "3", "learning_rate": "1e-2"}


def read_log(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def test_its_cloudevent_submits_through_the_function(tmp_path, monkeypatch):
    log = tmp_path / "dry-run.jsonl"
    monkeypatch.setenv("TRIGGER_BACKEND", "dry-run")
    monkeypatch.setenv("DRY_RUN_LOG", str(log))
    client = functions_framework.create_app("trigger_pipeline", str(MAIN), "cloudevent").test_client()
    for message_id, payload in (("1", ARTICLE_MESSAGE), ("2", SCHEDULER_MESSAGE), ("1", ARTICLE_MESSAGE)):
        headers, body = local_trigger.pubsub_cloudevent(payload, message_id)
        assert client.post("/", headers=headers, data=body).status_code == 200
    lines = read_log(log)
    assert [line["parameters"]["num_epochs"] for line in lines] == [3, 3]  # The redelivery started nothing.
    assert {line["parameters"]["learning_rate"] for line in lines} == {0.01}


def test_bad_input_exits_2(tmp_path, capsys):
    root = ["--local-root", str(tmp_path)]
    assert (
        local_trigger.main(
            ["--pipeline", "penguins", "--env", "dev", "--num-epochs", "3", "--learning-rate", "0.1", *root]
        )
        == 2
    )
    assert "is not local" in capsys.readouterr().err
    assert local_trigger.main(root) == 2  # the local environment has two pipelines: which one?
    assert "has 2 pipelines (diabetes, penguins): name one" in capsys.readouterr().err
    assert local_trigger.main(["--pipeline", "penguins", *root]) == 2
    assert "--num-epochs and --learning-rate, or --schedule" in capsys.readouterr().err
    assert local_trigger.main(["--pipeline", "penguins", "--schedule", "nightly", *root]) == 2
    assert "no schedule 'nightly'" in capsys.readouterr().err
    assert not (tmp_path / "function").exists()


def test_the_server_gets_the_repository_on_its_path(monkeypatch):
    """The function imports `contracts`: a checkout serves it with the repository root first on PYTHONPATH."""
    monkeypatch.setenv("PYTHONPATH", f"/elsewhere:{REPO_ROOT}")
    env = local_trigger.server_environment({"TRIGGER_BACKEND": "local"})
    assert env["PYTHONPATH"].split(":") == [str(REPO_ROOT), "/elsewhere"] and env["TRIGGER_BACKEND"] == "local"


class FakeFunction:
    """Stands in for the server: answers a post and writes the function's log line for it, as the function does."""

    def __init__(self, log_path, entry):
        self.log_path, self.entry, self.followed = log_path, entry, []

    def install(self, monkeypatch):
        monkeypatch.setattr(local_trigger, "_server", lambda *args: "http://127.0.0.1:1/")
        monkeypatch.setattr(local_trigger, "post", self.post)
        monkeypatch.setattr(local_trigger, "_follow", lambda root, job_id, log: self.followed.append(job_id) or 0)

    def post(self, url, headers, body):
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        message_id = headers["ce-id"]
        with open(self.log_path, "a") as log:
            log.write("[INFO] a gunicorn line, not the function's\n")
            log.write(json.dumps({"function": "trigger_pipeline", "message_id": message_id, **self.entry}) + "\n")
        return 200


def test_a_refused_message_says_why(tmp_path, monkeypatch, capsys):
    log = tmp_path / "function" / "penguins" / "server.log"
    refusal = {"event": "refused", "field": "num_epochs", "reason": "0 is outside [1, 1000]"}
    FakeFunction(log, refusal).install(monkeypatch)
    argv = ["--pipeline", "penguins", "--num-epochs", "0", "--learning-rate", "0.1", "--local-root", str(tmp_path)]
    assert local_trigger.main(argv) == 2
    err = capsys.readouterr().err
    assert "the function refused the message: num_epochs: 0 is outside [1, 1000]" in err
    assert "see the function log" not in err


def test_a_schedule_with_an_idempotency_key_reports_and_follows_that_job(tmp_path, monkeypatch, capsys):
    env_file = tmp_path / "local.yaml"
    text = (REPO_ROOT / "envs" / "local.yaml").read_text()
    env_file.write_text(text.replace("source: scheduler}", "source: scheduler, idempotency_key: weekly-2026-w47}"))
    expected = job_id_for("penguins-local", "weekly-2026-w47")
    assert local_trigger.expected_job_id("penguins-local", {"idempotency_key": "weekly-2026-w47"}, "m-1") == expected
    assert local_trigger.expected_job_id("penguins-local", {}, "m-1") == job_id_for("penguins-local", "m-1")
    fake = FakeFunction(
        tmp_path / "function" / "penguins" / "server.log", {"event": "submitted", "job_id": expected, "created": False}
    )
    fake.install(monkeypatch)
    assert (
        local_trigger.main(
            [
                "--pipeline",
                "penguins",
                "--env",
                str(env_file),
                "--schedule",
                "weekly-retrain",
                "--local-root",
                str(tmp_path),
            ]
        )
        == 0
    )
    assert fake.followed == [expected]
    assert f"pipeline run {expected}: already submitted" in capsys.readouterr().out


def test_without_the_functions_log_line_the_job_is_derived_from_the_payload(tmp_path, monkeypatch):
    fake = FakeFunction(tmp_path / "function" / "penguins" / "server.log", {"event": "other"})
    fake.install(monkeypatch)
    monkeypatch.setattr(local_trigger, "OUTCOME_TIMEOUT_S", 0.2)
    env_file = tmp_path / "local.yaml"
    text = (REPO_ROOT / "envs" / "local.yaml").read_text()
    env_file.write_text(text.replace("source: scheduler}", "source: scheduler, idempotency_key: k-1}"))
    assert (
        local_trigger.main(
            [
                "--pipeline",
                "penguins",
                "--env",
                str(env_file),
                "--schedule",
                "weekly-retrain",
                "--local-root",
                str(tmp_path),
            ]
        )
        == 0
    )
    assert fake.followed == [job_id_for("penguins-local", "k-1")]


@pytest.mark.parametrize(
    ("entry", "status", "says"),
    [({"event": "retry", "message": "submission failed: OSError: disk full"}, 500, "disk full")],
)
def test_a_failed_submission_says_so(tmp_path, monkeypatch, capsys, entry, status, says):
    fake = FakeFunction(tmp_path / "function" / "penguins" / "server.log", entry)
    fake.install(monkeypatch)
    monkeypatch.setattr(local_trigger, "post", lambda *args: fake.post(*args) and status)
    assert (
        local_trigger.main(
            ["--pipeline", "penguins", "--num-epochs", "3", "--learning-rate", "0.1", "--local-root", str(tmp_path)]
        )
        == 2
    )
    assert says in capsys.readouterr().err and fake.followed == []
