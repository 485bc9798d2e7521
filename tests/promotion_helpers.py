"""Helpers (not fixtures) for the promotion tests, importable by a child process that a test SIGKILLs.

python -m tests.promotion_helpers promote ROOT VERSION STEP       promote, killed right after STEP
python -m tests.promotion_helpers worker ROOT JOB_ID CONTENT      a run worker killed between register and promote
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from contracts.config import REPO_ROOT, load_environment
from contracts.registry import CHAMPION, Lineage, Span, registry_target

# Stand-in digest of "the model tests": outcomes are recorded against it.
TESTS_SHA256 = "7" * 64
LINEAGE = Lineage(
    pipeline_run_id="run-1",
    commit="abc123def456",
    modules="8502dcf44e3d",
    source="ci",
    spans=(Span(number=1, sha256="a" * 64),),
    parameters={"num_epochs": 20, "learning_rate": 0.01},
    metrics={"sparse_categorical_accuracy": 0.97},
)


def stand_in_model(folder: Path, content: str) -> str:
    """A folder of files standing in for a SavedModel: its content decides its content address."""
    (folder / "variables").mkdir(parents=True, exist_ok=True)
    (folder / "saved_model.pb").write_text(content)
    (folder / "variables" / "variables.index").write_text("index")
    return str(folder)


def config(auto_promote: bool = True) -> Any:
    local = load_environment("local", "penguins")
    if auto_promote:
        return local
    return local.model_copy(update={"release": local.release.model_copy(update={"auto_promote": False})})


def two_pipelines(folder: Path) -> Path:
    """envs/local.yaml with the diabetes pipeline beside penguins (its gate: RMSE at most 65, 3 worse at most),
    written to `folder`: an environment with several pipelines."""
    import yaml

    raw = yaml.safe_load(Path(REPO_ROOT, "envs", "local.yaml").read_text())
    raw["pipelines"]["diabetes"] = {
        "evaluation": {"metric": "RootMeanSquaredError", "direction": "lower", "bound": 65, "max_regression": 3}
    }
    path = folder / "two-pipelines.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def registry(root: Path, auto_promote: bool = True) -> Any:
    from components.registry import open_registry

    return open_registry(registry_target(config(auto_promote), root))


def register(registry: Any, root: Path, *contents: str) -> list[str]:
    """Register one stand-in version per content; their version numbers."""
    folders = [stand_in_model(root / "models" / content, content) for content in contents]
    return [registry.register(folder, LINEAGE, blessed=True)[0].version for folder in folders]


def passes(version: Any, **options: Any) -> None:
    """A tester whose model tests pass (also in place of suite.run_suite, which takes the pipeline and more)."""


def gate(registry: Any, tester: Any = passes, by: str = "test") -> Any:
    from release.model_tests.records import outcomes_for
    from release.promotion.moves import ModelTestGate

    return ModelTestGate(outcomes_for(registry.target), TESTS_SHA256, lambda: tester, by)


def journal(registry: Any) -> Any:
    """The local journal and pointers of `registry`'s model."""
    from release.promotion.local_journal import LocalJournal

    return LocalJournal(Path(registry.target.root), registry.target.model_name)


def outcomes_file(registry: Any) -> Path:
    """Where the local model-test outcomes of `registry`'s model are recorded."""
    return journal(registry).root / "model-tests.jsonl"


def agreement(registry: Any) -> tuple[str | None, str | None, str | None, list[str]]:
    """(MLflow's champion, the pointer's, the history's last, pending moves): the first three agree after a
    settled move, and nothing is pending."""
    from release.promotion.journal import committed

    journal_ = journal(registry)
    entries = journal_.entries()
    history = committed(entries)
    last = history[-1].to_version if history else None
    pending = [e.describe() for e in entries if e.state == "pending"]
    return registry.alias_version(CHAMPION), journal_.pointer(CHAMPION), last, pending


def kill_at(step: str) -> Any:
    def hook(name: str) -> None:
        if name == step:
            os.kill(os.getpid(), signal.SIGKILL)

    return hook


def _promote_killed(root: str, version: str, step: str, env: str | None = None) -> None:
    from components.registry import open_registry
    from release.model_tests.records import outcomes_for
    from release.model_tests.suite import run_suite, suite_sha256
    from release.promotion.local_mover import LocalMover
    from release.promotion.moves import ModelTestGate, promote

    if env is None:
        local, tests = registry(Path(root)), gate(registry(Path(root)))
    else:
        local = open_registry(registry_target(load_environment(env), Path(root)))
        config = load_environment(env)

        def tester(candidate: Any) -> None:
            run_suite(candidate, pipeline=config.dataset)

        tests = ModelTestGate(outcomes_for(local.target), suite_sha256(config.dataset), lambda: tester, "child")
    mover = LocalMover(local, after_step=kill_at(step))
    promote(mover, version, tests, by="child", reason="killed", approved_by="crash test")


def _canary_killed(root: str, action: str, version: str, step: str) -> None:
    """Start a canary of `version` at 10% (action start), or end the running one (promote, rollback), SIGKILLed
    after `step` of its move."""
    from release.promotion import canary
    from release.promotion.local_mover import LocalMover

    local = registry(Path(root))
    mover = LocalMover(local, after_step=kill_at(step))
    if action == "start":
        canary.start(mover, version, 10, gate(local), by="child", reason="killed", approved_by="crash test")
    else:
        canary.finish(mover, action, by="child", reason="killed")  # type: ignore[arg-type]


def _worker_killed(root: str, job_id: str, content: str) -> None:
    """The run worker as it runs a job, its pipeline replaced by registering a stand-in model; killed (SIGKILL)
    once the version is registered and before anything promotes it."""
    from localcloud import run_store, run_worker
    from localcloud.run_store import RunRecord

    run_store.reserve(Path(root), RunRecord(job_id=job_id, env="local", pipeline="penguins"))
    run_worker._execute = lambda root_, record, env: _registered(Path(root_), content)
    run_worker._after_registration = lambda *args: os.kill(os.getpid(), signal.SIGKILL)
    run_worker.main(["--job-id", job_id, "--local-root", root])


def _registered(root: Path, content: str) -> Any:
    """What a pipeline run that registered a stand-in version summarises (RunSummary's fields)."""
    (version,) = register(registry(root), root, content)
    return SimpleNamespace(
        succeeded=True,
        error=None,
        components=[],
        metrics={},
        baseline_metrics={},
        blessed=True,
        validation_failures=[],
        pushed_version=version,
        pushed_path=None,
        pushed_by_this_run=True,
        promotion=None,
    )


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    {"promote": _promote_killed, "worker": _worker_killed, "canary": _canary_killed}[command](*arguments)
    sys.exit(0)
