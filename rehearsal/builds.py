"""Run a Cloud Build build's steps as Cloud Build would: in a checkout, in order, as the build's service account.

Each step runs its entrypoint and arguments (already substituted) in a fresh checkout of the repository, with
the metadata server of the build's service account, so every Google API call it makes goes to the stand-in as
that account. Three kinds of step cannot or need not run here, and each says so in the output:
- the kaniko image build (no container engine): the digest file it would write is written instead, naming an
  image whose digest is the sha256 of the build context's tracked files (not a real image digest);
- a Terraform step (no terraform binary, no Google Cloud): the rehearsal does not plan;
- unit-test and lint steps: they ran in the pull-request checks (and in `nox -s tests`).
The step images are not used either: every step runs on this machine's Pythons through `ci/nox`.
Steps run one after another in the config's order, which honours every `waitFor` (steps that Cloud Build
might start together run in sequence). At the end the build's log goes to its logs bucket as its account.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rehearsal.standin.app import StandIn
from rehearsal.standin.cloudbuild import Build
from rehearsal.standin.iam import Target, object_target, project_key
from rehearsal.standin.server import Check, LogEntry
from rehearsal.workspace import Repository

# Steps whose nox session is a test or lint run: they ran in the checks workflow.
CHECK_SESSIONS = frozenset({"unit", "tests", "function_tests", "lint", "infra_tests", "checkov"})
# Environment variables of this machine that must not leak into a step: credentials and Google settings.
_DROPPED = (
    "GOOGLE_APPLICATION_CREDENTIALS",
    "CLOUDSDK_",
    "GOOGLE_CLOUD_PROJECT",
    "GCLOUD_PROJECT",
    "GCE_METADATA",
    "GOOGLE_APIS_BASE_URL",
    "API_ENDPOINT_OVERRIDE",
    "STORAGE_EMULATOR_HOST",
    "VIRTUAL_ENV",
    "NOX_",
)


@dataclass
class StepRecord:
    id: str
    command: str
    status: str  # ok, failed, skipped, stand-in
    seconds: float
    detail: str = ""
    log: str = ""


def step_kind(step: dict[str, Any]) -> str:
    """run, kaniko, terraform or checks."""
    image = str(step.get("name", ""))
    args = [str(a) for a in step.get("args", [])]
    if "kaniko-project/executor" in image:
        return "kaniko"
    if image.startswith("hashicorp/terraform"):
        return "terraform"
    if "-s" in args and args.index("-s") + 1 < len(args) and args[args.index("-s") + 1] in CHECK_SESSIONS:
        return "checks"
    return "run"


class BuildRunner:
    """The Cloud Build worker: the stand-in calls it with each build that may run (queued or approved)."""

    def __init__(self, standin: StandIn, repository: Repository, workroot: Path, logs: Path, deadline: float) -> None:
        self.standin = standin
        self.repository = repository
        self.workroot = workroot
        self.logs = logs
        self.deadline = deadline

    def __call__(self, build: Build) -> None:
        email = build.trigger.service_account
        workspace = self.repository.checkout(self.workroot / f"{build.trigger.name}-{build.id[:8]}")
        log_path = self.logs / f"{build.trigger.name}-{build.id[:8]}.log"
        env = self._environment(email)
        status = "SUCCESS"
        with log_path.open("w") as log:
            log.write(f"build {build.id} of {build.trigger.name} ({build.trigger.config}) as {email}\n")
            for index, step in enumerate(build.resource.get("steps", [])):
                record = self._step(step, index, workspace, env, log, build)
                build.steps.append(record.__dict__)
                if record.status == "failed":
                    status = "FAILURE"
                    break
        self._upload_log(build, log_path)
        failed = next((s for s in build.steps if s["status"] == "failed"), None)
        self.standin.cloudbuild.finish(
            build, status, f"step {failed['id']} failed: {failed['detail']}" if failed else ""
        )

    def environment(self, email: str) -> dict[str, str]:
        """This machine's environment without credentials, as `email`, through the stand-in."""
        return self._environment(email)

    def _environment(self, email: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED)}
        # The session's own venv (nox puts its bin first) is not on a build worker's PATH: `python3` must be the
        # machine's, whose host tools (.ci/.venv-<version>) the workspace links.
        venv = os.environ.get("VIRTUAL_ENV")
        if venv:
            paths = env.get("PATH", "").split(os.pathsep)
            env["PATH"] = os.pathsep.join(p for p in paths if not p.startswith(venv))
        env.update(self.standin.environment(email))
        env["PYTHONUNBUFFERED"] = "1"
        # The environments are linked in already built: nothing may be downloaded (a step that would is a finding).
        env["UV_OFFLINE"] = "1"
        return env

    def _step(
        self, step: dict[str, Any], index: int, workspace: Path, env: dict[str, str], log: Any, build: Build
    ) -> StepRecord:
        step_id = str(step.get("id") or f"step-{index}")
        args = [str(a) for a in step.get("args", [])]
        kind = step_kind(step)
        command = shlex.join([str(step.get("entrypoint") or step.get("name")), *args])
        log.write(f"--- step {step_id} ({kind}): {command}\n")
        log.flush()
        if kind == "checks":
            return StepRecord(step_id, command, "skipped", 0.0, "unit tests and lint ran in the pull-request checks")
        if kind == "terraform":
            return StepRecord(step_id, command, "skipped", 0.0, "a Terraform plan needs Google Cloud; not rehearsed")
        if kind == "kaniko":
            return self._kaniko(step_id, command, args, workspace, build.trigger.service_account)
        started = time.monotonic()
        step_env = {**env, **dict(e.split("=", 1) for e in step.get("env", []))}
        folder = workspace / str(step.get("dir", ""))
        timeout = min(_seconds(step.get("timeout"), 3600), max(1.0, self.deadline - time.monotonic()))
        entrypoint = str(step.get("entrypoint") or "")
        try:
            result = subprocess.run(
                [entrypoint, *args] if entrypoint else args,
                cwd=folder,
                env=step_env,
                timeout=timeout,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        except subprocess.TimeoutExpired as err:
            output = (err.stdout or b"").decode() if isinstance(err.stdout, bytes) else (err.stdout or "")
            log.write(output)
            return StepRecord(
                step_id, command, "failed", time.monotonic() - started, f"timed out after {timeout:.0f} s", output
            )
        log.write(result.stdout)
        log.flush()
        seconds = time.monotonic() - started
        if result.returncode != 0:
            return StepRecord(
                step_id,
                command,
                "failed",
                seconds,
                f"exit {result.returncode}: {_last_error(result.stdout)}",
                result.stdout,
            )
        return StepRecord(step_id, command, "ok", seconds, "", result.stdout)

    def _kaniko(self, step_id: str, command: str, args: list[str], workspace: Path, email: str) -> StepRecord:
        options = dict(a.removeprefix("--").split("=", 1) for a in args if a.startswith("--") and "=" in a)
        destination = options.get("destination", "")
        digest_file = options.get("image-name-with-digest-file")
        context = hashlib.sha256()
        for path in sorted(
            subprocess.run(
                ["git", "-C", str(workspace), "ls-files"], capture_output=True, text=True, check=True
            ).stdout.split()
        ):
            context.update(path.encode() + b"\0" + hashlib.sha256((workspace / path).read_bytes()).digest())
        image = f"{destination.rsplit(':', 1)[0]}@sha256:{context.hexdigest()}"
        if digest_file:
            target = Path(digest_file.replace("/workspace/", f"{workspace}/", 1))
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(image + "\n")
        self._record_push(destination, email)
        return StepRecord(
            step_id,
            command,
            "stand-in",
            0.0,
            f"no container engine here: wrote {digest_file} naming {image} (sha256 of the build context, not "
            "a real image digest); the push to Artifact Registry is checked, not made",
        )

    def _record_push(self, destination: str, email: str) -> None:
        """The push's permission (artifactregistry.repositories.uploadArtifacts), checked as the build's account."""
        # <location>-docker.pkg.dev/<project>/<repository>/<image>:<tag>
        host, project, repository = [*destination.split("/"), "", "", ""][:3]
        name = f"projects/{project}/locations/{host.removesuffix('-docker.pkg.dev')}/repositories/{repository}"
        permission = "artifactregistry.repositories.uploadArtifacts"
        target = Target(name, "artifactregistry.googleapis.com/Repository", (project_key(project),))
        decision = self.standin.policy.check(f"serviceAccount:{email}", permission, target)
        entry = LogEntry(
            time.time(), "artifactregistry.googleapis.com", "docker push (kaniko, not made)", email, path=name
        )
        entry.checks.append(
            Check(permission, name, decision.allowed, decision.grant.source if decision.grant else None)
        )
        entry.status = 200 if decision.allowed else 403
        self.standin.server.log.add(entry)

    def _upload_log(self, build: Build, log_path: Path) -> None:
        """Cloud Build writes the log to logsBucket as the build's account (options.logging GCS_ONLY)."""
        bucket = str(build.resource.get("logsBucket", "")).removeprefix("gs://").rstrip("/")
        if not bucket:
            return
        email = build.trigger.service_account
        name = f"log-{build.id}.txt"
        entry = LogEntry(
            time.time(), "storage.googleapis.com", "build log upload (Cloud Build)", email, path=f"gs://{bucket}/{name}"
        )
        project = (
            self.standin.storage.buckets[bucket].project
            if bucket in self.standin.storage.buckets
            else build.trigger.project
        )
        decision = self.standin.policy.check(
            f"serviceAccount:{email}", "storage.objects.create", object_target(bucket, name, project)
        )
        entry.checks.append(
            Check(
                "storage.objects.create",
                f"gs://{bucket}/{name}",
                decision.allowed,
                decision.grant.source if decision.grant else None,
            )
        )
        if decision.allowed and bucket in self.standin.storage.buckets:
            self.standin.storage.put(bucket, name, log_path.read_bytes(), "text/plain")
            entry.status = 200
        else:
            entry.status = 403 if not decision.allowed else 404
        self.standin.server.log.add(entry)


def _seconds(value: Any, default: float) -> float:
    text = str(value or "").strip()
    return float(text.removesuffix("s")) if text else default


def _last_error(output: str) -> str:
    """The line that says what went wrong: the last 'error' line of the step's output, else its last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for line in reversed(lines):
        lowered = line.lower()
        if lowered.startswith(("error", "nox > command")) or "error:" in lowered or "traceback" in lowered:
            if line.startswith("nox > Command"):
                continue
            return line[:400]
    return lines[-1][:400] if lines else "(no output)"
