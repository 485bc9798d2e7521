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

from contracts.environment import EnvironmentConfig
from infra import access
from infra.parts.apis import Apis
from infra.parts.buckets import Buckets
from infra.parts.build_triggers import BuildTriggers
from infra.parts.datacheck_schedule import DataCheckSchedule
from infra.parts.iam import Iam, Targets
from infra.parts.model_registered import ModelRegistered
from infra.parts.monitoring import Monitoring
from infra.parts.registry import Registry, image_path
from infra.parts.scheduler import Schedules
from infra.parts.service_accounts import ServiceAccounts
from infra.parts.serving import Serving
from infra.parts.trigger import PipelineTrigger


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
        trigger = PipelineTrigger(self, "trigger", config, gcp, accounts, buckets, project.number)
        Schedules(self, "schedules", gcp, config.selected, config.schedules, accounts, trigger.topic)
        builds = BuildTriggers(self, "build-triggers", config, gcp, accounts, buckets)
        if config.data.schedule is not None:
            DataCheckSchedule(self, "datacheck", gcp, config.data.schedule, builds.triggers["datacheck"], accounts)
        registered = ModelRegistered(self, "model-registered", config, gcp, accounts, buckets)
        serving = Serving(self, "serving", config, gcp)
        Monitoring(self, "monitoring", gcp, gcp.name("trigger"), gcp.name("trigger-dead-letter"))
        targets = Targets(
            buckets={kind: bucket.name for kind, bucket in buckets.buckets.items()},
            repositories=registry.repositories if registry else {},
            topics={
                "trigger": trigger.topic,
                "trigger-dead-letter": trigger.dead_letter_topic,
                "model-registered": registered.topic,
            },
            function_service=trigger.function.service_config.service,
        )
        Iam(self, "iam", config, accounts, targets, project.number)
        _after_apis(self, apis.services)

        outputs: dict[str, str] = {f"bucket_{kind.replace('-', '_')}": buckets.name(kind) for kind in buckets.buckets}
        outputs |= {f"service_account_{key}": accounts.email(key) for key in access.accounts(config)}
        outputs |= {
            "trigger_topic": trigger.topic.name,
            "dead_letter_topic": trigger.dead_letter_topic.name,
            "model_registered_topic": registered.topic.name,
            "function": trigger.function.name,
            "image_path": image_path(config),
            "dead_letter_setup": trigger.dead_letter_setup,
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
