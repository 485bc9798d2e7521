"""ModelRegistered: a pipeline's topic RegistryPush announces each registered version on, and what
auto-promotes it.

RegistryPush registers a blessed model and publishes `{version, model, run}` as message attributes to its
pipeline's `<prefix>-<pipeline>-model-registered` (contracts.registry; the pipeline account may publish:
infra/access.py). It never promotes: moving the champion deploys onto the endpoint, which takes up to
release.serving.deploy_timeout_seconds and belongs to the release code outside the pipeline image. Where the
environment auto-promotes (release.auto_promote: dev), a Pub/Sub-triggered Cloud Build trigger
`<prefix>-<pipeline>-autopromote` starts one build per message: the promote config (ci/cloudbuild/promote.yaml)
with `_ACTION=auto-promote` and the version from the message, as the CI account, the deployer in every
environment. It never waits for an approver: an environment that auto-promotes
said so in its file, and one that gates builds on approval cannot auto-promote (contracts/environment.py
refuses both at once; infra/checks.py fails a Pub/Sub-triggered build in an approval-gated stack, but for the
canary build on its own canary-verdict topic, whose route says why: infra/parts/build_triggers.py). Without
auto-promotion (prod) there is no such trigger and announcements are not consumed: promotion is the manual,
approval-gated `promote` trigger.
"""

from __future__ import annotations

from cdktf_cdktf_provider_google.cloudbuild_trigger import CloudbuildTrigger
from cdktf_cdktf_provider_google.pubsub_topic import PubsubTopic
from constructs import Construct

from ci.routing import route
from contracts.environment import EnvironmentConfig, Gcp
from infra import access
from infra.parts.buckets import Buckets
from infra.parts.build_triggers import manual_source, substitutions
from infra.parts.service_accounts import ServiceAccounts

WORKFLOW = "autopromote"
# What the promote build reads from each announcement (Cloud Build's payload bindings of a Pub/Sub trigger).
MESSAGE_SUBSTITUTIONS = {
    "_ACTION": "auto-promote",
    "_VERSION": "$(body.message.attributes.version)",
    # Who asked: the pipeline run that registered the version and announced it.
    "_BY": "$(body.message.attributes.run)",
    # Why: the registered model the version belongs to (the run's own blessing is the reason to promote).
    "_REASON": "$(body.message.attributes.model)",
}


class ModelRegistered(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        config: EnvironmentConfig,
        gcp: Gcp,
        accounts: ServiceAccounts,
        buckets: Buckets,
    ) -> None:
        """`config`: the environment for one pipeline (config.for_pipeline)."""
        super().__init__(scope, id_)
        pipeline = config.selected
        self.topic = PubsubTopic(
            self, "topic", project=gcp.project, name=gcp.pipeline_resource(pipeline, "model-registered")
        )
        self.trigger: CloudbuildTrigger | None = None
        if not config.release.auto_promote:
            return
        promote = route("promote")
        self.trigger = CloudbuildTrigger(
            self,
            WORKFLOW,
            project=gcp.project,
            location=gcp.region,
            name=gcp.pipeline_resource(pipeline, WORKFLOW),
            description=f"auto-promote each {pipeline} version RegistryPush announces: deploy it, move the alias",
            pubsub_config={"topic": self.topic.id},
            **manual_source(gcp, promote),  # type: ignore[arg-type]
            service_account=accounts.accounts[access.build_account(WORKFLOW)].id,
            substitutions={
                **substitutions(config, gcp, buckets.name("build-logs"), promote),
                **MESSAGE_SUBSTITUTIONS,
            },
            approval_config={"approval_required": False},
        )
