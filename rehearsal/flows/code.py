"""Flow 1, a code change: a push fires `full` (and `modules`); each must create a PipelineJob on the template it
published (prod: the template dev published, byte for byte, D6) and then move the current-template pointer (D7).

The push is rehearsed as Cloud Build sees it: a build of the pipeline's `<prefix>-<pipeline>-full`/`-modules`
trigger from its config file at the checked-out commit. The job a build created is the one labelled with its build
id (`--trigger-id=$BUILD_ID`). A job created from a gs:// template carries the spec inline (the Vertex SDK
sends no templateUri for one), so the template it runs is the published templates/<sha256>/pipeline.json
whose pipelineSpec it carries.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from contracts.current_template import current_key
from rehearsal.context import Env
from rehearsal.operator import OPERATOR

WORKFLOWS = ("full", "modules")


def comparable(spec: Any) -> str:
    """A spec as JSON without the tasks' cachingOptions, which the Vertex SDK rewrites from enable_caching."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k != "cachingOptions"}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return json.dumps(strip(spec), sort_keys=True)


def published_templates(env: Env) -> dict[str, tuple[str, Any]]:
    """Every published template in the stand-in: sha256 of its bytes -> (gs:// URI, its pipelineSpec)."""
    found: dict[str, tuple[str, Any]] = {}
    for bucket in env.standin.storage.buckets.values():
        for name, version in list(bucket.live.items()):
            if name.startswith("templates/") and name.endswith("/pipeline.json"):
                try:
                    spec = json.loads(version.data).get("pipelineSpec")
                except ValueError:
                    continue
                found[hashlib.sha256(version.data).hexdigest()] = (f"gs://{bucket.name}/{name}", spec)
    return found


def template_of(env: Env, job: dict[str, Any]) -> tuple[str, str] | None:
    """(sha256, URI) of the published template whose pipelineSpec the job carries."""
    spec = comparable(job.get("pipelineSpec"))
    for sha, (uri, published) in published_templates(env).items():
        if comparable(published) == spec:
            return sha, uri
    return None


def run(env: Env, dev: Env | None) -> None:
    """The environment's push workflows in order; prod's wait for dev's (its adopt needs dev's publication)."""
    for workflow in WORKFLOWS:
        if dev is not None:
            dev.facts[f"{workflow} done"].wait(max(1.0, env.deadline - time.monotonic()))
        try:
            _workflow(env, workflow, dev)
        finally:
            env.facts[f"{workflow} done"].set()


def _workflow(env: Env, workflow: str, dev: Env | None) -> None:
    flow = f"1 {workflow}"
    trigger = env.trigger(workflow)
    if trigger is None:
        env.fail(flow, f"the stack has no trigger {env.trigger_name(workflow)}")
        return
    mark = env.log_mark()
    build = env.standin.cloudbuild.start(trigger, {}, started_by="push")
    env.ok(
        flow, f"push to main: build {build.id[:8]} of {trigger.name} ({trigger.config}) as {trigger.service_account}"
    )
    if build.status == "PENDING":
        status = env.approve_as(OPERATOR, build)
        if not env.check(
            status == 200,
            flow,
            f"the build waited for an approval; approved by {OPERATOR}",
            f"approving build {build.id[:8]} as {OPERATOR} answered {status}",
            env.why(mark),
        ):
            return
    if not env.wait(build):
        env.fail(flow, f"build {build.id[:8]} did not finish before the rehearsal's deadline")
        return
    env.report_build(flow, build, mark)
    # A build's run is labelled with its build id; an adopt build's with its commit (ci/cloudbuild/adopt.yaml:
    # the full and modules triggers of one push start one run of the adopted template).
    adopting = trigger.config.endswith("adopt.yaml")
    trigger_label = f"adopt-{env.repository.head}" if adopting else build.id
    jobs = [j for j in env.jobs() if (j.get("labels") or {}).get("trigger") == trigger_label]
    if not env.check(
        len(jobs) == 1,
        flow,
        f"PipelineJob {jobs[0]['name'].rsplit('/', 1)[-1] if jobs else ''} "
        + ("is the push's one adopted run" if adopting else "created"),
        f"{len(jobs)} PipelineJob(s) labelled with trigger {trigger_label[:14]} (expected exactly one)",
        env.why(mark, trigger.service_account),
    ):
        return
    job = jobs[0]
    found = template_of(env, job)
    if not env.check(
        found is not None,
        flow,
        f"it runs the published template {found[1] if found else ''}",
        "its pipelineSpec is no published template's",
    ):
        return
    sha = found[0]  # type: ignore[index]
    env.facts[f"{workflow} job"] = job
    env.facts[f"{workflow} template"] = sha
    if dev is not None and dev.facts.get(f"{workflow} template"):
        theirs = dev.facts[f"{workflow} template"]
        env.check(
            sha == theirs,
            flow,
            f"byte-identical to the template dev ran (sha256 {sha[:12]})",
            f"prod runs template {sha[:12]}, dev ran {theirs[:12]}: not the bytes dev tested (issue 17 item 4, D6)",
        )
    _pointer(env, flow, job, sha)


def _pointer(env: Env, flow: str, job: dict[str, Any], sha: str) -> None:
    bucket = env.bucket("artifacts")
    version = (
        env.standin.storage.buckets[bucket].live.get(current_key(env.pipeline))
        if bucket in env.standin.storage.buckets
        else None
    )
    if version is None:
        env.fail(
            flow,
            f"no gs://{bucket}/{current_key(env.pipeline)} after the build: CI moves no current-template pointer "
            "after its run was submitted (issue 17 item 3, D7)",
        )
        return
    try:
        pointer = json.loads(version.data)
    except ValueError:
        env.fail(flow, f"gs://{bucket}/{current_key(env.pipeline)} is not JSON")
        return
    env.check(
        pointer.get("template_sha256") == sha,
        flow,
        f"{current_key(env.pipeline)} now names it (sha256 {sha[:12]}, job {pointer.get('job_id')})",
        f"{current_key(env.pipeline)} names {str(pointer.get('template_sha256'))[:12]}, "
        f"not the template the run used ({sha[:12]})",
    )
