"""The routing table: which changed paths mean which workflow (standard library only).

The single source for local change planning (`python -m ci.plan`, `nox -s cicd`) and for the Cloud Build
trigger filters that infra/ provisions: each workflow's `included` and `ignored` globs become its trigger's
`included_files` and `ignored_files`, and `fires` applies them with Cloud Build's rules, so what the local
planner decides is what Cloud Build would fire. A route's `event` says whether its trigger fires on a push to
the CI branch (the workflows the local main job runs), on a pull request to it (the `checks` that gate a
merge, which `.ci/run` runs locally), only when started by hand (`promote`: run_build_trigger from the
`models` command, approval-gated in prod; no change to the repository fires it), or on a message published on
one of the pipeline's own Pub/Sub topics (`canary`: the monitor's verdict message on
`<prefix>-<pipeline>-canary-verdict`; whoever may publish there can start that build and nothing else).

Each push route's globs are the import closure of what its steps run (tests/unit/test_routing_closure.py
checks them against the imports both ways), so a change retrains only when it changes what a run executes:
the `models` command, the promotion code and the model tests fire no retraining (the model tests fire their
own route, which re-tests the champion).

Cloud Build's rules (google.devtools.cloudbuild.v1.BuildTrigger): files matching an ignored glob are
dropped; a trigger whose change has no file left does not fire; otherwise it fires if `included` is empty or
any remaining file matches an included glob. Globs are Go's path/filepath.Match extended with `**`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path


@dataclass(frozen=True)
class Route:
    workflow: str
    # The Cloud Build config the workflow's trigger runs, relative to the repository root.
    config: str
    included: tuple[str, ...]
    ignored: tuple[str, ...]
    description: str
    # What the trigger listens to: "push" (a push to the CI branch; the local main job plans these),
    # "pull_request" (a pull request to it: the checks that gate a merge, shown apart by `ci.plan`),
    # "manual" (only run_build_trigger starts it; its globs are empty and never consulted) or "pubsub" (a message
    # on the pipeline's own topic `topic` starts it, one build per message; no globs, as a manual route).
    event: str = "push"
    # Substitutions the one who starts a manual build sets (the trigger declares them empty).
    requested: tuple[str, ...] = ()
    # Why this trigger never waits for an approver, even in prod (empty: it follows gcp.ci.require_approval).
    # infra provisions it so and infra/checks.py allows exactly the routes that say why.
    approval_exempt: str = ""
    # A "pubsub" route's topic: the kind of the pipeline's own topic whose messages start its build,
    # <prefix>-<pipeline>-<topic> (Gcp.pipeline_resource), which infra creates with the trigger. Empty otherwise.
    topic: str = ""

    def __post_init__(self) -> None:
        if self.event not in EVENTS:
            raise ValueError(f"route {self.workflow!r}: event {self.event!r}; expected one of {', '.join(EVENTS)}")
        if (self.event == "pubsub") != bool(self.topic):
            raise ValueError(f"route {self.workflow!r}: a topic is what starts a pubsub route, and only a pubsub route")
        if self.event == "pubsub" and (self.included or self.ignored or self.requested):
            # No change fires it, and nobody requests anything of it: what it runs is fixed by its trigger.
            raise ValueError(f"route {self.workflow!r}: a pubsub route has no globs and no requested substitutions")

    def for_pipeline(self, pipeline: str) -> Route:
        """This route as one pipeline's own trigger applies it: the globs that name every pipeline's folder
        (`pipelines/**`, `pipelines/*/...`) name that pipeline's only, and the shared files directly under
        pipelines/ (the factory, compile, the local runner) stay. A change in another pipeline's folder then
        fires nothing here, and a shared one fires every pipeline's trigger, as `fired_pipelines` decides
        (tests/unit/test_routing.py checks the two agree on every file of the repository)."""
        own: list[str] = []
        for glob in self.included:
            if glob == "pipelines/**":
                own += ["pipelines/*", f"pipelines/{pipeline}/**"]
            elif glob.startswith("pipelines/*/"):
                own.append(f"pipelines/{pipeline}/{glob.removeprefix('pipelines/*/')}")
            else:
                own.append(glob)
        return replace(self, included=tuple(own))


EVENTS = ("push", "pull_request", "manual", "pubsub")


# Documentation never runs anything.
DOCS = ("**/*.md", "LICENSE", "docs/**")

# The contracts (environment schema and naming rule, parameters, TriggerMessage, run request) are imported by
# every deployable: the pipeline image, the release commands, the CDKTF app and the trigger function.
CONTRACTS = "contracts/**"
# Every step runs `bash ci/nox -s <session>`: the noxfile and what it imports decide how each step runs.
NOX = (
    "noxfile.py",
    "ci/nox",
    "ci/__init__.py",
    "ci/credentials.py",
    "ci/python310.py",
    "ci/runner.py",
    "ci/workflows.py",
    "requirements/tools.*",
)

# The release steps of a full build (image, publish, submit; compile is pipelines/kubeflow_v2_runner.py) and
# the release code they import. Not release/**: promotion, the model tests, the `models` command and the data
# check run outside a pipeline run and change nothing a run executes.
RELEASE_STEPS = (
    "release/__init__.py",
    "release/image.py",
    "release/publish.py",
    "release/submit.py",
    "release/vertex.py",
    "release/cloud_errors.py",
    "release/publishing/**",
)

ROUTES: tuple[Route, ...] = (
    Route(
        workflow="full",
        config="ci/cloudbuild/full.yaml",
        included=(
            # What the image holds and imports (release/image.py: image_inputs), and each pipeline's folder:
            # its definition, its schema and the shipped spans a run seeds (pipelines/sources.py) ...
            "pipelines/**",
            "components/**",
            "serving/**",
            CONTRACTS,
            # ... and the release steps that build, compile, publish and submit it, with what they import.
            *RELEASE_STEPS,
            "envs/**",
            "Dockerfile",
            ".dockerignore",
            "pyproject.toml",
            "requirements/pipeline.*",
            "requirements/dev.*",
            *NOX,
            "ci/import_graph.py",
            "ci/cloudbuild/full.yaml",
        ),
        # The modules are not in the image: they are published by content hash and referenced by the
        # compiled spec, so a change to them alone takes the `modules` fast path. The script that derived a
        # pipeline's shipped spans runs nowhere. A pipeline's model tests run outside the image (their route).
        ignored=(*DOCS, "pipelines/*/modules/**", "pipelines/*/data/*.py", "pipelines/*/model_tests/**"),
        description="rebuild the pipeline image, compile against its digest, publish, run the pipeline",
    ),
    Route(
        workflow="modules",
        config="ci/cloudbuild/modules.yaml",
        included=("pipelines/*/modules/**", "ci/cloudbuild/modules.yaml"),
        ignored=DOCS,
        description="compile against the existing image, publish the modules, run the pipeline (no image build)",
    ),
    Route(
        workflow="model-tests",
        config="ci/cloudbuild/model-tests.yaml",
        # The model tests and what they import to load a champion, test it and roll it back; each pipeline's
        # model tests (its shipped records) and its definition, which says how its smoke test judges.
        included=(
            "release/model_tests/**",
            "pipelines/*/model_tests/**",
            "pipelines/*/pipeline.py",
            "pipelines/__init__.py",
            "pipelines/sources.py",
            "release/promotion/**",
            "release/__init__.py",
            "release/cloud_errors.py",
            "components/__init__.py",
            "components/registry/**",
            CONTRACTS,
            *NOX,
            "ci/cloudbuild/model-tests.yaml",
        ),
        ignored=DOCS,
        description="re-test each environment's champion with the changed model tests; record; roll back if told",
    ),
    Route(
        workflow="infra",
        config="ci/cloudbuild/infra.yaml",
        included=(
            "infra/**",
            CONTRACTS,
            "envs/**",
            "requirements/infra.*",
            "ci/routing.py",
            "ci/import_graph.py",
            *NOX,
            "ci/cloudbuild/infra.yaml",
        ),
        ignored=DOCS,
        description="synthesize the CDKTF stacks, run the static checks, plan",
    ),
    Route(
        workflow="function",
        config="ci/cloudbuild/function.yaml",
        # cloudfunctions/** holds the function's own requirements; its test tools are locked beside the others.
        included=("cloudfunctions/**", CONTRACTS, "requirements/function-tests.*", *NOX, "ci/cloudbuild/function.yaml"),
        ignored=DOCS,
        description="test the trigger function, then synthesize and check the stack that deploys it",
    ),
    Route(
        workflow="checks",
        config="ci/cloudbuild/checks.yaml",
        # No filter: a required status check has to report on every pull request, a documentation-only one
        # included (a trigger that does not fire leaves the check pending and the merge blocked).
        included=(),
        ignored=(),
        description="lint and the whole test suite on every pull request to the CI branch",
        event="pull_request",
    ),
    Route(
        workflow="promote",
        config="ci/cloudbuild/promote.yaml",
        included=(),
        ignored=(),
        description="move the champion as approved: promote or roll back one model version (started by `models`)",
        event="manual",
        # release/approvals.py: what to do, to which version, who asked and why.
        requested=("_ACTION", "_VERSION", "_BY", "_REASON"),
    ),
    Route(
        workflow="datacheck",
        config="ci/cloudbuild/datacheck.yaml",
        included=(),
        ignored=(),
        description="the new-data check on the environment's GCS data area (started by its Cloud Scheduler job)",
        event="manual",
        approval_exempt=(
            "a scheduled build nobody approves never runs; the check only ingests data and submits training, "
            "and promotion, which changes what is served, stays approval-gated"
        ),
    ),
    Route(
        workflow="monitor",
        config="ci/cloudbuild/monitor.yaml",
        included=(),
        ignored=(),
        description="watch the champion: its logged requests against its training spans (started by its Scheduler job)",
        event="manual",
        # Empty from the schedule (the last complete window, now); a person re-judges a past window with them.
        requested=("_WINDOW_END", "_NOW"),
        approval_exempt=(
            "a scheduled build nobody approves never runs; the monitor only reads the request log and the data, "
            "writes its reports, alerts and at most requests a training run, and promotion, which changes what "
            "is served, stays approval-gated"
        ),
    ),
    Route(
        workflow="canary",
        config="ci/cloudbuild/canary.yaml",
        included=(),
        ignored=(),
        description=(
            "end a running canary as the verdict its monitor recorded says (started by the monitor's message on "
            "the pipeline's canary-verdict topic)"
        ),
        # The monitor publishes there once it recorded a verdict; it may publish and nothing more (it creates no
        # build and acts as no account): the build is the trigger's, as the ci account.
        event="pubsub",
        topic="canary-verdict",
        approval_exempt=(
            "it only applies a verdict the monitor recorded for a canary whose start was approved; ending it "
            "either way is the rollout's own decision, and the build can do nothing but that"
        ),
    ),
)
WORKFLOWS: tuple[str, ...] = tuple(route.workflow for route in ROUTES)
# What a push runs (the local main job's workflows) and what a pull request runs (the checks gating a merge);
# manual and pubsub routes are in neither: no change fires them.
PUSH_ROUTES: tuple[Route, ...] = tuple(r for r in ROUTES if r.event == "push")
PULL_REQUEST_ROUTES: tuple[Route, ...] = tuple(r for r in ROUTES if r.event == "pull_request")
# A workflow that runs everything another one does makes that one redundant for the same change.
SUPERSEDES: dict[str, str] = {"modules": "full"}


def route(workflow: str) -> Route:
    for candidate in ROUTES:
        if candidate.workflow == workflow:
            return candidate
    raise KeyError(f"unknown workflow {workflow!r}; known: {', '.join(WORKFLOWS)}")


def _segment_regex(segment: str) -> str:
    """One path segment of a Go filepath.Match pattern as a regex (`*`, `?`, `[...]`, `[^...]`, `\\x`)."""
    out: list[str] = []
    i = 0
    while i < len(segment):
        char = segment[i]
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "\\" and i + 1 < len(segment):
            i += 1
            out.append(re.escape(segment[i]))
        elif char == "[":
            end = segment.find("]", i + 2)
            if end == -1:
                raise ValueError(f"glob segment {segment!r}: unterminated character class")
            body = segment[i + 1 : end]
            negate = body.startswith("^")
            body = body[1:] if negate else body
            escaped = body.replace("\\", "\\\\").replace("[", "\\[")
            out.append(f"[{'^' if negate else ''}{escaped}]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return "".join(out)


@lru_cache(maxsize=512)
def _compile(pattern: str) -> re.Pattern[str]:
    if not pattern or pattern.startswith("/"):
        raise ValueError(f"glob {pattern!r}: expected a relative path pattern")
    parts: list[str] = []
    segments = pattern.split("/")
    for index, segment in enumerate(segments):
        last = index == len(segments) - 1
        if segment == "**":
            # Zero or more whole segments; a trailing `**` matches everything below (at least one segment).
            parts.append(".*" if last else "(?:[^/]+/)*")
        else:
            parts.append(_segment_regex(segment) + ("" if last else "/"))
    return re.compile("".join(parts) + r"\Z")


def matches(pattern: str, path: str) -> bool:
    """Go filepath.Match semantics per segment (`*` never crosses `/`), with `**` spanning segments."""
    return _compile(pattern).match(path) is not None


def fires(workflow_route: Route, changed: Iterable[str]) -> bool:
    """Whether Cloud Build would fire this workflow's trigger for these changed files."""
    remaining = [path for path in changed if not any(matches(glob, path) for glob in workflow_route.ignored)]
    if not remaining:
        return False
    if not workflow_route.included:
        return True
    return any(matches(glob, path) for glob in workflow_route.included for path in remaining)


def fired(changed: Iterable[str], routes: tuple[Route, ...] = PUSH_ROUTES) -> list[str]:
    """The workflows whose Cloud Build triggers fire for these changes, sorted (on a push, by default)."""
    paths = [normalize(path) for path in changed]
    return sorted(r.workflow for r in routes if fires(r, paths))


def fired_on_pull_request(changed: Iterable[str]) -> list[str]:
    """The checks a pull request with these changes runs, sorted."""
    return fired(changed, PULL_REQUEST_ROUTES)


# The workflows that run per pipeline, each pipeline's with its own trigger: a change to one pipeline's folder
# (pipelines/<name>/...) runs full or modules for that pipeline only, a change to anything they share (components,
# the image, the factory, the release steps) for every pipeline; promote, datacheck, monitor and canary are started
# for one pipeline (by `models`, by the pipeline's Scheduler jobs, by its monitor's verdict message on the
# pipeline's canary-verdict topic). The others (checks, model tests, infra, function) run once for the environment.
PER_PIPELINE: tuple[str, ...] = ("full", "modules", "promote", "datacheck", "monitor", "canary")


def trigger_kind(workflow: str, pipeline: str) -> str:
    """The kind of the Cloud Build trigger that runs `workflow` for `pipeline` (Gcp.name makes its name): a
    per-pipeline workflow's trigger is the pipeline's own, <pipeline>-<workflow> (so <prefix>-<pipeline>-<workflow>,
    Gcp.pipeline_resource's rule); the others' is the environment's, <workflow>."""
    return f"{pipeline}-{workflow}" if workflow in PER_PIPELINE else workflow


def repository_pipelines(root: Path) -> tuple[str, ...]:
    """The pipelines of a checkout: the folders of pipelines/ that hold a pipeline.py (pipelines/sources.py)."""
    return tuple(sorted(p.parent.name for p in (root / "pipelines").glob("*/pipeline.py")))


def pipeline_of(path: str) -> str | None:
    """The pipeline whose own folder holds `path` (pipelines/<name>/...), or None for a shared file."""
    parts = normalize(path).split("/")
    return parts[1] if len(parts) > 2 and parts[0] == "pipelines" else None


def fired_pipelines(workflow: str, changed: Iterable[str], pipelines: Iterable[str]) -> list[str]:
    """The pipelines a per-pipeline `workflow` runs for these changes: those whose own files fire it, or every
    pipeline when a shared file does. Sorted; empty if it does not fire (or runs once for the environment)."""
    workflow_route, known = route(workflow), sorted(set(pipelines))
    paths = [normalize(path) for path in changed]
    firing = [path for path in paths if fires(workflow_route, [path])]
    if not firing or workflow not in PER_PIPELINE:
        return []
    owners = {pipeline_of(path) for path in firing}
    if None in owners:
        return known
    return sorted(owner for owner in owners if owner in known)


def plan_pipelines(changed: Iterable[str], pipelines: Iterable[str]) -> dict[str, list[str]]:
    """Each push workflow to run, with the pipelines it runs for ([] for one that runs once for the environment):
    a pipeline's `modules` is dropped when `full` runs for it (full does all modules does), and a per-pipeline
    workflow left with no pipeline does not run."""
    paths = [normalize(path) for path in changed]
    plan = {workflow: fired_pipelines(workflow, paths, pipelines) for workflow in fired(paths)}
    for workflow, superseding in SUPERSEDES.items():
        if workflow in plan:
            plan[workflow] = [p for p in plan[workflow] if p not in plan.get(superseding, [])]
    return {w: names for w, names in sorted(plan.items()) if names or w not in PER_PIPELINE}


def plan_workflows(changed: Iterable[str], pipelines: Iterable[str] | None = None) -> list[str]:
    """The workflows to run: those that fire, minus any superseded by another one that fires for the same
    pipelines (`pipelines`: the repository's; None: the workflows alone, as one pipeline). Sorted."""
    if pipelines is not None:
        return sorted(plan_pipelines(changed, pipelines))
    triggered = set(fired(changed))
    return sorted(w for w in triggered if SUPERSEDES.get(w) not in triggered)


def normalize(path: str) -> str:
    """A repository-relative POSIX path, as git and Cloud Build name changed files."""
    cleaned = path.replace("\\", "/")
    while cleaned.startswith("./"):
        cleaned = cleaned[2:]
    if not cleaned or cleaned.startswith("/") or ".." in cleaned.split("/"):
        raise ValueError(f"changed path {path!r}: expected a path relative to the repository root")
    return cleaned
