"""Flow 4, a model release, per pipeline: the registry push makes a version of the pipeline's Model
(<prefix>-<pipeline>-model) with its lineage and announces it on the pipeline's topic (the registry target's); dev's
promotion follows the announcement (the pipeline's autopromote build, D3); prod's waits for an approval of the
pipeline's promote build, then deploys to the pipeline's endpoint and moves the alias; a rollback switches traffic.

The push is the real `components.registry_push.Executor`, run as the pipeline account on the inputs a run of
flow 1's job would hand it, placed in its pipeline root: the fixture's SavedModels of the pipeline
(rehearsal/fixture.py: not trained, plainly), the Evaluator's metrics, the hyperparameters, and a blessing (once
the fixture's metrics are seen to pass the environment's gate).
Promotion and rollback in prod are the operator's commands (`ci/nox -s models -- promote V --env prod --pipeline P`,
`approve BUILD_ID`).
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import Any

from contracts.registry import registry_target
from rehearsal.context import Env, json_lines, last_line
from rehearsal.operator import OPERATOR
from rehearsal.standin.iam import object_target
from rehearsal.standin.server import Check, LogEntry

FLOW = "4 release"
_BUILD_ID = re.compile(r"\b([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\b")


def place(env: Env, job: dict[str, Any], fixture: Path, model: str) -> dict[str, Any]:
    """The push's input artifacts, written into the job's pipeline root as the pipeline account would
    (`fixture`: the pipeline's folder of the fixture)."""
    root = str(job["runtimeConfig"]["gcsOutputDirectory"]).rstrip("/")
    run = f"{root}/{job['name'].split('/')[1]}/{job['name'].rsplit('/', 1)[-1]}"
    uris = {
        "model": f"{run}/Trainer_{model}/model",
        "evaluation": f"{run}/Evaluator/evaluation",
        "hyperparameters": f"{run}/HyperparametersGen/hyperparameters",
    }
    sources = {
        "model": fixture / f"model-{model}",
        "evaluation": fixture / "evaluation",
        "hyperparameters": fixture / "hyperparameters",
    }
    for key, folder in sources.items():
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            _write_as(
                env, env.account("pipeline"), f"{uris[key]}/{path.relative_to(folder).as_posix()}", path.read_bytes()
            )
    return {
        "model": {"uri": uris["model"]},
        "model_blessing": {"uri": f"{run}/Evaluator/blessing", "properties": {"blessed": 1}},
        "evaluation": {"uri": uris["evaluation"]},
        "examples": {"uri": f"{run}/WindowExampleGen/examples", "properties": {"spans": "1"}},
        "hyperparameters": {"uri": uris["hyperparameters"]},
        "pushed_model": {"uri": f"{run}/RegistryPush_{model}/pushed_model"},
    }


def _write_as(env: Env, email: str, uri: str, data: bytes) -> None:
    bucket, _, name = uri.removeprefix("gs://").partition("/")
    target = object_target(bucket, name, env.standin.storage.bucket(bucket).project)
    decision = env.standin.policy.check(f"serviceAccount:{email}", "storage.objects.create", target)
    entry = LogEntry(
        time.time(),
        "storage.googleapis.com",
        "storage.objects.insert (a pipeline step's output, placed)",
        email,
        path=uri,
        status=200 if decision.allowed else 403,
    )
    entry.checks.append(
        Check(
            "storage.objects.create", target.name, decision.allowed, decision.grant.source if decision.grant else None
        )
    )
    env.standin.server.log.add(entry)
    if decision.allowed:
        env.standin.storage.put(bucket, name, data)


def push(env: Env, job: dict[str, Any], fixture: Path, model: str, flow: str = FLOW) -> dict[str, Any] | None:
    """Run RegistryPush as the pipeline account; the pushed artifact's properties, or None (reported under
    `flow`)."""
    mark = env.log_mark()
    request = {"job": job, "task": "RegistryPush", "inputs": place(env, job, fixture / env.pipeline, model)}
    workspace = env.repository.checkout(env.out / "work" / f"{env.name}-{env.pipeline}-push-{model}")
    request_file = workspace / "push-request.json"
    request_file.write_text(json.dumps(request))
    environment = {
        **env.runner.environment(env.account("pipeline")),
        "PYTHONPATH": str(workspace),
        "TF_USE_LEGACY_KERAS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }
    result = subprocess.run(
        [env.tfx_python, "-m", "rehearsal.pipeline_step", str(request_file)],
        cwd=workspace,
        env=environment,
        capture_output=True,
        text=True,
        timeout=max(1.0, env.deadline - time.monotonic()),
    )
    (env.out / "logs" / f"{env.name}-{env.pipeline}-push-{model}.log").write_text(result.stdout + result.stderr)
    answer = (json_lines(result.stdout) or [{}])[-1]
    storage_past = [
        e
        for e in env.requests_since(mark, env.account("pipeline"))
        if "past the seam" in e.note and e.api in ("storage.googleapis.com", "www.googleapis.com")
    ]
    evidence = [
        f"past the seam: {e.status} {e.method} https://{e.api}{e.path.split(e.api, 1)[-1][:120]}"
        for e in storage_past[:2]
    ]
    if result.returncode != 0 or "properties" not in answer:
        env.fail(
            flow,
            f"RegistryPush (model {model}) as {env.account('pipeline')} failed: "
            f"{answer.get('error') or last_line(result.stderr)}",
            env.why(mark, env.account("pipeline")) + evidence,
        )
        return None
    env.ok(
        flow,
        f"RegistryPush (model {model}) ran as {env.account('pipeline')}: version "
        f"{answer['properties'].get('pushed_version')} "
        f"({'new' if answer['properties'].get('registered') else 'existing'})",
    )
    env.check(
        not storage_past,
        flow,
        "every Cloud Storage read and write of the push went through the seam (D1)",
        f"the push reached Cloud Storage past the seam {len(storage_past)} time(s) (TensorFlow's GCS filesystem or a "
        "client not built through contracts/google_apis.py; PLAN D1)",
        evidence,
    )
    return dict(answer["properties"])


def model_versions(env: Env) -> list[tuple[Any, Any]]:
    model = env.standin.vertex.models.get((env.project, env.gcp.region, env.gcp.model_name(env.pipeline)))
    return (
        [] if model is None else [(model, v) for v in sorted(model.versions.values(), key=lambda v: int(v.version_id))]
    )


def check_version(env: Env, version_id: str, job: dict[str, Any], flow: str = FLOW) -> None:
    found = [(m, v) for m, v in model_versions(env) if v.version_id == version_id]
    if not env.check(
        bool(found),
        flow,
        f"Model {env.gcp.model_name(env.pipeline)} has version {version_id}",
        f"the stand-in's Vertex AI holds no version {version_id} of {env.gcp.model_name(env.pipeline)}",
    ):
        return
    version = found[0][1]
    try:
        lineage = json.loads(version.resource.get("versionDescription") or "{}").get("lineage") or {}
    except ValueError:
        lineage = {}
    run_id = job["name"].rsplit("/", 1)[-1]
    keys = [k for k in ("commit", "modules", "template", "image") if lineage.get(k)]
    env.check(
        lineage.get("pipeline_run_id") == run_id and bool(lineage.get("spans")),
        flow,
        f"version {version_id}'s lineage: run {run_id}, spans {[s.get('number') for s in lineage.get('spans', [])]}, "
        f"{', '.join(keys) or 'no commit/modules/template/image'}",
        f"version {version_id}'s lineage names run {lineage.get('pipeline_run_id')!r} (expected {run_id}) "
        f"and spans {lineage.get('spans')}",
    )


def champion(env: Env) -> tuple[str | None, dict[str, int]]:
    """(the version holding `champion`, the endpoint's traffic by model version)."""
    holder = next((v.version_id for _, v in model_versions(env) if "champion" in v.aliases), None)
    endpoint = _endpoint(env)
    traffic: dict[str, int] = {}
    if endpoint is not None:
        for deployed_id, share in endpoint.traffic.items():
            version = endpoint.deployed.get(deployed_id, {}).get("modelVersionId", "?")
            traffic[str(version)] = traffic.get(str(version), 0) + share
    return holder, traffic


def _endpoint(env: Env) -> Any:
    """The pipeline's endpoint (Gcp.endpoint_id: derived from <prefix>-<pipeline>-endpoint), or None."""
    return env.standin.vertex.endpoints.get((env.project, env.gcp.region, env.gcp.endpoint_id(env.pipeline)))


def run(env: Env, fixture: Path) -> None:
    job = env.facts.get("full job") or env.facts.get("event job") or (env.jobs() or [None])[0]
    if job is None:
        env.fail(FLOW, "no PipelineJob to run the registry push of (flows 1-3 created none)")
        return
    if not (fixture / env.pipeline).is_dir():
        env.fail(
            FLOW, f"rehearsal/fixture.py makes no stand-in model of pipeline {env.pipeline} (none under {fixture})"
        )
        return
    if _endpoint(env) is None:
        env.fail(FLOW, f"the stack has no endpoint {env.gcp.endpoint(env.pipeline)} for {env.pipeline}")
        return
    if not _gate(env, fixture / env.pipeline):
        return
    if env.config.release.auto_promote:
        _auto(env, job, fixture)
    else:
        _approved(env, job, fixture)


def _gate(env: Env, folder: Path) -> bool:
    """Whether the stand-in's metrics (rehearsal/fixture.py's figures.json, of the model on held-out rows of the
    pipeline's shipped spans) pass the environment's gate: the blessing the push is handed must be one the
    Evaluator would give."""
    evaluation = env.config.evaluation
    gate = evaluation.gate
    figures = json.loads((folder / "figures.json").read_text())
    value = figures["metrics"].get(gate.key)
    shown = "not written" if value is None else f"{value:.4f}"
    said = (
        f"{gate.key} {shown} on {figures['held-out rows']} held-out rows of the shipped spans "
        f"(gate: {evaluation.direction}, bound {evaluation.bound:g})"
    )
    return env.check(
        value is not None and not gate.better(evaluation.bound, value),
        FLOW,
        f"the fixture's stand-in passes the gate: {said}",
        f"the fixture's stand-in fails the gate, so there is no blessing to hand the push: {said}",
    )


def _auto(env: Env, job: dict[str, Any], fixture: Path) -> None:
    auto_release(env, job, fixture, "a", FLOW)


def auto_release(env: Env, job: dict[str, Any], fixture: Path, model: str, flow: str) -> str | None:
    """Push the fixture's model `model`; its announcement's autopromote build must make it the champion. The
    version, once it serves all the traffic; None (reported under `flow`) otherwise."""
    before = set(env.standin.cloudbuild.builds)
    mark = env.log_mark()
    pushed = push(env, job, fixture, model, flow)
    if pushed is None:
        return None
    version = str(pushed.get("pushed_version"))
    check_version(env, version, job, flow)
    topic = str(registry_target(env.config).topic)
    messages = [m for m in env.standin.pubsub.messages.values() if m.topic == topic]
    if not env.check(
        bool(messages),
        flow,
        f"announced on {topic}: {messages[-1].attributes if messages else ''}",
        f"nothing published to {topic}: the push announces no version (D3)",
    ):
        return None
    autopromote = env.resource("autopromote")
    # The builds the announcement started: of the triggers on its topic (another pipeline's announcements start
    # theirs on their own topics meanwhile).
    started = [
        b
        for i, b in list(env.standin.cloudbuild.builds.items())
        if i not in before and b.started_by == "pubsub" and b.trigger.pubsub_topic == topic
    ]
    builds = [b for b in started if b.trigger.name == autopromote and b.trigger.project == env.project]
    if not env.check(
        bool(builds) and len(started) == len(builds),
        flow,
        f"the announcement started build {builds[0].id[:8] if builds else ''} of {autopromote}",
        f"the announcement on {topic} started {[b.trigger.name for b in started]}, not (only) the pipeline's "
        f"{autopromote} trigger (D3)",
    ):
        return None
    build = builds[0]
    env.wait(build)
    env.report_build(flow, build, mark)
    return version if _serving(env, version, "auto-promotion", flow) else None


def _approved(env: Env, job: dict[str, Any], fixture: Path) -> None:
    versions = []
    for model in ("a", "b"):
        pushed = push(env, job, fixture, model)
        if pushed is None:
            return
        versions.append(str(pushed.get("pushed_version")))
        check_version(env, versions[-1], job)
    for version in versions:
        if not _move(env, ["promote", version], version):
            return
    _move(env, ["rollback"], versions[0], rollback=True)


def _move(env: Env, action: list[str], expected: str, rollback: bool = False) -> bool:
    label = "-".join(action)
    mark = env.log_mark()
    before_deployed = _deployed_count(env)
    command = [*action, "--env", env.name, "--pipeline", env.pipeline]
    result = env.command(OPERATOR, ["bash", "ci/nox", "-s", "models", "--", *command, "--reason", "rehearsal"], label)
    found = _BUILD_ID.findall(result.stdout + result.stderr)
    build = env.standin.cloudbuild.builds.get(found[-1]) if found else None
    if not env.check(
        result.returncode == 0 and build is not None,
        FLOW,
        f"`models {' '.join(command)}` as {OPERATOR} started build {build.id[:8] if build else ''} "
        f"of {build.trigger.name if build else ''}",
        f"`models {' '.join(command)}` as {OPERATOR} failed ({result.returncode}): "
        f"{last_line(result.stdout + result.stderr)}",
        env.why(mark),
    ):
        return False
    assert build is not None
    if not env.check(
        build.trigger.name == env.trigger_name("promote"),
        FLOW,
        f"it is the pipeline's promote trigger {build.trigger.name}",
        f"build {build.id[:8]} is of {build.trigger.name}, not the pipeline's {env.trigger_name('promote')}",
    ):
        return False
    if not env.check(
        build.status == "PENDING",
        FLOW,
        f"build {build.id[:8]} waits for an approval (PENDING)",
        f"build {build.id[:8]} is {build.status}, not waiting for an approval",
    ):
        return False
    result = env.command(
        OPERATOR,
        ["bash", "ci/nox", "-s", "models", "--", "approve", build.id, "--env", env.name, "--reason", "rehearsal"],
        f"approve-{label}",
    )
    if not env.check(
        result.returncode == 0,
        FLOW,
        f"`models approve {build.id[:8]}` as {OPERATOR}",
        f"`models approve` failed ({result.returncode}): {last_line(result.stdout + result.stderr)}",
        env.why(mark),
    ):
        return False
    env.wait(build)
    if not env.report_build(FLOW, build, mark):
        return False
    ok = _serving(env, expected, " ".join(action))
    if rollback and ok:
        env.check(
            _deployed_count(env) == before_deployed,
            FLOW,
            "the rollback was a traffic switch (no new deployment)",
            f"the rollback deployed again ({before_deployed} -> {_deployed_count(env)} deployed models)",
        )
    return ok


def _deployed_count(env: Env) -> int:
    endpoint = _endpoint(env)
    return 0 if endpoint is None else len(endpoint.deployed)


def _serving(env: Env, version: str, what: str, flow: str = FLOW) -> bool:
    holder, traffic = champion(env)
    return env.check(
        holder == version and traffic.get(version) == 100,
        flow,
        f"after {what}: champion is version {version}, serving 100% of the endpoint's traffic",
        f"after {what}: champion is {holder}, endpoint traffic by version {traffic} (expected {version} at 100%)",
    )
