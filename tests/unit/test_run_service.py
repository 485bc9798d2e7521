"""The local submission backend, its worker and runs_cli, with stub workers: no TensorFlow, no pipeline run."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from contracts.config import REPO_ROOT, environment_file, load_environment
from contracts.run_request import RunRequest, SubmissionError
from localcloud import run_service, run_store, runs_cli
from localcloud.run_service import LocalSubmitter
from localcloud.run_store import ComponentStatus, RunRecord
from localcloud.run_worker import pipeline_lock

# A worker that runs the real run worker with pipelines.local.execute replaced: it writes progress lines like
# the real one, waits for the file $FAKE_GO if set, then raises ($FAKE_MODE=raise) or returns a summary.
FAKE_WORKER = """
import os, sys, time
import pipelines.local
from localcloud import run_worker
from pipelines.summary import ComponentRun, RunSummary

def execute(run, out):
    print(f"params epochs={run.num_epochs} lr={run.learning_rate} spans={run.span_start}..{run.span_end}", file=out)
    print(f"params cache={run.enable_cache} id={run.run_id}", file=out)
    print("[   0.0s] loading TensorFlow and TFX ...", file=out)
    print("[   0.1s] Trainer ...", file=out, flush=True)
    go = os.environ.get("FAKE_GO")
    while go and not os.path.exists(go):
        time.sleep(0.02)
    if os.environ.get("FAKE_MODE") == "raise":
        raise RuntimeError("boom")
    print("[   0.2s] Trainer done in 0.1s", file=out, flush=True)
    return RunSummary(
        run_id=run.run_id,
        components=[ComponentRun("Trainer", "complete", 0.1), ComponentRun("Pusher", "complete", 0.0)],
        metrics={"sparse_categorical_accuracy": 0.95},
        blessed=True,
        pushed_version="1234",
        pushed_path="/registry/1234",
        pushed_by_this_run=True,
    )

pipelines.local.execute = execute
sys.exit(run_worker.main(sys.argv[1:]))
"""
SLEEPER = "import time; time.sleep(60)"
# Reports how it was started, to the file named by $STUB_OUT, and prints a line to its stdout (the run's log).
REPORTER = """
import json, os, sys
report = {"argv": sys.argv[1:], "cwd": os.getcwd(), "session_leader": os.getsid(0) == os.getpid(),
          "stdin": os.readlink("/proc/self/fd/0"), "keras": os.environ.get("TF_USE_LEGACY_KERAS"),
          "pythonpath": os.environ.get("PYTHONPATH", "").split(os.pathsep)}
with open(os.environ["STUB_OUT"] + ".tmp", "w") as f:
    json.dump(report, f)
os.replace(os.environ["STUB_OUT"] + ".tmp", os.environ["STUB_OUT"])
print("hello from the worker", flush=True)
"""


def wait_for(predicate, timeout=15.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def paths(tmp_path):
    return load_environment("local", "penguins").local_paths(tmp_path / "root")


@pytest.fixture
def submitter(paths):
    submitter = LocalSubmitter(environment_file("local"), paths, "penguins")
    yield submitter
    for record in run_store.list_runs(paths.root):  # Stop the workers this test started.
        if run_store.worker_alive(record):
            os.kill(record.pid, signal.SIGKILL)


@pytest.fixture
def stub(monkeypatch):
    """Replace the worker with a Python snippet run with the worker's arguments."""

    def use(code):
        monkeypatch.setattr(
            run_service,
            "worker_command",
            lambda job_id, env, root: [
                sys.executable,
                "-c",
                code,
                "--job-id",
                job_id,
                "--env",
                str(env),
                "--local-root",
                str(root),
            ],
        )

    return use


@pytest.fixture
def spawns(monkeypatch):
    """Count the worker processes started."""
    started = []
    real_popen = subprocess.Popen

    def popen(*args, **kwargs):
        started.append(args[0])
        return real_popen(*args, **kwargs)

    monkeypatch.setattr(run_service.subprocess, "Popen", popen)
    return started


def request(job_id="run-a", **parameters):
    return RunRequest(job_id=job_id, parameters=parameters or {"num_epochs": 5, "learning_rate": 0.02})


def test_worker_command_runs_the_worker_module_on_this_run():
    command = run_service.worker_command("run-a", Path("/envs/local.yaml"), Path("/state"))
    assert command == [
        sys.executable,
        "-m",
        "localcloud.run_worker",
        "--job-id",
        "run-a",
        "--env",
        "/envs/local.yaml",
        "--local-root",
        "/state",
    ]


def test_submit_records_a_queued_run_with_its_live_worker(submitter, paths, stub):
    stub(SLEEPER)
    result = submitter.submit(request())
    assert (result.job_id, result.backend, result.created) == ("run-a", "local", True)
    assert result.location == str(paths.root / "runs" / "run-a" / "record.json")
    record = run_store.load(paths.root, "run-a")
    assert record.status == "queued"
    assert record.parameters == {"num_epochs": 5, "learning_rate": 0.02}
    assert record.env == str(environment_file("local").resolve())
    assert record.pid_start_time == run_store.process_start_time(record.pid)
    assert run_store.worker_alive(record)


def test_the_worker_is_detached_in_the_repository_with_the_tfx_environment(
    submitter, paths, stub, tmp_path, monkeypatch
):
    monkeypatch.setenv("STUB_OUT", str(tmp_path / "started.json"))
    monkeypatch.setenv("PYTHONPATH", "/elsewhere")
    monkeypatch.delenv("TF_USE_LEGACY_KERAS", raising=False)
    stub(REPORTER)
    submitter.submit(request())
    wait_for((tmp_path / "started.json").exists)
    started = json.loads((tmp_path / "started.json").read_text())
    assert started["argv"] == [
        "--job-id",
        "run-a",
        "--env",
        str(environment_file("local").resolve()),
        "--local-root",
        str(paths.root),
    ]
    assert started["cwd"] == str(REPO_ROOT)
    assert started["session_leader"]
    assert started["stdin"] == "/dev/null"
    assert started["keras"] == "1"
    assert started["pythonpath"][:2] == [str(REPO_ROOT), "/elsewhere"]
    log = Path(run_store.load(paths.root, "run-a").log_path)
    wait_for(lambda: "hello from the worker" in log.read_text())


def test_a_second_submit_of_a_job_id_starts_nothing(submitter, paths, stub, spawns):
    stub(SLEEPER)
    first = submitter.submit(request())
    pid = run_store.load(paths.root, "run-a").pid
    second = submitter.submit(request(num_epochs=9))
    assert (first.created, second.created) == (True, False)
    assert second.location == first.location
    assert len(spawns) == 1
    record = run_store.load(paths.root, "run-a")
    assert record.pid == pid
    assert record.parameters["num_epochs"] == 5


def test_concurrent_submits_of_a_job_id_start_one_worker(submitter, stub, spawns):
    stub(SLEEPER)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: submitter.submit(request()), range(8)))
    assert sum(r.created for r in results) == 1
    assert len(spawns) == 1


def test_a_worker_killed_with_sigkill_is_reported_failed(submitter, paths, stub):
    stub(SLEEPER)
    submitter.submit(request())
    pid = run_store.load(paths.root, "run-a").pid
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: run_store.refresh(paths.root, run_store.load(paths.root, "run-a")).status == "failed")
    assert f"worker process {pid} exited without recording a result" in run_store.load(paths.root, "run-a").error


def test_a_worker_that_cannot_start_fails_the_run(submitter, paths, monkeypatch, spawns):
    monkeypatch.setattr(run_service, "worker_command", lambda *_: [str(paths.root / "no-such-python")])
    with pytest.raises(SubmissionError, match="run-a: could not start the worker: FileNotFoundError"):
        submitter.submit(request())
    record = run_store.load(paths.root, "run-a")
    assert record.status == "failed"
    assert "could not start the worker" in record.error
    assert submitter.submit(request()).created is False
    assert len(spawns) == 1


def test_submitting_does_not_import_tensorflow(paths):
    script = f"""
import json, sys
from pathlib import Path
from contracts.config import load_environment
from contracts.config import environment_file
from localcloud import run_service
from contracts.run_request import RunRequest
run_service.worker_command = lambda job_id, env, root: [sys.executable, "-c", "pass"]
paths = load_environment("local", "penguins").local_paths(Path({str(paths.root)!r}))
submitter = run_service.LocalSubmitter(environment_file("local"), paths, "penguins")
result = submitter.submit(RunRequest("run-a", {{"num_epochs": 5}}))
heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "tfx", "apache_beam"))
print(json.dumps([result.created, heavy]))
"""
    out = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [True, []]


def test_the_real_worker_records_a_bad_environment_as_failed(paths, tmp_path, spawns):
    env = tmp_path / "broken.yaml"
    env.write_text("name: local\n")
    result = LocalSubmitter(env, paths, "penguins").submit(request())
    assert result.created
    wait_for(lambda: not run_store.refresh(paths.root, run_store.load(paths.root, "run-a")).active)
    record = run_store.load(paths.root, "run-a")
    assert record.status == "failed"
    assert record.error.startswith("ConfigError: ") and str(env) in record.error
    assert record.ended_at is not None
    assert spawns[0][1:3] == ["-m", "localcloud.run_worker"]


def test_the_worker_waits_queued_for_the_pipeline_lock_then_records_progress_and_result(
    submitter, paths, stub, tmp_path, monkeypatch
):
    go = tmp_path / "go"
    monkeypatch.setenv("FAKE_GO", str(go))
    stub(FAKE_WORKER)
    run_store.runs_dir(paths.root).mkdir(parents=True)
    with pipeline_lock(paths.root):  # Another run holds the local root.
        parameters = {"num_epochs": 5, "learning_rate": 0.02, "span_start": 1, "span_end": 1}
        submitter.submit(RunRequest(job_id="run-a", parameters=parameters, enable_caching=False))
        pid = run_store.load(paths.root, "run-a").pid
        wait_for(lambda: any(f"FLOCK  ADVISORY  WRITE {pid} " in line for line in _blocked_locks()))
        assert run_store.refresh(paths.root, run_store.load(paths.root, "run-a")).status == "queued"
    wait_for(lambda: run_store.load(paths.root, "run-a").components)
    record = run_store.load(paths.root, "run-a")
    assert record.status == "running" and record.started_at is not None
    assert record.components == [ComponentStatus("Trainer", "running", None)]
    go.touch()
    wait_for(lambda: not run_store.load(paths.root, "run-a").active)
    record = run_store.load(paths.root, "run-a")
    assert record.status == "succeeded", record.error
    assert record.components == [
        ComponentStatus("Trainer", "complete", 0.1),
        ComponentStatus("Pusher", "complete", 0.0),
    ]
    assert (record.blessed, record.pushed_version, record.pushed_path) == (True, "1234", "/registry/1234")
    assert record.metrics == {"sparse_categorical_accuracy": 0.95}
    assert record.error is None and record.ended_at >= record.started_at
    log = Path(record.log_path).read_text()
    assert "params epochs=5 lr=0.02 spans=1..1\nparams cache=False id=run-a" in log
    assert "Trainer done in 0.1s" in log


def _blocked_locks():
    return [line for line in Path("/proc/locks").read_text().splitlines() if "->" in line]


@pytest.mark.parametrize(
    ("mode", "signal_number", "error"),
    [("raise", None, "RuntimeError: boom"), ("wait", signal.SIGTERM, "terminated by SIGTERM")],
)
def test_a_worker_that_fails_records_why(submitter, paths, stub, tmp_path, monkeypatch, mode, signal_number, error):
    monkeypatch.setenv("FAKE_MODE", mode)
    if signal_number is None:
        monkeypatch.delenv("FAKE_GO", raising=False)
    else:
        monkeypatch.setenv("FAKE_GO", str(tmp_path / "never"))
    stub(FAKE_WORKER)
    submitter.submit(request())
    if signal_number is not None:
        wait_for(lambda: run_store.load(paths.root, "run-a").components)
        os.kill(run_store.load(paths.root, "run-a").pid, signal_number)
    wait_for(lambda: not run_store.load(paths.root, "run-a").active)
    record = run_store.load(paths.root, "run-a")
    assert record.status == "failed"
    assert record.error == error
    assert record.ended_at is not None


def test_follow_prints_status_changes_and_components_then_the_run(submitter, paths, stub, tmp_path, monkeypatch):
    go = tmp_path / "go"
    monkeypatch.setenv("FAKE_GO", str(go))
    stub(FAKE_WORKER)
    submitter.submit(request())
    out = io.StringIO()

    def release_once_trainer_is_shown():
        try:
            wait_for(lambda: "Trainer" in out.getvalue())
        finally:
            go.touch()  # Even on a timeout, so follow ends and the assertions below report it.

    threading.Thread(target=release_once_trainer_is_shown, daemon=True).start()
    assert runs_cli.follow(paths.root, "run-a", out=out) == 0
    lines = out.getvalue().splitlines()
    statuses = [line.split(": ")[-1] for line in lines if line.startswith("[") and "run-a: " in line]
    assert statuses in (["queued", "running", "succeeded"], ["running", "succeeded"])
    assert any(line.split()[-3:] == ["Trainer", "running", "-"] for line in lines if line.startswith("["))
    assert "run run-a: succeeded" in lines
    assert "model version: 1234 (pushed by this run)" in lines
    # After the run, the worker tests and auto-promotes what it registered: this stand-in version is not there.
    assert "  promotion: not promoted: version 1234" in "\n".join(lines)


def finished(root, job_id, minutes_ago=0, **fields):
    created = (datetime.now(timezone.utc) - timedelta(minutes=minutes_ago)).isoformat()
    run_store.reserve(
        root, RunRecord(job_id=job_id, created_at=created, parameters={"num_epochs": 5, "learning_rate": 0.02})
    )
    return run_store.update(root, job_id, started_at=created, **fields)


def test_list_shows_runs_newest_first_with_dead_runs_failed(tmp_path, capsys):
    ended = (datetime.now(timezone.utc) - timedelta(minutes=10) + timedelta(seconds=42)).isoformat()
    finished(tmp_path, "run-old", 10, status="succeeded", ended_at=ended, blessed=True, pushed_version="1795315523")
    finished(tmp_path, "run-dead", 5, status="running", pid=2**22 + 7, pid_start_time=1)
    assert runs_cli.main(["--local-root", str(tmp_path), "list"]) == 0
    header, dead, old = capsys.readouterr().out.splitlines()
    assert header.split()[:4] == ["job", "id", "status", "epochs"]
    assert dead.split()[:4] == ["run-dead", "failed", "5", "0.02"]
    assert old.split()[:2] == ["run-old", "succeeded"]
    assert old.split()[-3:] == ["42.0s", "yes", "1795315523"]
    assert run_store.load(tmp_path, "run-dead").status == "failed"


def test_list_without_runs_says_so(tmp_path, capsys):
    assert runs_cli.main(["--local-root", str(tmp_path), "list"]) == 0
    assert "no runs under" in capsys.readouterr().out


def test_show_prints_the_record(tmp_path, capsys):
    finished(
        tmp_path,
        "run-a",
        status="failed",
        components=[ComponentStatus("Trainer", "complete", 3.25), ComponentStatus("Pusher", "not run")],
        metrics={"sparse_categorical_accuracy": 0.5},
        baseline_metrics={"sparse_categorical_accuracy": 0.97},
        blessed=False,
        validation_failures=["absolute bound: sparse_categorical_accuracy is 0.5000 (required: >= 0.9000)"],
        error="components did not complete: Pusher (not run)",
    )
    assert runs_cli.main(["--local-root", str(tmp_path), "show", "run-a"]) == 0
    out = capsys.readouterr().out
    assert "run run-a: failed" in out
    assert "learning_rate=0.02, num_epochs=5" in out
    assert any(line.split() == ["Trainer", "complete", "3.2"] for line in out.splitlines())
    assert any(line.split() == ["Pusher", "not", "run", "-"] for line in out.splitlines())
    assert "sparse_categorical_accuracy: 0.5000  (baseline 0.9700)" in out
    assert "blessed: NO\n  failed: absolute bound" in out
    assert "model version: none pushed (not blessed)" in out
    assert "error: components did not complete: Pusher (not run)" in out
    assert f"log: {tmp_path / 'runs' / 'run-a' / 'run.log'}" in out


@pytest.mark.parametrize(("status", "code"), [("succeeded", 0), ("failed", 1)])
def test_follow_of_a_finished_run_exits_by_its_status(tmp_path, capsys, status, code):
    finished(tmp_path, "run-a", status=status)
    assert runs_cli.main(["--local-root", str(tmp_path), "follow", "run-a"]) == code
    assert f"run run-a: {status}" in capsys.readouterr().out


def test_follow_ends_failed_when_the_worker_is_gone(tmp_path, capsys):
    finished(tmp_path, "run-a", status="running", pid=2**22 + 7, pid_start_time=1)
    assert runs_cli.main(["--local-root", str(tmp_path), "follow", "run-a"]) == 1
    assert "error: worker process 4194311 exited without recording a result" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["show", "follow"])
def test_an_unknown_job_id_exits_2(tmp_path, capsys, command):
    assert runs_cli.main(["--local-root", str(tmp_path), command, "run-x"]) == 2
    assert "unknown run 'run-x'" in capsys.readouterr().err


def test_no_command_lists_runs(tmp_path, capsys):
    assert runs_cli.main(["--local-root", str(tmp_path)]) == 0
    assert capsys.readouterr().out == runs_cli.render_list(tmp_path) + "\n"


@pytest.mark.parametrize("argv", [["follow"], ["list", "extra"], ["remove", "run-a"]])
def test_bad_arguments_exit_2(tmp_path, argv):
    with pytest.raises(SystemExit) as exit_info:
        runs_cli.main(["--local-root", str(tmp_path), *argv])
    assert exit_info.value.code == 2


def test_a_non_local_environment_exits_2(tmp_path, capsys):
    assert runs_cli.main(["--env", "dev", "--local-root", str(tmp_path), "list"]) == 2
    assert "uses backend 'vertex'" in capsys.readouterr().err


def test_list_shows_the_spans_each_run_trains_on(tmp_path, capsys):
    created = datetime.now(timezone.utc).isoformat()
    window = {"num_epochs": 5, "learning_rate": 0.02, "span_start": 2, "span_end": 4}
    run_store.reserve(tmp_path, RunRecord(job_id="run-window", created_at=created, parameters=window))
    finished(tmp_path, "run-default", 1, status="succeeded")
    assert runs_cli.main(["--local-root", str(tmp_path), "list"]) == 0
    header, window_line, default_line = capsys.readouterr().out.splitlines()
    assert header.split()[4:6] == ["lr", "spans"]
    assert window_line.split()[:5] == ["run-window", "queued", "5", "0.02", "2-4"]
    assert default_line.split()[4] == "newest"
