"""End to end: `nox -s trigger` starts the real function server (functions-framework, local backend) from the
checkout and reports why the function refused a message, read from the function's own log line."""

from __future__ import annotations

import pytest

from localcloud import pubsub as local_trigger

pytestmark = pytest.mark.e2e


def test_the_local_server_says_why_it_refused_a_message(tmp_path, capsys):
    root = ["--local-root", str(tmp_path)]
    try:
        assert local_trigger.main(["--pipeline", "penguins", "--num-epochs", "0", "--learning-rate", "0.1", *root]) == 2
        captured = capsys.readouterr()
        assert "HTTP 200" in captured.out  # Acknowledged: a message that can never become a run.
        assert "the function refused the message: num_epochs: '0' is outside [1, 1000]" in captured.err
        # The same server, reused: a second refusal names its own field.
        assert local_trigger.main(["--pipeline", "penguins", "--num-epochs", "3", "--learning-rate", "nan", *root]) == 2
        assert "learning_rate: must be a finite number" in capsys.readouterr().err
    finally:
        local_trigger.main(["--stop", *root])
    assert not (tmp_path / "function" / "server.json").exists()
