"""Flow 3, new data: the pipeline's data-check Scheduler job (<prefix>-<pipeline>-schedule-datacheck) runs its
`datacheck` trigger (<prefix>-<pipeline>-datacheck); its build must read the pipeline's data area, write the next
span and submit one PipelineJob of the pipeline on the window ending at it.

Labelled records are put into `incoming/` first, made by `localcloud/labelled_data.py` (the local stand-in for
the production feed) and written straight into the bucket: the stacks name no account for the producer.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from pathlib import Path

from contracts.data_layout import SPAN_PREFIX, span_number
from contracts.environment import LocalPaths
from rehearsal.context import Env
from rehearsal.flows import scheduler
from rehearsal.standin.cloudbuild import Trigger
from rehearsal.standin.iam import Grant

FLOW = "3 data check"
RECORDS = 600  # above every pipeline's data.min_new_records in dev and prod (at most 500)


def seed_incoming(env: Env) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="rehearsal-labelled-") as root:
        subprocess.run(
            [
                env.tfx_python,
                "-m",
                "localcloud.labelled_data",
                "--env",
                "local",
                "--pipeline",
                env.pipeline,
                "--local-root",
                root,
                "--records",
                str(RECORDS),
                "--files",
                "2",
                "--seed",
                "7",
                # A classifier's classes swapped, a regression's label times 1.5: the champion falls short
                # of the retrain bound on them, so the check retrains.
                "--drift",
                "relabel",
            ],
            cwd=env.repository.root,
            check=True,
            capture_output=True,
            text=True,
            env={"PYTHONPATH": str(env.repository.root), "PATH": "/usr/bin:/bin"},
        )
        incoming = sorted((LocalPaths(root=Path(root)).data_root(env.config.dataset) / "incoming").glob("*.csv"))
        names = []
        for path in incoming:
            name = f"{env.config.dataset}/incoming/{path.name}"
            env.standin.storage.put(env.bucket("data"), name, path.read_bytes(), "text/csv")
            names.append(name)
        return names


def spans(env: Env) -> list[int]:
    prefix = f"{env.config.dataset}/"
    names = env.standin.storage.names(env.bucket("data"), prefix + SPAN_PREFIX)
    found = (span_number(n.removeprefix(prefix).split("/", 1)[0]) for n in names if n.count("/") >= 2)
    return sorted({n for n in found if n is not None})


def run(env: Env) -> None:
    name = env.resource("schedule-datacheck")
    checks = [job for job in scheduler.jobs(env) if job.name == name and "cloudbuild.googleapis.com" in job.uri]
    if not checks:
        env.fail(FLOW, f"the stack has no Scheduler job {name} that runs the datacheck trigger")
        return
    job = checks[0]
    seeded = seed_incoming(env)
    before_spans, before_jobs = spans(env), {j["name"] for j in env.jobs()}
    env.ok(
        FLOW,
        f"{RECORDS} labelled records in {len(seeded)} file(s) put into gs://{env.bucket('data')}/"
        f"{env.config.dataset}/incoming/ (as the production feed would)",
    )
    mark = env.log_mark()
    answer = scheduler.send(env, job)
    if not env.check(
        answer.status_code == 200,
        FLOW,
        f"Scheduler job {job.name} ran its trigger as {job.account}",
        f"Scheduler job {job.name}'s request answered {answer.status_code}: {answer.text[:300]}",
        env.why(mark),
    ):
        return
    build_id = answer.json()["metadata"]["build"]["id"]
    build = env.standin.cloudbuild.builds[build_id]
    if not env.check(
        build.trigger.name == env.trigger_name("datacheck"),
        FLOW,
        f"build {build_id[:8]} of {build.trigger.name} as {build.trigger.service_account}",
        f"build {build_id[:8]} is of {build.trigger.name}, not of the pipeline's {env.trigger_name('datacheck')}",
    ):
        return
    if not env.wait(build):
        env.fail(FLOW, f"build {build_id[:8]} did not finish before the rehearsal's deadline")
        return
    if not env.report_build(FLOW, build, mark):
        _probe(env, build.trigger, job.account, mark)
        return
    after = spans(env)
    new_spans = [n for n in after if n not in before_spans]
    if not env.check(
        len(new_spans) == 1,
        FLOW,
        f"span-{new_spans[0] if new_spans else ''} written",
        f"{len(new_spans)} new span(s) in gs://{env.bucket('data')} (expected one)",
        env.why(mark, build.trigger.service_account),
    ):
        return
    new = [j for j in env.jobs() if j["name"] not in before_jobs]
    window = f"{max(1, new_spans[0] - env.config.training.window_spans + 1)}-{new_spans[0]}"
    labels = (new[0].get("labels") or {}) if len(new) == 1 else {}
    env.check(
        len(new) == 1 and labels.get("spans") == window,
        FLOW,
        f"one PipelineJob on the window {window}: {new[0]['name'].rsplit('/', 1)[-1] if new else ''}",
        f"{len(new)} PipelineJob(s) (expected one on spans {window}; labels {labels})",
        env.why(mark, build.trigger.service_account),
    )
    env.facts["data build seconds"] = time.monotonic()


def _probe(env: Env, trigger: Trigger, scheduler_account: str, mark: int) -> None:
    """After a refusal, what the check would do next: the same build once more with the data bucket granted to
    the build's account for this probe only (not the stack's IAM; the flow has already failed)."""
    refused = [e for e in env.requests_since(mark, trigger.service_account) if any(not c.allowed for c in e.checks)]
    if not refused:
        return
    probe = Grant(
        f"serviceAccount:{trigger.service_account}",
        "roles/storage.objectAdmin",
        f"projects/_/buckets/{env.bucket('data')}",
        None,
        "probe (not in the stack)",
    )
    env.standin.policy.grants.append(probe)
    try:
        again = env.standin.cloudbuild.start(trigger, {}, started_by=f"serviceAccount:{scheduler_account}")
        env.wait(again)
    finally:
        env.standin.policy.grants.remove(probe)
    failed = next((s for s in again.steps if s["status"] == "failed"), None)
    outcome = f"it then fails: {failed['detail']}" if failed else f"it then ends {again.status}"
    env.fail(
        FLOW,
        f"probe (not the stack's IAM): with roles/storage.objectAdmin on gs://{env.bucket('data')} for "
        f"{trigger.service_account}, the check goes on; {outcome}",
    )
