"""A new project becomes usable in one sequence (issue 17, deliverable 5): `cdktf deploy`, then one nox session.

`cdktf deploy` is the stand-in built from the stack's Terraform JSON, once per environment (`deploy`). The seeding
session (the first of SEED_SESSIONS the noxfile defines) then runs as the platform engineer who deployed, once
per pipeline, `-- --env <env> --pipeline <pipeline>` (`run`); after it the data bucket must hold every shipped
span of the pipeline, byte for byte, and a first template of the pipeline must be published with its
current-template pointer set. Without such a session the step fails naming issue 17 item 5, and
the rehearsal puts the spans in place itself (saying so) to go on with the flows that read them.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

from contracts.current_template import current_key
from rehearsal.context import Env, last_line
from rehearsal.operator import ENGINEER
from rehearsal.standin.cloudbuild import Trigger

SEED_SESSIONS = ("bootstrap", "seed")
FLOW = "bootstrap"


def seed_session(noxfile: Path) -> str | None:
    sessions = {node.name for node in ast.parse(noxfile.read_text()).body if isinstance(node, ast.FunctionDef)}
    return next((name for name in SEED_SESSIONS if name in sessions), None)


def shipped_spans(repository_root: Path, pipeline: str) -> dict[str, bytes]:
    """The spans a pipeline's folder ships (pipelines/<name>/data/span-N/<file>), by object name in its data area:
    <pipeline>/span-N/<file> -> bytes."""
    base = repository_root / "pipelines" / pipeline / "data"
    return {
        f"{pipeline}/{path.relative_to(base).as_posix()}": path.read_bytes()
        for path in sorted(base.glob("span-*/*"))
        if path.is_file()
    }


def deploy(env: Env) -> None:
    """`cdktf deploy` of the environment's stack (every pipeline's resources), reported under the environment."""
    created = env.standin.deploy(env.stack)
    kinds = {
        kind: sum(line.startswith(kind) for line in created)
        for kind in ("bucket", "trigger", "topic", "function", "endpoint")
    }
    env.report.ok(
        env.name,
        FLOW,
        f"cdktf deploy: the stand-in built from {env.stack.folder / 'cdk.tf.json'} ("
        + ", ".join(f"{n} {k}(s)" for k, n in kinds.items())
        + ")",
    )


def run(env: Env) -> None:
    """The pipeline's seed and first release, once the environment's stack is deployed."""
    spans = shipped_spans(env.repository.root, env.pipeline)
    data = env.bucket("data")
    if not spans:
        env.fail(FLOW, f"pipelines/{env.pipeline}/data holds no span-<N> files: nothing to seed nor to check")
        return
    session = seed_session(env.repository.root / "noxfile.py")
    if session is None:
        env.fail(
            FLOW,
            f"no seeding nox session (looked for: {', '.join(SEED_SESSIONS)}): nothing puts the shipped spans "
            f"into gs://{data} nor publishes a first template (issue 17 item 5)",
        )
        _seed_directly(env, spans, data)
        return
    mark = env.log_mark()
    args = ["--env", env.name, "--pipeline", env.pipeline]
    result = env.command(ENGINEER, ["bash", "ci/nox", "-s", session, "--", *args], f"bootstrap-{session}")
    if not env.check(
        result.returncode == 0,
        FLOW,
        f"nox -s {session} -- {' '.join(args)} as {ENGINEER}",
        f"nox -s {session} -- {' '.join(args)} failed ({result.returncode}): "
        f"{last_line(result.stdout + result.stderr)}",
        env.why(mark),
    ):
        _seed_directly(env, spans, data)
        return
    missing = [name for name, content in spans.items() if env.standin.storage.read(data, name) != content]
    env.check(
        not missing,
        FLOW,
        f"the {len(spans)} shipped span file(s) are in gs://{data}, byte for byte",
        f"after the seed, gs://{data} lacks (or differs in) {', '.join(missing)}",
    )
    pointer = env.standin.storage.read(env.bucket("artifacts"), current_key(env.pipeline))
    if env.config.gcp is not None and env.config.gcp.releases_from is None:
        env.check(
            pointer is not None,
            FLOW,
            f"a first template is published and the pointer set: {_template(pointer)}",
            f"no gs://{env.bucket('artifacts')}/{current_key(env.pipeline)} after the seed: no first template "
            "(issue 17 item 5)",
        )


def _template(pointer: bytes | None) -> str:
    try:
        return str(json.loads(pointer or b"{}").get("template"))
    except ValueError:
        return "(unreadable pointer)"


def _seed_directly(env: Env, spans: dict[str, bytes], bucket: str) -> None:
    for name, content in spans.items():
        env.standin.storage.put(bucket, name, content, "text/csv")
    env.ok(FLOW, f"(to go on) the rehearsal put the {len(spans)} shipped span file(s) into gs://{bucket} itself")


def manual_trigger_accounts(triggers: list[Trigger], project: str) -> list[str]:
    return [t.service_account for t in triggers if t.project == project]
