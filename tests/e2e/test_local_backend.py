"""End to end: submit a real run to the local backend, follow it with runs_cli until it ends, read the record."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from components.registry import open_registry
from contracts.config import REPO_ROOT, environment_file, load_environment
from contracts.registry import registry_target
from contracts.run_request import RunRequest
from localcloud import run_store
from localcloud.run_service import LocalSubmitter

pytestmark = pytest.mark.e2e

FOLLOW_TIMEOUT_SECONDS = 240


def test_a_submitted_run_trains_blesses_and_pushes_and_can_be_followed(tmp_path):
    config = load_environment("local", "penguins")
    paths = config.local_paths(tmp_path)
    submitter = LocalSubmitter(environment_file("local"), paths, "penguins")
    request = RunRequest(
        job_id="e2e-local-run",
        parameters={"num_epochs": 5, "learning_rate": 0.02},
        labels={"commit": "abc123def456", "modules": "8502dcf44e3d", "source": "pubsub", "spans": "newest"},
    )

    result = submitter.submit(request)
    assert result.created
    assert Path(result.location) == run_store.record_path(paths.root, request.job_id)
    assert submitter.submit(request).created is False  # The same job id starts nothing new.

    try:
        followed = subprocess.run(
            [sys.executable, "-m", "localcloud.runs_cli", "--local-root", str(tmp_path), "follow", request.job_id],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=FOLLOW_TIMEOUT_SECONDS,
        )
    finally:
        record = run_store.load(paths.root, request.job_id)
        if run_store.worker_alive(record):  # Timed out: do not leave the pipeline running.
            subprocess.run(["kill", "-KILL", str(record.pid)], check=False)
    log = Path(record.log_path).read_text()
    assert followed.returncode == 0, f"{followed.stdout}\n{followed.stderr}\n--- run log ---\n{log}"
    assert "e2e-local-run: running" in followed.stdout
    assert "e2e-local-run: succeeded" in followed.stdout
    assert "Trainer" in followed.stdout

    assert record.status == "succeeded"
    assert record.started_at <= record.ended_at
    statuses = {c.node_id: c.status for c in record.components}
    assert set(statuses.values()) == {"complete"}
    assert {"WindowExampleGen", "Transform", "Trainer", "Evaluator", "RegistryPush"} <= set(statuses)
    assert record.metrics["sparse_categorical_accuracy"] >= config.evaluation.bound
    assert record.blessed is True
    assert record.pushed_by_this_run
    pushed = Path(record.pushed_path)
    assert pushed.name == "Format-Serving" and pushed.parent.parent == paths.registry / "artifacts"
    assert (pushed / "saved_model.pb").is_file()
    # The run's labels reached the registered version's lineage through the worker.
    lineage = open_registry(registry_target(config, paths.root)).get(record.pushed_version).lineage
    assert (lineage.commit, lineage.modules, lineage.source) == ("abc123def456", "8502dcf44e3d", "pubsub")
    assert lineage.pipeline_run_id == request.job_id and lineage.parameters["num_epochs"] == 5
    assert "Trainer done in" in log  # The progress lines went to the run's log.
