"""The rehearsal, in order: synthesize, deploy to the stand-in, bootstrap, the four flows per environment (dev and
prod side by side; prod's push workflows wait for dev's, whose template they adopt), the lifetime check, the
access table; then the summary and the request log.

What the stand-in cannot be faithful to is said in LIMITS, printed with every run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

from contracts.config import load_environment
from rehearsal import access, operator
from rehearsal.builds import BuildRunner
from rehearsal.context import Env
from rehearsal.flows import bootstrap, code, data, event, lifetime, release
from rehearsal.function import Served, serve
from rehearsal.report import Report, write_log
from rehearsal.standin.app import StandIn
from rehearsal.terraform import load_stacks
from rehearsal.workspace import Repository

LIMITS = (
    "not rehearsed (the stand-in cannot be faithful): the Vertex AI service agents' own permissions and image pulls; "
    "how long an upload, a deploy or a build takes (operations finish at their first poll); what a PipelineJob's steps "
    "do besides the registry push (training is the e2e tier's); container images (kaniko writes a stand-in digest); "
    "Terraform plans; the Cloud Build service agent's Pub/Sub delivery to triggers"
)


@dataclass
class Options:
    repository: Path
    out: Path
    stacks: Path
    tfx_python: str
    infra_python: str | None
    environments: tuple[str, ...]
    budget: float


def _fixture(options: Options) -> Path:
    """The push's inputs (rehearsal/fixture.py), built once per version of the fixture and kept under build/."""
    source = (options.repository / "rehearsal" / "fixture.py").read_bytes()
    folder = options.repository / "build" / "rehearsal-fixture" / hashlib.sha256(source).hexdigest()[:16]
    if not (folder / "hyperparameters" / "hyperparameters.json").exists():
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run(
            [options.tfx_python, "-m", "rehearsal.fixture", str(folder)],
            cwd=options.repository,
            check=True,
            capture_output=True,
            env={
                "PYTHONPATH": str(options.repository),
                "TF_USE_LEGACY_KERAS": "1",
                "TF_CPP_MIN_LOG_LEVEL": "2",
                "PATH": "/usr/bin:/bin",
            },
        )
    return folder


def _synthesize(options: Options) -> None:
    if options.infra_python is None:
        return
    result = subprocess.run(
        [options.infra_python, "-m", "infra.synth", "--out", str(options.stacks.parent)],
        cwd=options.repository,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(options.repository), "CHECKPOINT_DISABLE": "1", "PATH": _path()},
    )
    if result.returncode != 0:
        raise RuntimeError(f"nox -s synth failed: {(result.stderr or result.stdout).strip()[-600:]}")


def _path() -> str:
    import os

    return os.environ.get("PATH", "/usr/bin:/bin")


def _background(work: Callable[[], object]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as err:  # Reported by the caller once it joins.
            errors.append(err)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread, errors


def rehearse(options: Options) -> int:
    report = Report()
    deadline = time.monotonic() + options.budget
    options.out.mkdir(parents=True, exist_ok=True)
    for sub in ("logs", "work"):
        shutil.rmtree(options.out / sub, ignore_errors=True)
        (options.out / sub).mkdir(parents=True)
    fixture_thread, fixture_errors = _background(lambda: _fixture(options))
    started = time.monotonic()
    _synthesize(options)
    stacks = {name: stack for name, stack in load_stacks(options.stacks).items() if name in options.environments}
    repository = Repository.open(options.repository)
    dirty = f" + {len(repository.changed) + len(repository.deleted)} uncommitted change(s)" if repository.dirty else ""
    print(
        f"rehearsal of {', '.join(stacks)} at {repository.head[:12]}{dirty}; stacks synthesized in "
        f"{time.monotonic() - started:.0f} s ({options.stacks})",
        flush=True,
    )
    people = [g for s in stacks.values() for g in operator.engineer_grants(s.project)]
    for env_name, stack in stacks.items():
        registry_bucket = load_environment(env_name).gcp.name("registry")  # type: ignore[union-attr]
        promote_accounts = [
            str(stack.value(r, "service_account")).rsplit("/", 1)[-1]
            for r in stack.resources("google_cloudbuild_trigger")
            if str(stack.value(r, "name")).endswith("-promote")
        ]
        people += operator.grants(stack.project, promote_accounts, registry_bucket)

    def read_config(path: str) -> tuple[dict[str, object], dict[str, str]]:
        source = {
            "COMMIT_SHA": repository.head,
            "SHORT_SHA": repository.head[:7],
            "REVISION_ID": repository.head,
            "BRANCH_NAME": "main",
            "REF_NAME": "main",
            "REPO_NAME": "penguins-cicd",
        }
        return yaml.safe_load(repository.read(path)), source

    standin = StandIn(stacks, read_config, people)
    standin.trust(options.out / "ca")
    standin.start()
    for stack in stacks.values():
        standin.identities.add(f"user:{operator.ENGINEER}", stack.project)
        standin.identities.add(operator.MEMBER, stack.project)
    print(
        f"stand-in: {standin.base_url}; the operator: {operator.describe('each project')}; the platform engineer "
        f"{operator.ENGINEER}: roles/owner",
        flush=True,
    )
    print(LIMITS, flush=True)
    runner = BuildRunner(standin, repository, options.out / "work", options.out / "logs", deadline)
    standin.cloudbuild.executor = runner
    envs = [
        Env(
            name,
            stack,
            load_environment(name),
            standin,
            report,
            repository,
            runner,
            options.out,
            options.tfx_python,
            deadline,
        )
        for name, stack in stacks.items()
    ]
    for env in envs:
        env.facts["full done"], env.facts["modules done"] = threading.Event(), threading.Event()
        env.facts["bootstrap done"] = threading.Event()
    served: list[Served] = []
    try:
        fixture_thread.join()
        if fixture_errors:
            raise RuntimeError(f"the push's fixture could not be built: {fixture_errors[0]}")
        fixture = _fixture(options)
        dev = next((e for e in envs if e.name == "dev"), None)
        with ThreadPoolExecutor(max_workers=len(envs)) as pool:
            futures = [pool.submit(_environment, env, dev if env is not dev else None, fixture, served) for env in envs]
            for future in futures:
                future.result()
        lifetime.run(envs, report)
        access.run(envs, report, options.out)
    finally:
        for function in served:
            function.stop()
        standin.stop()
        write_log(options.out, standin.server.log.entries)
        write_state(options.out, standin)
    print(report.summary())
    print(
        f"request log: {options.out / 'requests.txt'} (and .jsonl); "
        f"grants used and unused: {options.out / 'grants.txt'}; "
        f"build and step logs: {options.out / 'logs'}"
    )
    return 1 if report.failed else 0


def write_state(folder: Path, standin: StandIn) -> None:
    """What the stand-in held at the end (jobs, models, endpoints, builds), for looking into a failure."""
    state = {
        "pipeline_jobs": [dict(job) for job in standin.vertex.jobs.values()],
        "models": {
            m.model_id: {v.version_id: {"aliases": v.aliases, **v.resource} for v in m.versions.values()}
            for m in standin.vertex.models.values()
        },
        "endpoints": {
            e.endpoint_id: {"deployed": e.deployed, "traffic": e.traffic} for e in standin.vertex.endpoints.values()
        },
        "builds": {
            b.id: {"trigger": b.trigger.name, "status": b.status, "steps": b.steps}
            for b in standin.cloudbuild.builds.values()
        },
    }
    (folder / "state.json").write_text(json.dumps(state, indent=1, default=str))


def _environment(env: Env, dev: Env | None, fixture: Path, served: list[Served]) -> None:
    """One environment's flows, in order; an unexpected error is a failed step, not a crash."""
    # A new project's sequence first: prod's bootstrap adopts the template dev's published. The data check runs
    # once a champion serves, so it evaluates one (as it does on a project in use).
    steps: list[tuple[str, Callable[[], None]]] = [
        ("bootstrap", lambda: _bootstrap(env, dev)),
        ("function", lambda: _serve_functions(env, served)),
        ("1 code", lambda: code.run(env, dev)),
        ("2 schedule", lambda: event.run(env)),
        ("4 release", lambda: release.run(env, fixture)),
        ("3 data check", lambda: data.run(env)),
    ]
    for flow, step in steps:
        try:
            step()
        except Exception as err:
            env.fail(flow, f"the rehearsal could not go on: {type(err).__name__}: {err}")
            if flow == "1 code":
                for workflow in code.WORKFLOWS:
                    env.facts[f"{workflow} done"].set()
        finally:
            if flow == "bootstrap":
                env.facts["bootstrap done"].set()


def _bootstrap(env: Env, dev: Env | None) -> None:
    if dev is not None:
        dev.facts["bootstrap done"].wait(max(1.0, env.deadline - time.monotonic()))
    bootstrap.run(env)


def _serve_functions(env: Env, served: list[Served]) -> None:
    for resource in env.stack.resources("google_cloudfunctions2_function"):
        function = serve(env.standin, env.stack, resource, env.out / "functions")
        served.append(function)
        env.standin.function_urls[function.name] = function.url
        env.facts["function log"] = function.tail
        env.ok("function", f"{function.name} served from its deployed zip under functions-framework ({function.url})")
