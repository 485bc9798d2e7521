"""The `local` submission backend: reserve the job id in the run store, start a detached worker, return.

`submit` does no pipeline work itself and never imports TensorFlow or TFX, so it returns in well under a
second; the worker (`localcloud.run_worker`) runs the pipeline in its own process and session,
so it outlives the submitter, and records its progress and result in the run store.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

from contracts.config import ENVS_DIR, REPO_ROOT, ConfigError, LocalPaths, load_pipeline_environment
from contracts.run_request import Lineage, RunRequest, SubmissionError, SubmitResult
from localcloud import run_store
from pipelines.worktree import working_tree_lineage

WORKER_MODULE = "localcloud.run_worker"


def worker_command(job_id: str, env_file: Path, root: Path) -> list[str]:
    """The worker's command line (tests replace this with a stub)."""
    return [sys.executable, "-m", WORKER_MODULE, "--job-id", job_id, "--env", str(env_file), "--local-root", str(root)]


def worker_environment() -> dict[str, str]:
    """This process's environment plus what the worker needs: TFX 1.16 wants Keras 2, and the repo importable."""
    env = dict(os.environ)
    env["TF_USE_LEGACY_KERAS"] = "1"
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if str(REPO_ROOT) not in paths:
        paths.insert(0, str(REPO_ROOT))
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


class LocalSubmitter:
    """Submits runs to the local environment whose state lives under `paths.root`."""

    backend = "local"

    def __init__(self, env_file: Path, paths: LocalPaths, pipeline: str) -> None:
        # Absolute: the worker runs from the repository root, not from the caller's directory.
        self.env_file = Path(env_file).resolve()
        self.paths = paths
        self.pipeline = pipeline

    def submit(self, request: RunRequest) -> SubmitResult:
        """Start run `request.job_id` unless it exists; a repeated job id starts nothing (created=False)."""
        root = self.paths.root
        record, created = run_store.reserve(
            root,
            run_store.RunRecord(
                job_id=request.job_id,
                parameters=dict(request.parameters),
                labels=dict(request.labels),
                enable_caching=request.enable_caching,
                env=str(self.env_file),
                pipeline=self.pipeline,
            ),
        )
        if created:
            self._start_worker(record)
        location = str(run_store.record_path(root, request.job_id))
        return SubmitResult(job_id=request.job_id, backend=self.backend, created=created, location=location)

    def _start_worker(self, record: run_store.RunRecord) -> None:
        """Spawn the detached worker and record its pid; if it cannot start, record the run as failed."""
        root = self.paths.root
        assert record.log_path is not None  # Set by reserve.
        try:
            with open(record.log_path, "ab") as log:
                process = subprocess.Popen(
                    worker_command(record.job_id, self.env_file, root),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    cwd=REPO_ROOT,
                    env=worker_environment(),
                    # Its own session: a Ctrl-C or hangup aimed at the submitter does not reach the run.
                    start_new_session=True,
                )
        except OSError as err:
            reason = f"could not start the worker: {type(err).__name__}: {err}"
            run_store.update(root, record.job_id, status=run_store.FAILED, error=reason, ended_at=run_store.now())
            raise SubmissionError(f"run {record.job_id}: {reason}") from err
        run_store.update(root, record.job_id, pid=process.pid, pid_start_time=run_store.process_start_time(process.pid))
        # Reap the worker when it ends, so a long-lived submitter does not collect zombies; a daemon thread,
        # so a short-lived submitter exits at once (the worker is then re-parented and reaped by init).
        threading.Thread(target=process.wait, name=f"reap-{record.job_id}", daemon=True).start()


def local_submitter(
    env_file: Path | None = None, local_root: Path | None = None, pipeline: str | None = None
) -> LocalSubmitter:
    """The submitter of a local environment file (default envs/local.yaml) for `pipeline` (or its only one), its
    root optionally overridden.

    Raises ConfigError naming the file if it is missing, invalid, not a local environment, or `pipeline` is not
    one of its pipelines (or none is named and it has several).
    """
    env_file = Path(env_file) if env_file else ENVS_DIR / "local.yaml"
    config = load_pipeline_environment(env_file, pipeline)
    if config.backend != "local":
        raise ConfigError(f"{env_file}: environment '{config.name}' is not a local one")
    return LocalSubmitter(env_file, config.local_paths(local_root), config.dataset)


def run_lineage(pipeline: str) -> Lineage:
    """What a local run of `pipeline` executes: the working tree (its commit and the pipeline's modules hash), as
    release.submit labels it."""
    return working_tree_lineage(pipeline)
