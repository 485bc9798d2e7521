"""The rehearsal, in order: synthesize, deploy to the stand-in and serve the functions (once per environment), then
per pipeline of each environment bootstrap and the five flows (each pipeline of dev and prod in its own thread, or
an environment's pipelines one after the other with --pipelines-in-turn; prod/<p>'s bootstrap and push workflows
wait for dev/<p>'s, whose template they adopt), the lifetime check, the access table; then the summary and the
request log.

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
from pipelines.sources import pipeline_sources
from rehearsal import access, operator
from rehearsal.builds import BuildRunner
from rehearsal.context import Env
from rehearsal.flows import bootstrap, code, data, event, lifetime, release, watch
from rehearsal.function import Served, serve
from rehearsal.report import Report, write_log
from rehearsal.standin.app import StandIn
from rehearsal.terraform import load_stacks
from rehearsal.workspace import Repository

LIMITS = (
    "not rehearsed (the stand-in cannot be faithful): the Vertex AI service agents' own permissions and image pulls; "
    "how long an upload, a deploy or a build takes (operations finish at their first poll); what a PipelineJob's steps "
    "do besides the registry push (training is the e2e tier's); container images (kaniko writes a stand-in digest); "
    "Terraform plans; the Cloud Build service agent's Pub/Sub delivery to triggers; what a served model answers (the "
    "endpoint's requests are logged by the stand-in's Vertex AI, their answers given by the rehearsal); BigQuery "
    "beyond the monitor's one query form; Cloud Monitoring's alerting beyond a narrow reading of the policies"
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
    pipelines_in_parallel: bool = True  # each pipeline in its own thread (False: an environment's in turn)


def _fixture(options: Options) -> Path:
    """The push's inputs (rehearsal/fixture.py) for every pipeline of the environments rehearsed,
    <folder>/<pipeline>/..., built once per version of the fixture and of those pipelines' folders (definition,
    schema, spans: what it is made from) and kept under build/."""
    pipelines = sorted({p for env in options.environments for p in load_environment(env).pipelines})
    digest = hashlib.sha256((options.repository / "rehearsal" / "fixture.py").read_bytes())
    for name in pipelines:
        source = pipeline_sources(name, options.repository / "pipelines").folder
        for path in sorted(p for p in source.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            digest.update(f"{path.relative_to(options.repository).as_posix()}\0".encode() + path.read_bytes())
    folder = options.repository / "build" / "rehearsal-fixture" / digest.hexdigest()[:16]
    if not all((folder / name / "hyperparameters" / "hyperparameters.json").exists() for name in pipelines):
        shutil.rmtree(folder, ignore_errors=True)
        built = subprocess.run(
            [options.tfx_python, "-m", "rehearsal.fixture", str(folder), *pipelines],
            cwd=options.repository,
            capture_output=True,
            text=True,
            env={
                "PYTHONPATH": str(options.repository),
                "TF_USE_LEGACY_KERAS": "1",
                "TF_CPP_MIN_LOG_LEVEL": "2",
                "PATH": "/usr/bin:/bin",
            },
        )
        if built.returncode != 0:
            raise RuntimeError(f"python -m rehearsal.fixture failed: {built.stderr.strip()[-800:]}")
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
    # One Env per pipeline of each environment, its pipelines by name.
    envs = [
        Env(
            name,
            pipeline,
            stack,
            load_environment(name, pipeline),
            standin,
            report,
            repository,
            runner,
            options.out,
            options.tfx_python,
            deadline,
        )
        for name, stack in stacks.items()
        for pipeline in sorted(load_environment(name).pipelines)
    ]
    for env in envs:
        env.facts["full done"], env.facts["modules done"] = threading.Event(), threading.Event()
        env.facts["bootstrap done"] = threading.Event()
    served: list[Served] = []
    try:
        fixture_thread.join()
        if fixture_errors:
            raise RuntimeError(f"the push's fixture could not be built: {fixture_errors[0]}")
        inputs = _fixture(options)
        dev = {e.pipeline: e for e in envs if e.name == "dev"}
        by_environment = {name: [e for e in envs if e.name == name] for name in stacks}
        groups = [[e] for e in envs] if options.pipelines_in_parallel else list(by_environment.values())
        with ThreadPoolExecutor(max_workers=len(by_environment)) as environments:
            # Once per environment: its stack deployed, all of its functions served.
            prepared = [environments.submit(_prepare, group, served) for group in by_environment.values()]
            for future in prepared:
                future.result()
        with ThreadPoolExecutor(max_workers=len(groups)) as pool:
            futures = [
                pool.submit(_pipelines, group, {p: e for p, e in dev.items() if e.name != group[0].name}, inputs)
                for group in groups
            ]
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
        "bigquery_tables": {
            t.reference: {"created_by": t.created_by, "rows": len(t.rows)}
            for d in standin.bigquery.datasets.values()
            for t in d.tables.values()
        },
        "monitoring_points": [
            {"project": p.project, "metric": p.metric, "labels": dict(p.labels), "end": p.end, "value": p.value}
            for p in standin.monitoring.points
        ],
    }
    (folder / "state.json").write_text(json.dumps(state, indent=1, default=str))


def _prepare(envs: list[Env], served: list[Served]) -> None:
    """What is once per environment (`envs`: its pipelines'): `cdktf deploy`, then every function of the stack
    served; a failure is reported under the environment's name."""
    env = envs[0]
    for flow, step in (
        ("bootstrap", lambda: bootstrap.deploy(env)),
        ("function", lambda: _serve_functions(envs, served)),
    ):
        try:
            step()
        except Exception as err:
            env.report.fail(env.name, flow, f"the rehearsal could not go on: {type(err).__name__}: {err}")


def _pipelines(envs: list[Env], dev: dict[str, Env], fixture: Path) -> None:
    """Pipelines' flows, one pipeline after the other; `dev`: dev's Env of each pipeline (none for dev's own)."""
    for env in envs:
        _environment(env, dev.get(env.pipeline), fixture)


def _environment(env: Env, dev: Env | None, fixture: Path) -> None:
    """One pipeline's flows in its environment, in order; an unexpected error is a failed step, not a crash."""
    # A new project's sequence first: prod's bootstrap adopts the template dev's published. The data check runs
    # once a champion serves, so it evaluates one (as it does on a project in use).
    steps: list[tuple[str, Callable[[], None]]] = [
        ("bootstrap", lambda: _bootstrap(env, dev)),
        ("1 code", lambda: code.run(env, dev)),
        ("2 schedule", lambda: event.run(env)),
        ("4 release", lambda: release.run(env, fixture)),
        ("3 data check", lambda: data.run(env)),
        ("5 watch", lambda: watch.run(env, fixture)),
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


def _serve_functions(envs: list[Env], served: list[Served]) -> None:
    """Every function of the environment's stack; each pipeline's flows read their own's log."""
    env = envs[0]
    tails: dict[str, Callable[..., list[str]]] = {}
    for resource in env.stack.resources("google_cloudfunctions2_function"):
        function = serve(env.standin, env.stack, resource, env.out / "functions")
        served.append(function)
        env.standin.function_urls[function.name] = function.url
        tails[function.name] = function.tail
        env.report.ok(
            env.name,
            "function",
            f"{function.name} served from its deployed zip under functions-framework ({function.url})",
        )
    for each in envs:
        name = each.resource("trigger")
        if name in tails:
            each.facts["function log"] = tails[name]
        else:
            each.fail("function", f"the stack has no function {name} for pipeline {each.pipeline}")
