"""Cloud Build triggers from the routing table (ci/routing.py): one per route, and for the routes that run per
pipeline (full, modules, promote, datacheck, monitor, canary) one per pipeline of the environment, named by the
per-pipeline rule (<prefix>-<pipeline>-<workflow>, Gcp.pipeline_resource) and filtered by that pipeline's globs
(Route.for_pipeline: its own folder and the shared files), its builds told which pipeline by _PIPELINE.

The routing table is the single source: the local planner (`nox -s cicd`) and these triggers apply the same
included/ignored globs, so what fires locally is what fires on Google Cloud, pipeline by pipeline
(tests/infra and tests/unit/test_routing.py check they agree).
A route's event picks the trigger's: a push to the CI branch, or a pull request to it (the `checks`, which a
branch protection rule can require before a merge), or none (`promote`, `datacheck`, `monitor`: manual triggers
that only triggers.run starts, building the CI branch), or a message on the pipeline's own Pub/Sub topic named
by the route (`canary`: `<prefix>-<pipeline>-canary-verdict`, made here with its trigger, in every environment;
one build of the CI branch per message, as the autopromote trigger of infra/parts/model_registered.py). Who may
publish on that topic is the access table's: publishing starts that one build, with nothing of the message in
it, and needs neither cloudbuild.builds.create nor actAs on the account it runs as. Triggers use a 2nd-gen
GitHub connection that a platform engineer creates once (infra/README.md), run as the account the access table
names for the workflow (the CI account, or the datacheck and monitor accounts for their scheduled builds; never
the legacy Cloud Build account), and in prod wait for an approver unless the route says why not
(approval_exempt).

An environment that runs another's releases (gcp.releases_from: prod runs what dev published) builds and
compiles nothing: its triggers of the publishing workflows fire on the same pushes and run the adopt config,
which submits the template the release store holds for the pushed commit and then moves the pointer.
"""

from __future__ import annotations

import re

from cdktf_cdktf_provider_google.cloudbuild_trigger import CloudbuildTrigger
from cdktf_cdktf_provider_google.pubsub_topic import PubsubTopic
from constructs import Construct

from ci.routing import PER_PIPELINE, ROUTES, Route, trigger_kind
from contracts.environment import EnvironmentConfig, Gcp, pipeline_kind
from infra import access
from infra.parts.buckets import Buckets
from infra.parts.service_accounts import ServiceAccounts

# The workflows that build, compile and publish a release, then submit it (their configs have a publish step).
PUBLISHING = ("full", "modules")
# What their triggers run where the environment adopts the release store's templates instead.
ADOPT_CONFIG = "ci/cloudbuild/adopt.yaml"


def repository_resource(gcp: Gcp) -> str:
    ci = gcp.ci
    return f"projects/{gcp.project}/locations/{gcp.region}/connections/{ci.connection}/repositories/{ci.repository}"


# A pull request from a fork runs its own code as the CI account: it waits for a collaborator's `/gcbrun`
# comment; pull requests from collaborators run at once.
PULL_REQUEST_COMMENTS = "COMMENTS_ENABLED_FOR_EXTERNAL_CONTRIBUTORS_ONLY"


def repository_event_config(route: Route, gcp: Gcp) -> dict[str, object]:
    """The trigger's repository and event: a push to the CI branch, or a pull request whose base is that branch."""
    branch = {"branch": gcp.ci.branch}
    if route.event == "pull_request":
        event: dict[str, object] = {"pull_request": {**branch, "comment_control": PULL_REQUEST_COMMENTS}}
    else:
        event = {"push": branch}
    return {"repository": repository_resource(gcp), **event}


def branch_ref(gcp: Gcp) -> str:
    """The one branch a manual trigger builds: refs/heads/<name> from a branch regex of the form ^name$."""
    found = re.fullmatch(r"\^([A-Za-z0-9._/-]+)\$", gcp.ci.branch)
    if found is None:
        raise ValueError(f"gcp.ci.branch {gcp.ci.branch!r}: the promote trigger builds one branch; use the form ^name$")
    return f"refs/heads/{found.group(1)}"


def manual_source(gcp: Gcp, route: Route) -> dict[str, dict[str, str]]:
    """What a manual trigger checks out (source_to_build) and where it reads its config (git_file_source)."""
    ref, repository = branch_ref(gcp), repository_resource(gcp)
    return {
        "source_to_build": {"repository": repository, "ref": ref, "repo_type": "GITHUB"},
        "git_file_source": {"repository": repository, "revision": ref, "path": route.config, "repo_type": "GITHUB"},
    }


def substitutions(config: EnvironmentConfig, gcp: Gcp, logs_bucket: str, route: Route) -> dict[str, str]:
    """What every build config (ci/cloudbuild/*.yaml) may read; the logs bucket without gs://."""
    fixed = {"_ENV": config.name, "_REGION": gcp.region, "_NAME_PREFIX": gcp.name_prefix}
    if route.workflow in PER_PIPELINE:
        # The trigger's pipeline (its folder's name); a route that runs once per environment has none.
        fixed["_PIPELINE"] = config.selected
    fixed["_LOGS_BUCKET"] = logs_bucket
    # What a manual build's request sets is declared empty: a build started without it fails loudly.
    return {**fixed, **dict.fromkeys(route.requested, "")}


def adopts(config: EnvironmentConfig, route: Route) -> bool:
    return route.workflow in PUBLISHING and config.gcp is not None and config.gcp.releases_from is not None


def build_config(config: EnvironmentConfig, route: Route) -> str:
    """The Cloud Build config the route's trigger runs in this environment."""
    return ADOPT_CONFIG if adopts(config, route) else route.config


def description(config: EnvironmentConfig, route: Route) -> str:
    if not adopts(config, route):
        return route.description
    source = config.gcp.releases_from if config.gcp else None
    return f"on {route.workflow}'s paths: submit the template {source} published for the commit, move the pointer"


def _source(config: EnvironmentConfig, route: Route, gcp: Gcp) -> dict[str, object]:
    if route.event in ("manual", "pubsub"):
        return {"filename": None, **manual_source(gcp, route)}
    return {"filename": build_config(config, route), "repository_event_config": repository_event_config(route, gcp)}


def topic_kind(route: Route, pipeline: str) -> str:
    """The naming rule's kind of a pubsub route's topic for one pipeline, <pipeline>-<topic> (so
    <prefix>-<pipeline>-<topic>, Gcp.pipeline_resource; the access table's per-pipeline topic, Resource.kind_for)."""
    if route.event != "pubsub" or route.workflow not in PER_PIPELINE:
        raise ValueError(f"route {route.workflow!r}: only a per-pipeline pubsub route has a pipeline's topic")
    return pipeline_kind(pipeline, route.topic)


def planned_triggers(
    config: EnvironmentConfig, routes: tuple[Route, ...] = ROUTES
) -> list[tuple[str, EnvironmentConfig, Route]]:
    """(name kind, config, route) of every trigger: a per-pipeline route's for each of the environment's pipelines
    (kind <pipeline>-<workflow>, the config for that pipeline, the route with its globs), the others' once."""
    planned: list[tuple[str, EnvironmentConfig, Route]] = []
    for route in routes:
        if route.workflow not in PER_PIPELINE:
            planned.append((route.workflow, config, route))
            continue
        for each in config.each_pipeline():
            planned.append((trigger_kind(route.workflow, each.selected), each, route.for_pipeline(each.selected)))
    return planned


class BuildTriggers(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        config: EnvironmentConfig,
        gcp: Gcp,
        accounts: ServiceAccounts,
        buckets: Buckets,
        routes: tuple[Route, ...] = ROUTES,
    ) -> None:
        super().__init__(scope, id_)
        # A pubsub route's topics, keyed by the naming rule's kind (<pipeline>-<topic>): the access table grants on
        # them (who may publish, so start the build).
        self.topics: dict[str, PubsubTopic] = {}
        # Keyed by the name's kind: the workflow, or <pipeline>-<workflow> for a per-pipeline route.
        self.triggers: dict[str, CloudbuildTrigger] = {}
        for kind, each, route in planned_triggers(config, routes):
            pubsub: dict[str, object] = {}
            if route.event == "pubsub":
                topic = topic_kind(route, each.selected)
                # Its construct id names the pipeline (<topic>-<pipeline>), as every pipeline's own resource's does.
                self.topics[topic] = PubsubTopic(
                    self,
                    f"{route.topic}-{each.selected}",
                    project=gcp.project,
                    name=gcp.pipeline_resource(each.selected, route.topic),
                )
                pubsub = {"pubsub_config": {"topic": self.topics[topic].id}}
            self.triggers[kind] = CloudbuildTrigger(
                self,
                kind,
                project=gcp.project,
                location=gcp.region,
                name=gcp.name(kind),
                description=description(each, route),
                # An empty list is no filter: left out rather than synthesized as [].
                included_files=list(route.included) or None,
                ignored_files=list(route.ignored) or None,
                **_source(each, route, gcp),  # type: ignore[arg-type]
                **pubsub,  # type: ignore[arg-type]
                # The account's full resource name: projects/<project>/serviceAccounts/<email>.
                service_account=accounts.accounts[access.build_account(route.workflow)].id,
                # Nothing of a pubsub route's message: its build runs on what the trigger fixes (_PIPELINE included).
                substitutions=substitutions(each, gcp, buckets.name("build-logs"), route),
                # A route that never waits says why (ci/routing.py: approval_exempt; infra/checks.py allows it).
                approval_config={"approval_required": gcp.ci.require_approval and not route.approval_exempt},
            )
