"""The access table (infra/access.py, PLAN D8) held to the synthesized IAM and to what the rehearsal saw, both ways.

- A request refused for lack of a grant fails (the flows say which; here, every refusal is listed).
- A synthesized grant that is not a row of the table fails.
- A row the rehearsal should exercise (it names a rehearsed flow) that no request used fails.
The table is read through `infra.access.bindings(config, project_number)`: each grant resolved as Google Cloud
names it, once per environment (a grant on a resource of each pipeline's own is one binding per pipeline, so
every pipeline's flows must use theirs). Until infra/access.py exists, the grants used and unused are listed
and the check fails saying so.
The people (rehearsal/operator.py) are not in the stacks and not in the table.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from contracts.config import load_environment
from rehearsal.context import Env
from rehearsal.operator import SOURCE as PEOPLE
from rehearsal.report import Report
from rehearsal.standin.iam import Grant
from rehearsal.standin.server import LogEntry

FLOW = "access"
# Refusals no flow depends on: google-cloud-storage 3.x reads a bucket's metadata in the background, best effort.
TOLERATED = {"storage.buckets.get": "google-cloud-storage's background bucket-metadata read (best effort)"}


def grant_key(binding: Any) -> tuple[str, str, str, str | None]:
    kind, resource = binding.resource_type, str(binding.resource)
    if kind == "project":
        name = f"projects/{resource.removeprefix('projects/')}"
    elif kind == "bucket":
        name = f"projects/_/buckets/{resource}"
    else:
        name = resource
    return binding.member, binding.role, name, binding.condition


def _key(grant: Grant) -> tuple[str, str, str, str | None]:
    return grant.member, grant.role, grant.resource, grant.condition


def write_grants(folder: Path, grants: list[Grant], used: dict[Grant, int]) -> Path:
    path = folder / "grants.txt"
    with path.open("w") as out:
        for grant in sorted(grants, key=lambda g: (g.source, g.member, g.role)):
            uses = used.get(grant, 0)
            condition = f" if {grant.condition}" if grant.condition else ""
            out.write(
                f"{'used ' + str(uses) + 'x' if uses else 'UNUSED':>10}  {grant.member} {grant.role} on "
                f"{grant.resource}{condition}  [{grant.source}]\n"
            )
    return path


def refusals(entries: list[LogEntry]) -> tuple[list[str], list[str]]:
    """(refusals that fail the rehearsal, tolerated ones), one line each, deduplicated."""
    failing, tolerated = [], []
    for entry in entries:
        for check in entry.checks:
            if check.allowed:
                continue
            line = f"{entry.caller}: {check.permission} on {check.resource} ({entry.method})"
            (tolerated if check.permission in TOLERATED else failing).append(line)
    return sorted(set(failing)), sorted(set(tolerated))


def run(envs: list[Env], report: Report, out: Path) -> None:
    if not envs:
        return
    standin = envs[0].standin
    grants = [g for g in standin.policy.grants if g.source != PEOPLE]
    listed = write_grants(out, standin.policy.grants, standin.policy.used)
    failing, tolerated = refusals(standin.server.log.entries)
    report.check(
        not failing,
        "all",
        FLOW,
        "no request was refused for lack of a grant",
        f"{len(failing)} request kind(s) refused for lack of a grant",
        failing[:12],
    )
    if tolerated:
        report.ok(
            "all", FLOW, f"{len(tolerated)} refusal(s) tolerated: {TOLERATED['storage.buckets.get']}", tolerated[:4]
        )
    try:
        table = importlib.import_module("infra.access")
    except ModuleNotFoundError as err:
        used = sum(1 for g in grants if g in standin.policy.used)
        report.fail(
            "all",
            FLOW,
            f"infra/access.py is missing ({err.name}): the IAM cannot be held to an access table "
            f"(PLAN D8); {used} synthesized grant(s) used, {len(grants) - used} unused, listed in {listed}",
        )
        return
    environments = {env.name: env for env in envs}  # one Env per pipeline: the environment once
    for env in environments.values():
        _both_ways(env, table, grants, report)


def _both_ways(env: Env, table: Any, grants: list[Grant], report: Report) -> None:
    """The environment's grants (every pipeline's) against the table's rows for the environment."""
    rows = table.bindings(load_environment(env.name), env.standin.numbers[env.project])
    by_key = {grant_key(b): b for b in rows}
    mine = [g for g in grants if g.source.startswith(f"{env.name}:")]
    extra = [g for g in mine if _key(g) not in by_key]
    report.check(
        not extra,
        env.name,
        FLOW,
        f"every synthesized grant of {env.name} is a row of infra/access.py ({len(mine)})",
        f"{len(extra)} synthesized grant(s) of {env.name} are not in infra/access.py",
        [f"{g.member} {g.role} on {g.resource} [{g.source}]" for g in extra[:10]],
    )
    used = {_key(g) for g in env.standin.policy.used}
    idle = [b for k, b in by_key.items() if getattr(b.grant, "flow", "") and k not in used]
    report.check(
        not idle,
        env.name,
        FLOW,
        f"every row of infra/access.py that names a rehearsed flow was used in {env.name}",
        f"{len(idle)} row(s) of infra/access.py name a rehearsed flow but no request of {env.name} used them",
        [f"{b.member} {b.role} on {b.resource} (flow {b.grant.flow}: {b.grant.why})" for b in idle[:10]],
    )
