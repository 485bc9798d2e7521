"""EnvironmentStack: everything one environment needs on Google Cloud, composed from the constructs.

The stack is built from an already validated EnvironmentConfig (validate once at the edge, pass the object
inward) and only composes: every resource lives in a construct, every name comes from `gcp.name(kind)`, and
every grant comes from the access table (infra/access.py), made by the Iam part once the resources exist.
"""

from __future__ import annotations

from cdktf import GcsBackend, TerraformOutput, TerraformResource, TerraformStack
from cdktf_cdktf_provider_google.data_google_project import DataGoogleProject
from cdktf_cdktf_provider_google.project_service import ProjectService
from cdktf_cdktf_provider_google.provider import GoogleProvider
from constructs import Construct

from ci.routing import trigger_kind
from contracts.environment import EnvironmentConfig
from infra import access
from infra.parts.apis import Apis
from infra.parts.buckets import Buckets
from infra.parts.build_triggers import BuildTriggers
from infra.parts.datacheck_schedule import SCHEDULED, ScheduledBuild
from infra.parts.iam import Iam, Targets, binding_id
from infra.parts.model_registered import ModelRegistered
from infra.parts.monitoring import Monitoring
from infra.parts.prediction_log import PredictionLog
from infra.parts.registry import Registry, image_path
from infra.parts.scheduler import Schedules
from infra.parts.service_accounts import ServiceAccounts
from infra.parts.serving import Serving
from infra.parts.trigger import FunctionSource, PipelineTrigger


class EnvironmentStack(TerraformStack):
    def __init__(self, scope: Construct, id_: str, config: EnvironmentConfig) -> None:
        super().__init__(scope, id_)
        if config.gcp is None:
            raise ValueError(f"environment {config.name!r} has no gcp section: nothing to deploy")
        gcp = config.gcp
        GcsBackend(self, bucket=gcp.terraform_state_bucket, prefix=f"{gcp.name_prefix}/terraform")
        GoogleProvider(
            self,
            "google",
            project=gcp.project,
            region=gcp.region,
            default_labels={"environment": config.name, "managed-by": "cdktf"},
        )
        project = DataGoogleProject(self, "project", project_id=gcp.project)

        apis = Apis(self, "apis", gcp)
        accounts = ServiceAccounts(self, "accounts", config, gcp)
        buckets = Buckets(self, "buckets", gcp)
        # An environment that runs another's releases (prod) builds no image: it uses the release store's.
        registry = Registry(self, "registry", gcp) if gcp.releases_from is None else None
        builds = BuildTriggers(self, "build-triggers", config, gcp, accounts, buckets)
        source = FunctionSource(self, "function-source", config, buckets)
        # What each pipeline has of its own (the per-pipeline naming rule, <prefix>-<pipeline>-<kind>): its trigger
        # topic and function, its Scheduler jobs, its scheduled data check and monitor, its announcements and
        # auto-promotion.
        triggers: dict[str, PipelineTrigger] = {}
        registered: dict[str, ModelRegistered] = {}
        for each in config.each_pipeline():
            pipeline = each.selected
            triggers[pipeline] = PipelineTrigger(
                self, f"trigger-{pipeline}", each, gcp, accounts, source, project.number
            )
            Schedules(self, f"schedules-{pipeline}", gcp, pipeline, each.schedules, accounts, triggers[pipeline].topic)
            for workflow, schedule_of in SCHEDULED.items():
                schedule = schedule_of(each)
                if schedule is not None:
                    trigger = builds.triggers[trigger_kind(workflow, pipeline)]
                    ScheduledBuild(self, f"{workflow}-{pipeline}", gcp, pipeline, workflow, schedule, trigger, accounts)
            registered[pipeline] = ModelRegistered(self, f"model-registered-{pipeline}", each, gcp, accounts, buckets)
        # The request logs' dataset, in which each pipeline's endpoint creates and writes its table and the monitor
        # reads it.
        log = PredictionLog(self, "prediction-log", config, gcp)
        serving = Serving(self, "serving", config, gcp, log)
        Monitoring(
            self,
            "monitoring",
            config,
            gcp,
            {p: (t.function.name, t.dead_letter_subscription.name) for p, t in triggers.items()},
        )
        # Keyed by the naming rule's kind, as the access table's resources name them (Resource.kind_for): each
        # pipeline's own, and the topics whose messages start a pubsub route's build (the canary-verdict topics).
        topics = dict(builds.topics)
        for pipeline, trigger in triggers.items():
            topics[access.TRIGGER_TOPIC.kind_for(pipeline)] = trigger.topic
            topics[access.DEAD_LETTER_TOPIC.kind_for(pipeline)] = trigger.dead_letter_topic
            topics[access.MODEL_REGISTERED.kind_for(pipeline)] = registered[pipeline].topic
        targets = Targets(
            buckets={kind: bucket.name for kind, bucket in buckets.buckets.items()},
            repositories=registry.repositories if registry else {},
            topics=topics,
            function_services={
                access.FUNCTION.kind_for(p): t.function.service_config.service for p, t in triggers.items()
            },
            datasets={access.PREDICTION_LOG.name: log.dataset},
        )
        iam = Iam(self, "iam", config, accounts, targets, project.number)
        _after_apis(self, apis.services)
        # An endpoint that logs waits for the Vertex AI service agent's grant on the dataset, not only for the
        # dataset: Vertex AI creates the pipeline's table in it.
        writers = [
            iam.members[binding_id(b)]
            for b in access.bindings(config, project.number)
            if b.grant.on == access.PREDICTION_LOG and b.grant.account == "vertex-agent"
        ]
        for pipeline in serving.logging:
            endpoint = serving.endpoints[pipeline]
            endpoint.depends_on = [*(endpoint.depends_on or []), *(writer.fqn for writer in writers)]

        outputs: dict[str, str] = {f"bucket_{kind.replace('-', '_')}": buckets.name(kind) for kind in buckets.buckets}
        outputs |= {f"service_account_{key}": accounts.email(key) for key in access.accounts(config)}
        outputs |= {"image_path": image_path(config)}
        verdicts = builds.topics
        for pipeline, trigger in triggers.items():
            outputs |= {
                f"trigger_topic_{pipeline}": trigger.topic.name,
                f"dead_letter_topic_{pipeline}": trigger.dead_letter_topic.name,
                f"model_registered_topic_{pipeline}": registered[pipeline].topic.name,
                f"canary_verdict_topic_{pipeline}": verdicts[access.CANARY_VERDICT_TOPIC.kind_for(pipeline)].name,
                f"function_{pipeline}": trigger.function.name,
                f"dead_letter_setup_{pipeline}": trigger.dead_letter_setup,
            }
        for pipeline, endpoint in serving.endpoints.items():
            outputs |= {
                f"endpoint_{pipeline}": gcp.endpoint(pipeline),
                f"endpoint_display_name_{pipeline}": endpoint.display_name,
            }
        for name, value in outputs.items():
            TerraformOutput(self, name, value=value)


def _after_apis(stack: TerraformStack, services: list[ProjectService]) -> None:
    """On a new project every resource must wait for its API; depending on all of them is simple and cheap."""
    for node in stack.node.find_all():
        if isinstance(node, TerraformResource) and not isinstance(node, ProjectService):
            node.depends_on = [service.fqn for service in services]
