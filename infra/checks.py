"""Offline checks checkov does not have, on synthesized Terraform JSON (standard library and the routing table).

    python -m infra.checks build/infra        (every stacks/<env>/cdk.tf.json below it; or one file)

1. No primitive role (roles/owner, roles/editor, roles/viewer) in any IAM resource or google_iam_policy.
2. Every Cloud Build trigger names a service account (else it runs as the legacy, over-privileged one).
3. Every trigger of the prod stack requires approval, except those of the manual routes that say why not
   (ci/routing.py: approval_exempt; today the scheduled data check's and monitor's, ci/cloudbuild/datacheck.yaml
   and monitor.yaml), each known by its config.
4. A Pub/Sub-triggered build (the autopromote trigger, infra/parts/model_registered.py) never waits for an
   approver: that is what auto-promotion means, and an environment with release.auto_promote says so. It may
   exist only in a stack that gates nothing on approval; in the prod stack, or next to any approval-gated
   trigger, it would release models unapproved (unless it waits for an approver too). The one exception is a
   pubsub route that says why (ci/routing.py: approval_exempt; today `canary`, which only applies the verdict
   the monitor recorded): known by its config and by its topic, <prefix>-<pipeline>-<route.topic>, both.
Exit 1 with one line per problem, naming the file, the resource and the problem; 0 when all pass.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ci.routing import ROUTES

PRIMITIVE_ROLES = frozenset({"roles/owner", "roles/editor", "roles/viewer"})
PROD_STACKS = frozenset({"prod"})
# The routes that say why they never wait for an approver (ci/routing.py: approval_exempt): a manual (or push)
# route's trigger known by its config; a pubsub route's by its config and the kind of topic it listens to. Neither
# stands for the other: a manual trigger of a pubsub route's config, or a Pub/Sub trigger of a manual route's
# config or on another topic, must wait for an approver in prod.
APPROVAL_EXEMPT_CONFIGS = frozenset(
    route.config for route in ROUTES if route.approval_exempt and route.event != "pubsub"
)
APPROVAL_EXEMPT_PUBSUB = frozenset(
    (route.config, route.topic) for route in ROUTES if route.approval_exempt and route.event == "pubsub"
)
# A topic as the synthesized JSON names it: a reference to a topic of the stack, or its full name.
TOPIC_REFERENCE = re.compile(r"\$\{google_pubsub_topic\.([^.}]+)\.(?:id|name)\}")


def _blocks(value: Any) -> list[dict[str, Any]]:
    """A nested block as synthesized (a dict) or as plain Terraform JSON allows (a list of dicts)."""
    if isinstance(value, dict):
        return [value]
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _resources(doc: dict[str, Any], kind: str = "resource") -> Iterator[tuple[str, str, dict[str, Any]]]:
    for rtype, instances in doc.get(kind, {}).items():
        for name, body in instances.items():
            yield rtype, name, body


def primitive_roles(doc: dict[str, Any]) -> list[str]:
    problems = []
    for rtype, name, body in _resources(doc):
        if "iam" in rtype and body.get("role") in PRIMITIVE_ROLES:
            problems.append(f"{rtype}.{name}: grants the primitive role {body['role']}")
    for rtype, name, body in _resources(doc, "data"):
        if rtype == "google_iam_policy":
            for binding in _blocks(body.get("binding", [])):
                if binding.get("role") in PRIMITIVE_ROLES:
                    problems.append(f"data.{rtype}.{name}: grants the primitive role {binding['role']}")
    return problems


def _approval_required(body: dict[str, Any]) -> bool:
    return any(block.get("approval_required") is True for block in _blocks(body.get("approval_config", [])))


def _configs(body: dict[str, Any]) -> set[str]:
    """The build config a trigger runs: its filename, or its git_file_source's path."""
    found = {body.get("filename")} | {b.get("path") for b in _blocks(body.get("git_file_source", []))}
    return {config for config in found if isinstance(config, str) and config}


def _topic_name(doc: dict[str, Any], topic: str) -> str:
    """A Pub/Sub trigger's topic's name: the stack's topic a reference names, or the last part of a full name."""
    reference = TOPIC_REFERENCE.fullmatch(topic)
    if reference is None:
        return topic.rsplit("/", 1)[-1]
    body = doc.get("resource", {}).get("google_pubsub_topic", {}).get(reference.group(1), {})
    return str(body.get("name", ""))


def _exempt_pubsub(doc: dict[str, Any], body: dict[str, Any]) -> bool:
    """A Pub/Sub-triggered build of a pubsub route that says why it never waits: its config on its topic."""
    topics = [_topic_name(doc, str(b.get("topic", ""))) for b in _blocks(body.get("pubsub_config", []))]
    return any(
        config in _configs(body) and all(name.endswith(f"-{kind}") for name in topics)
        for config, kind in APPROVAL_EXEMPT_PUBSUB
    )


def build_triggers(doc: dict[str, Any], stack: str) -> list[str]:
    problems = []
    triggers = [(name, body) for rtype, name, body in _resources(doc) if rtype == "google_cloudbuild_trigger"]
    gated = stack in PROD_STACKS or any(_approval_required(body) for _, body in triggers)
    for name, body in triggers:
        where = f"google_cloudbuild_trigger.{name}"
        if not body.get("service_account"):
            problems.append(f"{where}: no service_account (builds would run as the legacy Cloud Build account)")
        if _blocks(body.get("pubsub_config", [])):
            if gated and not _approval_required(body) and not _exempt_pubsub(doc, body):
                problems.append(
                    f"{where}: a Pub/Sub-triggered build starts unapproved (auto-promotion); an approval-gated "
                    "stack may not have one unless its route says why (ci/routing.py: approval_exempt)"
                )
            continue
        if _configs(body) & APPROVAL_EXEMPT_CONFIGS:
            continue
        if stack in PROD_STACKS and not _approval_required(body):
            problems.append(f"{where}: a prod trigger must set approval_config.approval_required = true")
    return problems


def check_file(path: Path) -> list[str]:
    """Problems in one cdk.tf.json; the stack name is its folder's (cdktf.out/stacks/<stack>/cdk.tf.json)."""
    doc = json.loads(path.read_text())
    stack = path.parent.name
    return [f"{path}: {problem}" for problem in primitive_roles(doc) + build_triggers(doc, stack)]


def stack_files(target: Path) -> list[Path]:
    return [target] if target.is_file() else sorted(target.rglob("cdk.tf.json"))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m infra.checks <synth dir or cdk.tf.json>", file=sys.stderr)
        return 2
    files = stack_files(Path(args[0]))
    if not files:
        print(f"error: no cdk.tf.json under {args[0]} (run python -m infra.synth first)", file=sys.stderr)
        return 2
    problems = [problem for path in files for problem in check_file(path)]
    for problem in problems:
        print(problem, file=sys.stderr)
    if not problems:
        print(f"infra checks passed: {len(files)} stacks ({', '.join(path.parent.name for path in files)})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
