"""PipelineTrigger: a pipeline's trigger topic, its dead-letter topic, its Cloud Function.

Each pipeline of the environment has its own (`<prefix>-<pipeline>-trigger`, the per-pipeline naming rule,
Gcp.pipeline_resource), deployed from one shared source archive (FunctionSource) with that pipeline's
settings (PIPELINE and the rest: function_environment); a message published on a pipeline's topic starts a
run of that pipeline, and one naming another pipeline is refused by the function.

Who may publish, invoke and dead-letter is the access table's (infra/access.py: the scheduler publishes, the
trigger account receives and invokes, the Pub/Sub service agent dead-letters).

Flow: publisher -> topic -> Eventarc (push subscription it creates and owns) -> function (CloudEvent) -> Vertex.

Dead-lettering. The function is deployed with an Eventarc Pub/Sub trigger, so it receives CloudEvents (what
main.py and its tests expect) and retries failures (RETRY_POLICY_RETRY). Eventarc creates the push subscription
itself, and neither google_cloudfunctions2_function nor google_eventarc_trigger can set its dead-letter policy
(hashicorp/terraform-provider-google#25069, #17697, open). So this construct declares everything dead-lettering
needs that Terraform can own: the dead-letter topic, a pull subscription that keeps dead-lettered messages for
7 days (to inspect and replay), and (in the access table) publisher on the dead-letter topic for the Pub/Sub
service agent; the output `dead_letter_setup_<pipeline>` is the one command (run once after the first deploy, and again
only if the function is recreated) that attaches the policy to Eventarc's subscription and grants the agent
subscriber on it. Until then nothing is lost: a failing message is retried for the subscription's retention
(24 h) and every failure raises the function-failure alert (parts/monitoring.py). Messages that can never
become a run are acknowledged by the function itself after one log line, so only transient failures are ever
retried.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from cdktf import AssetType, TerraformAsset
from cdktf_cdktf_provider_google.cloudfunctions2_function import Cloudfunctions2Function
from cdktf_cdktf_provider_google.pubsub_subscription import PubsubSubscription
from cdktf_cdktf_provider_google.pubsub_topic import PubsubTopic
from cdktf_cdktf_provider_google.storage_bucket_object import StorageBucketObject
from constructs import Construct

from contracts.config import pinned_template_uri
from contracts.environment import EnvironmentConfig, Gcp
from contracts.environment_parameters import environment_values
from infra import access
from infra.function_source import build_archive
from infra.parts.buckets import Buckets
from infra.parts.service_accounts import ServiceAccounts

MAX_DELIVERY_ATTEMPTS = 5
# The zips live here until the app synthesizes (cdktf copies assets into its output); one per process.
_SOURCES = tempfile.TemporaryDirectory(prefix="infra-function-source-")


def function_environment(config: EnvironmentConfig, gcp: Gcp) -> dict[str, str]:
    """The variables the function's Settings.from_env (settings.py) reads for the vertex backend.

    ENVIRONMENT_PARAMETERS is the environment's values for the one template, computed by the function every
    submitter uses (contracts.environment_parameters); the function adds the champion per message. It reads the
    current-template pointer in ARTIFACTS_URI per message, unless the environment pins a template (TEMPLATE_URI).
    """
    env = {
        "TRIGGER_BACKEND": "vertex",
        "PIPELINE_NAME": config.pipeline_name,
        "PROJECT": gcp.project,
        "REGION": gcp.region,
        # The naming rule's root, the one release/vertex.py gives runs submitted from CI.
        "PIPELINE_ROOT": gcp.pipeline_root(config.pipeline_name),
        "SERVICE_ACCOUNT": gcp.pipeline_service_account,
        "ENVIRONMENT_PARAMETERS": json.dumps(environment_values(config), sort_keys=True),
        # The environment's own artifacts bucket: its pointer (prod's names a template in dev's release store).
        "ARTIFACTS_URI": config.location("artifacts"),
        # Whose pointer there (templates/current/<pipeline>.json).
        "PIPELINE": config.dataset,
    }
    pinned = pinned_template_uri(config)
    if pinned:
        env["TEMPLATE_URI"] = pinned
    if gcp.network:
        env["NETWORK"] = gcp.network
    return env


class FunctionSource(Construct):
    """The function's source archive, uploaded once to the artifacts bucket under its sha256; every pipeline's
    function deploys it."""

    def __init__(self, scope: Construct, id_: str, config: EnvironmentConfig, buckets: Buckets) -> None:
        super().__init__(scope, id_)
        archive = build_archive(Path(_SOURCES.name) / config.name)
        asset = TerraformAsset(self, "source-asset", path=str(archive.path), type=AssetType.FILE)
        self.object = StorageBucketObject(
            self,
            "source",
            bucket=buckets.name("artifacts"),
            name=f"functions/trigger_pipeline/{archive.sha256}.zip",
            source=asset.path,
        )


class PipelineTrigger(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        config: EnvironmentConfig,
        gcp: Gcp,
        accounts: ServiceAccounts,
        source: FunctionSource,
        project_number: str,
    ) -> None:
        """`config`: the environment for one pipeline (config.for_pipeline)."""
        super().__init__(scope, id_)
        pipeline = config.selected
        self.topic = PubsubTopic(self, "topic", project=gcp.project, name=gcp.pipeline_resource(pipeline, "trigger"))
        dead_letter = gcp.pipeline_resource(pipeline, "trigger-dead-letter")
        self.dead_letter_topic = PubsubTopic(self, "dead-letter", project=gcp.project, name=dead_letter)
        self.dead_letter_subscription = PubsubSubscription(
            self,
            "dead-letter-subscription",
            project=gcp.project,
            name=dead_letter,
            topic=self.dead_letter_topic.id,
            ack_deadline_seconds=60,
            message_retention_duration="604800s",  # 7 days, the maximum: time to inspect and replay.
            expiration_policy={"ttl": ""},  # Never expires, even when nobody pulls for a month.
        )
        pubsub_agent = access.member(config, "pubsub-agent", project_number)

        self.function = Cloudfunctions2Function(
            self,
            "function",
            project=gcp.project,
            location=gcp.region,
            name=gcp.pipeline_resource(pipeline, "trigger"),
            description=f"Validates a TriggerMessage and submits one Vertex AI run of the {pipeline} pipeline",
            build_config={
                "runtime": "python312",
                "entry_point": "trigger_pipeline",
                "source": {"storage_source": {"bucket": source.object.bucket, "object": source.object.name}},
            },
            service_config={
                "available_memory": f"{gcp.trigger.memory_mib}Mi",
                "max_instance_count": gcp.trigger.max_instances,
                "timeout_seconds": gcp.trigger.timeout_seconds,
                # Only Eventarc (and other Google services in the project) can reach it.
                "ingress_settings": "ALLOW_INTERNAL_ONLY",
                "all_traffic_on_latest_revision": True,
                "service_account_email": accounts.email("trigger"),
                "environment_variables": function_environment(config, gcp),
            },
            event_trigger={
                "trigger_region": gcp.region,
                "event_type": "google.cloud.pubsub.topic.v1.messagePublished",
                "pubsub_topic": self.topic.id,
                "retry_policy": "RETRY_POLICY_RETRY",
                "service_account_email": accounts.email("trigger"),
            },
        )
        self.dead_letter_setup = (
            f"sub=$(gcloud eventarc triggers describe $(basename {self.function.event_trigger.trigger}) "
            f"--project={gcp.project} --location={gcp.region} --format='value(transport.pubsub.subscription)') && "
            f"gcloud pubsub subscriptions update $sub --dead-letter-topic={self.dead_letter_topic.id} "
            f"--max-delivery-attempts={MAX_DELIVERY_ATTEMPTS} && "
            f"gcloud pubsub subscriptions add-iam-policy-binding $sub --role=roles/pubsub.subscriber "
            f"--member={pubsub_agent}"
        )
