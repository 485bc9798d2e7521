"""The local trigger command: the CloudEvent it builds is what the function accepts; bad input exits 2."""

import functions_framework

from localcloud import pubsub as local_trigger
from tests.function import ARTICLE_MESSAGE, MAIN, SCHEDULER_MESSAGE, read_log


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
    assert local_trigger.main(["--env", "dev", "--num-epochs", "3", "--learning-rate", "0.1", *root]) == 2
    assert "is not local" in capsys.readouterr().err
    assert local_trigger.main(root) == 2
    assert "--num-epochs and --learning-rate, or --schedule" in capsys.readouterr().err
    assert local_trigger.main(["--schedule", "nightly", *root]) == 2
    assert "no schedule 'nightly'" in capsys.readouterr().err
    assert not (tmp_path / "function").exists()
