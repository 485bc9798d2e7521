"""One pipeline of one environment's rehearsal: its stack (the environment's), its config (the environment for
the pipeline), the stand-in, the report, and the helpers the flows share. Report lines are labelled
<environment>/<pipeline>; what is once per environment (deploying the stack, serving its functions) is reported
under the environment's name."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ci.routing import trigger_kind
from contracts.environment import EnvironmentConfig
from rehearsal.builds import BuildRunner
from rehearsal.report import Report, decisive
from rehearsal.standin.app import StandIn
from rehearsal.standin.cloudbuild import Build, Trigger
from rehearsal.standin.server import LogEntry
from rehearsal.terraform import Stack
from rehearsal.workspace import Repository


@dataclass
class Env:
    name: str  # the environment
    pipeline: str  # the pipeline of the environment this Env drives (config is for it)
    stack: Stack
    config: EnvironmentConfig
    standin: StandIn
    report: Report
    repository: Repository
    runner: BuildRunner
    out: Path
    tfx_python: str
    deadline: float
    facts: dict[str, Any] = field(default_factory=dict)  # what later flows need (jobs, versions, ...)
    flow1_done: threading.Event = field(default_factory=threading.Event)

    @property
    def gcp(self) -> Any:
        assert self.config.gcp is not None
        return self.config.gcp

    @property
    def label(self) -> str:
        """How the report names it: <environment>/<pipeline>, e.g. dev/diabetes."""
        return f"{self.name}/{self.pipeline}"

    @property
    def others(self) -> list[str]:
        """The environment's other pipelines."""
        return sorted(p for p in self.config.pipelines if p != self.pipeline)

    @property
    def project(self) -> str:
        return str(self.gcp.project)

    def bucket(self, kind: str) -> str:
        return str(self.gcp.name(kind))

    def account(self, kind: str) -> str:
        return f"{self.gcp.name(kind)}@{self.project}.iam.gserviceaccount.com"

    def resource(self, kind: str) -> str:
        """A resource of the pipeline's own, by the naming rule: <prefix>-<pipeline>-<kind>."""
        return str(self.gcp.pipeline_resource(self.pipeline, kind))

    def trigger_name(self, workflow: str) -> str:
        """The workflow's trigger: the pipeline's own for a per-pipeline workflow (infra/parts/build_triggers.py)."""
        return str(self.gcp.name(trigger_kind(workflow, self.pipeline)))

    def trigger(self, workflow: str) -> Trigger | None:
        name = self.trigger_name(workflow)
        return next((t for t in self.standin.cloudbuild.triggers if t.project == self.project and t.name == name), None)

    def project_jobs(self) -> list[dict[str, Any]]:
        """Every PipelineJob of the environment's project, whichever pipeline's."""
        return [job for (project, _, _), job in sorted(self.standin.vertex.jobs.items()) if project == self.project]

    def jobs(self) -> list[dict[str, Any]]:
        """The pipeline's PipelineJobs: their ids start with its runs' name, <pipeline>-<environment>-."""
        prefix = f"{self.config.pipeline_name}-"
        return [job for job in self.project_jobs() if job["name"].rsplit("/", 1)[-1].startswith(prefix)]

    def ok(self, flow: str, text: str, evidence: list[str] | None = None) -> None:
        self.report.ok(self.label, flow, text, evidence)

    def fail(self, flow: str, text: str, evidence: list[str] | None = None) -> None:
        self.report.fail(self.label, flow, text, evidence)

    def check(self, passed: bool, flow: str, good: str, bad: str, evidence: list[str] | None = None) -> bool:
        return self.report.check(passed, self.label, flow, good, bad, evidence)

    def log_mark(self) -> int:
        return len(self.standin.server.log)

    def requests_since(self, mark: int, caller: str | None = None) -> list[LogEntry]:
        return [e for e in self.standin.server.log.since(mark) if caller is None or e.caller == caller]

    def why(self, mark: int, caller: str | None = None) -> list[str]:
        line = decisive(self.requests_since(mark, caller))
        return [f"decided by: {line}"] if line else []

    # --- builds ----------------------------------------------------------------------------------------------

    def wait(self, build: Build) -> bool:
        remaining = max(1.0, self.deadline - time.monotonic())
        return build.finished.wait(remaining)

    def report_build(self, flow: str, build: Build, mark: int) -> bool:
        """One line per step of a finished build; False if it failed."""
        for step in build.steps:
            seconds = f" ({step['seconds']:.1f} s)" if step["seconds"] else ""
            if step["status"] == "ok":
                self.ok(flow, f"step {step['id']}{seconds}")
            elif step["status"] in ("skipped", "stand-in"):
                self.ok(flow, f"step {step['id']}: {step['status']}: {step['detail']}")
            else:
                self.fail(
                    flow,
                    f"step {step['id']} failed{seconds}: {step['detail']}",
                    self.why(mark, build.trigger.service_account),
                )
        if build.status not in ("SUCCESS", "WORKING", "PENDING", "QUEUED") and not any(
            s["status"] == "failed" for s in build.steps
        ):
            self.fail(flow, f"build {build.id[:8]} ended {build.status}: {build.resource.get('statusDetail', '')}")
        return build.status == "SUCCESS"

    def approve_as(self, email: str, build: Build) -> int:
        """Approve a pending build as `email`, through the API (what `gcloud builds approve` sends)."""
        import requests

        token = self.standin.identities.token_for(email)
        answer = requests.post(
            f"{self.standin.base_url}/cloudbuild.googleapis.com/v1/{build.resource['name']}:approve",
            json={"approvalResult": {"decision": "APPROVED", "comment": "rehearsal"}},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        return answer.status_code

    # --- commands a person runs (the operator, the platform engineer) -------------------------------------------

    def command(self, email: str, args: list[str], label: str) -> subprocess.CompletedProcess[str]:
        """`args` in a fresh checkout, as `email` (a person's Application Default Credentials)."""
        workspace = self.repository.checkout(
            self.out / "work" / f"{self.name}-{self.pipeline}-{label}-{int(time.time() * 1000)}"
        )
        env = self.runner.environment(email)
        timeout = max(1.0, self.deadline - time.monotonic())
        result = subprocess.run(args, cwd=workspace, env=env, capture_output=True, text=True, timeout=timeout)
        (self.out / "logs" / f"{self.name}-{self.pipeline}-{label}.log").write_text(result.stdout + result.stderr)
        return result


def last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith(("nox >", "  warnings.warn"))]
    errors = [line for line in lines if "error" in line.lower()]
    return (errors or lines or ["(no output)"])[-1].strip()[:400]


def json_lines(text: str) -> list[dict[str, Any]]:
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{") and line.endswith("}"):
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
    return found


def environment_without_google() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("GOOGLE_", "GCE_"))}
