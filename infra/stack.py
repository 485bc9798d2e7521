"""EnvironmentStack: everything one environment needs on Google Cloud, composed from the constructs.

The stack is built from an already validated EnvironmentConfig (validate once at the edge, pass the object
inward) and only composes: every resource lives in a construct, every name comes from `gcp.name(kind)`.
"""

from __future__ import annotations

from cdktf import GcsBackend, TerraformOutput, TerraformResource, TerraformStack
from cdktf_cdktf_provider_google.data_google_project import DataGoogleProject
from cdktf_cdktf_provider_google.project_service import ProjectService
from cdktf_cdktf_provider_google.provider import GoogleProvider
from constructs import Construct

from ci.routing import ROUTES
from contracts.environment import EnvironmentConfig
from infra.parts.apis import Apis
from infra.parts.buckets import Buckets
from infra.parts.build_triggers import BuildTriggers
from infra.parts.datacheck_schedule import DataCheckSchedule
from infra.parts.dataflow_worker import DataflowWorker
from infra.parts.monitoring import Monitoring
from infra.parts.registry import Registry
from infra.parts.scheduler import Schedules
from infra.parts.service_accounts import ROLES, ServiceAccounts
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
        accounts = ServiceAccounts(self, "accounts", gcp)
        buckets = Buckets(self, "buckets", gcp, accounts)
        registry = Registry(self, "registry", gcp, accounts)
        dataflow = DataflowWorker(self, "dataflow", gcp, accounts, buckets, registry) if gcp.dataflow.enabled else None
        trigger = PipelineTrigger(self, "trigger", config, gcp, accounts, buckets, project.number)
        Schedules(self, "schedules", gcp, config.schedules, accounts, trigger.topic)
        # The datacheck trigger belongs to its schedule's part (it is exempt from approval), the others here.
        [datacheck] = [route for route in ROUTES if route.workflow == "datacheck"]
        BuildTriggers(
            self, "build-triggers", config, gcp, accounts, buckets, tuple(r for r in ROUTES if r != datacheck)
        )
        if config.data.schedule is not None:
            DataCheckSchedule(self, "datacheck", config, gcp, datacheck, config.data.schedule, accounts, buckets)
        serving = Serving(self, "serving", config, gcp, accounts, buckets)
        Monitoring(self, "monitoring", gcp, gcp.name("trigger"), gcp.name("trigger-dead-letter"))
        _after_apis(self, apis.services)

        outputs: dict[str, str] = {f"bucket_{kind.replace('-', '_')}": buckets.name(kind) for kind in buckets.buckets}
        outputs |= {f"service_account_{role}": accounts.email(role) for role in ROLES}
        if dataflow is not None:
            outputs["service_account_dataflow"] = dataflow.email
        outputs |= {
            "trigger_topic": trigger.topic.name,
            "dead_letter_topic": trigger.dead_letter_topic.name,
            "function": trigger.function.name,
            "image_path": registry.image_path(gcp),
            "dead_letter_setup": trigger.dead_letter_setup,
            "endpoint": gcp.endpoint,
            "endpoint_display_name": serving.endpoint.display_name,
            "service_account_serving": serving.email,
        }
        for name, value in outputs.items():
            TerraformOutput(self, name, value=value)


def _after_apis(stack: TerraformStack, services: list[ProjectService]) -> None:
    """On a new project every resource must wait for its API; depending on all of them is simple and cheap."""
    for node in stack.node.find_all():
        if isinstance(node, TerraformResource) and not isinstance(node, ProjectService):
            node.depends_on = [service.fqn for service in services]
