"""Models outlive their buckets: past every lifecycle rule's age, every registered version's files still exist.

The stand-in's clock is advanced past the oldest `age` of any rule, the rules applied (a versioned bucket keeps
a deleted live object as noncurrent), then advanced past every `days_since_noncurrent_time` and applied again.
Then each registered version's artifactUri (and the `uri` its description keeps) must still hold its files,
so the champion can still be served and any version rolled back to. (Before the registry kept durable copies
in its own bucket, issue 18 item 2, this was the one check marked as an expected failure; it no longer is.)
"""

from __future__ import annotations

import contextlib
import json

from rehearsal.context import Env
from rehearsal.flows.release import model_versions
from rehearsal.report import Report
from rehearsal.standin.app import StandIn

FLOW = "lifetime"


def age_out(standin: StandIn) -> tuple[float, list[str]]:
    rules = [r.get("condition") or {} for b in standin.storage.buckets.values() for r in b.lifecycle]
    age = max([float(c["age"]) for c in rules if c.get("age") is not None] or [0.0])
    noncurrent = max(
        [float(c["days_since_noncurrent_time"]) for c in rules if c.get("days_since_noncurrent_time") is not None]
        or [0.0]
    )
    standin.clock.advance(age + 1)
    deleted = standin.storage.apply_lifecycle()
    standin.clock.advance(noncurrent + 1)
    deleted += standin.storage.apply_lifecycle()
    return age + noncurrent + 2, deleted


def _exists(standin: StandIn, uri: str) -> bool:
    bucket, _, prefix = uri.removeprefix("gs://").partition("/")
    return bucket in standin.storage.buckets and bool(standin.storage.names(bucket, prefix.rstrip("/") + "/"))


def check(env: Env) -> None:
    versions = model_versions(env)
    if not versions:
        env.fail(FLOW, "no registered version to hold to the lifecycle rules (flow 4 registered none)")
        return
    for _, version in versions:
        uris = {str(version.resource.get("artifactUri", ""))}
        with contextlib.suppress(ValueError):
            uris.add(str(json.loads(version.resource.get("versionDescription") or "{}").get("uri") or ""))
        gone = sorted(u for u in uris if u.startswith("gs://") and not _exists(env.standin, u))
        good = f"version {version.version_id}'s files outlive every lifecycle rule ({', '.join(sorted(uris - {''}))})"
        bad = (
            f"version {version.version_id} (aliases {version.aliases}) keeps its model at {', '.join(gone)}, which the "
            "bucket's lifecycle deleted: it can no longer be served nor rolled back to"
        )
        env.check(not gone, FLOW, good, bad)


def run(envs: list[Env], report: Report) -> None:
    if not envs:
        return
    days, deleted = age_out(envs[0].standin)
    report.ok(
        "all",
        FLOW,
        f"the clock advanced {days:.0f} days and the lifecycle rules applied: {len(deleted)} object version(s) deleted",
    )
    for env in envs:
        check(env)
