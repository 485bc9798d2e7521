"""The stand-in as `cdktf deploy` would leave it: every stack's resources created in its state.

Buckets (versioning, lifecycle rules), the objects the stacks upload (the function's source zip), service
accounts (identities on the metadata server), the allow policy, Vertex AI endpoints (with their request-response
logging), Cloud Build triggers, Pub/Sub topics with their subscribers (functions through Eventarc, Pub/Sub-triggered
builds), BigQuery datasets and tables, Cloud Monitoring metric descriptors and alert policies. The state bucket that
infra/README.md says to create by hand before the first deploy is created too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from rehearsal.standin import request_logging
from rehearsal.standin.bigquery import BigQuery, Dataset, Table
from rehearsal.standin.cloudbuild import CloudBuild, ConfigReader, Trigger
from rehearsal.standin.grpc_tunnel import GrpcTunnel
from rehearsal.standin.iam import Grant, Policy, policy_of
from rehearsal.standin.metadata import Identities
from rehearsal.standin.monitoring import Monitoring, alert_policy_of, descriptor_of
from rehearsal.standin.pubsub import FunctionSubscriber, PubSub
from rehearsal.standin.resourcemanager import ResourceManager
from rehearsal.standin.server import Server
from rehearsal.standin.storage import Bucket, Clock, Storage
from rehearsal.standin.tls import Authority
from rehearsal.standin.vertex import Endpoint, Vertex
from rehearsal.terraform import Stack, project_number

NO_PROXY = "127.0.0.1,localhost,pypi.org,files.pythonhosted.org"


class StandIn:
    def __init__(self, stacks: dict[str, Stack], read_config: ConfigReader, extra_grants: list[Grant]) -> None:
        self.stacks = stacks
        self.identities = Identities()
        self.policy: Policy = policy_of(stacks.values(), extra_grants)
        self.server = Server(self.policy, self.identities.member_of_token)
        self.server.metadata = self.identities.handle
        self.clock = Clock()
        self.numbers = {stack.project: _number(stack) for stack in stacks.values()}
        self.storage = Storage(self.clock, self.numbers)
        self.vertex = Vertex(self.storage, self.numbers)
        self.cloudbuild = CloudBuild(self.numbers, read_config)
        self.pubsub = PubSub(self.policy, self.server.log, self.identities.token_for)
        self.pubsub.build_trigger = self._pubsub_builds
        self.bigquery = BigQuery(self.numbers)
        self.monitoring = Monitoring(self.numbers)
        self.function_urls: dict[str, str] = {}
        self.authority: Authority | None = None
        self.server.register("storage.googleapis.com", "storage.v1", self.storage.handle)
        self.server.register("aiplatform.googleapis.com", "aiplatform.v1", self.vertex.handle)
        self.server.register("cloudbuild.googleapis.com", "cloudbuild.v1", self.cloudbuild.handle)
        self.server.register("pubsub.googleapis.com", "pubsub.v1", self.pubsub.handle)
        self.server.register("bigquery.googleapis.com", "bigquery.v2", self.bigquery.handle)
        self.server.register("monitoring.googleapis.com", "monitoring.v3", self.monitoring.handle)
        self.server.register(
            "cloudresourcemanager.googleapis.com", "cloudresourcemanager.v3", ResourceManager(self.numbers).handle
        )
        # Answered past the seam too, on the record: the Vertex SDK's own project lookup, and Cloud Storage as
        # TensorFlow's GCS filesystem calls it (code that must use the seam is failed for it by the flows).
        self.server.past_seam_served |= {
            "cloudresourcemanager.googleapis.com",
            "www.googleapis.com",
            "storage.googleapis.com",
        }

    def trust(self, folder: Path) -> None:
        """Answer HTTPS calls made past the seam through the proxy tunnel, as their host (tls.py)."""
        self.authority = Authority(folder)
        self.server.authority = self.authority
        self.server.grpc = GrpcTunnel(self.policy, self.server.log, self.identities.member_of_token, self.numbers)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    # --- deploy ------------------------------------------------------------------------------------------------

    def deploy(self, stack: Stack) -> list[str]:
        """Create `stack`'s resources; returns what was created, one line each (the bootstrap's first step)."""
        created: list[str] = []
        state_bucket = stack.document.get("terraform", {}).get("backend", {}).get("gcs", {}).get("bucket")
        if state_bucket and state_bucket not in self.storage.buckets:
            self.storage.buckets[state_bucket] = Bucket(state_bucket, stack.project, versioning=True, source="by hand")
            created.append(f"bucket {state_bucket} (the Terraform state, created by hand first)")
        for r in stack.resources("google_service_account"):
            self.identities.add(f"serviceAccount:{stack.value(r, 'email')}", stack.project)
        for r in stack.resources("google_storage_bucket"):
            body = stack.resolved(r)
            bucket = Bucket(
                body["name"],
                str(body.get("project") or stack.project),
                versioning=bool((body.get("versioning") or {}).get("enabled")),
                lifecycle=_rules(body.get("lifecycle_rule")),
                source=r.label,
            )
            self.storage.buckets[bucket.name] = bucket
            created.append(f"bucket {bucket.name}")
        for r in stack.resources("google_storage_bucket_object"):
            body = stack.resolved(r)
            source = stack_folder(stack) / body["source"] if body.get("source") else None
            data = source.read_bytes() if source else str(body.get("content", "")).encode()
            self.storage.put(body["bucket"], body["name"], data, body.get("content_type") or "application/octet-stream")
            created.append(f"object gs://{body['bucket']}/{body['name']}")
        for r in stack.resources("google_bigquery_dataset"):
            body = stack.resolved(r)
            project = str(body.get("project") or stack.project)
            dataset = Dataset(project, str(body["dataset_id"]), str(body.get("location") or "US"), r.label)
            self.bigquery.datasets[(project, dataset.dataset_id)] = dataset
            created.append(f"dataset {project}.{dataset.dataset_id}")
        for r in stack.resources("google_bigquery_table"):
            body = stack.resolved(r)
            project = str(body.get("project") or stack.project)
            holder = self.bigquery.datasets[(project, str(body["dataset_id"]))]
            schema = (
                json.loads(body["schema"]) if isinstance(body.get("schema"), str) else list(body.get("schema") or [])
            )
            holder.tables[str(body["table_id"])] = Table(
                project, holder.dataset_id, str(body["table_id"]), schema, r.label
            )
            created.append(f"table {project}.{holder.dataset_id}.{body['table_id']}")
        for r in stack.resources("google_vertex_ai_endpoint"):
            body = stack.resolved(r)
            location = str(body.get("location") or body.get("region") or stack.region)
            key = (str(body.get("project") or stack.project), location, str(body["name"]))
            self.vertex.endpoints[key] = Endpoint(
                *key,
                str(body.get("display_name", "")),
                source=r.label,
                logging=request_logging.logging_of(body.get("predict_request_response_logging_config")),
            )
            created.append(f"endpoint {body['name']} ({body.get('display_name')})")
        for r in stack.resources("google_monitoring_metric_descriptor"):
            body = stack.resolved(r)
            project = str(body.get("project") or stack.project)
            descriptor = descriptor_of(body, r.label)
            self.monitoring.descriptors[(project, descriptor.type)] = descriptor
            created.append(f"metric {descriptor.type}")
        for r in stack.resources("google_monitoring_alert_policy"):
            body = stack.resolved(r)
            policy = alert_policy_of(body, str(body.get("project") or stack.project), r.label)
            self.monitoring.policies.append(policy)
            created.append(f"alert policy {policy.display_name}")
        for r in stack.resources("google_cloudbuild_trigger"):
            trigger = _trigger(stack, r)
            self.cloudbuild.triggers.append(trigger)
            created.append(f"trigger {trigger.name} ({trigger.config}, as {trigger.service_account})")
        for r in stack.resources("google_pubsub_topic"):
            self.pubsub.topics[str(stack.value(r, "id"))] = r.label
            created.append(f"topic {stack.value(r, 'name')}")
        for r in stack.resources("google_cloudfunctions2_function"):
            self._function(stack, r)
            created.append(f"function {stack.value(r, 'name')}")
        return created

    def _function(self, stack: Stack, resource: Any) -> None:
        name = str(stack.value(resource, "name"))
        event = stack.value(resource, "event_trigger")
        if not event or not event.get("pubsub_topic"):
            return
        self.pubsub.functions.append(
            FunctionSubscriber(
                topic=str(event["pubsub_topic"]),
                function=name,
                service=str(stack.value(resource, "service_config[0].service")),
                trigger_account=str(event.get("service_account_email")),
                url=lambda: self.function_urls.get(name),
            )
        )

    def _pubsub_builds(self, topic: str, body: dict[str, Any]) -> list[str]:
        started = []
        for trigger in self.cloudbuild.triggers:
            if trigger.pubsub_topic == topic:
                started.append(self.cloudbuild.start(trigger, {}, started_by="pubsub", message=body).id)
        return started

    # --- serving ------------------------------------------------------------------------------------------------

    def serve(
        self, endpoint: Endpoint, requests: list[request_logging.Request], seed: int = 0
    ) -> request_logging.Served:
        """Requests answered by the endpoint's deployed models by its traffic split, and logged to BigQuery as
        its request-response logging says (rehearsal/standin/request_logging.py)."""
        name = (
            f"projects/{self.numbers[endpoint.project]}/locations/{endpoint.location}/endpoints/{endpoint.endpoint_id}"
        )
        with self.vertex._lock:
            split = dict(endpoint.traffic)
        return request_logging.serve(
            self.bigquery,
            self.policy,
            self.server.log,
            name,
            split,
            endpoint.logging,
            self.numbers[endpoint.project],
            requests,
            seed,
        )

    # --- identities for the processes the driver starts -------------------------------------------------------

    def environment(self, email: str) -> dict[str, str]:
        """What a process running as `email` gets: its metadata server and the Google API base URL (D1)."""
        if self.identities.get(email) is None:
            raise KeyError(f"{email} is not an identity of the stacks (nor the declared operator)")
        host = f"127.0.0.1:{self.server.port}/identity/{email}"
        proxy = f"http://{quote(email, safe='')}:rehearsal@127.0.0.1:{self.server.port}"
        return {
            # A call past the seam is refused at once, and recorded with who made it (server._bypass).
            "HTTPS_PROXY": proxy,
            "https_proxy": proxy,
            "HTTP_PROXY": proxy,
            "http_proxy": proxy,
            # Package registries stay reachable, as from a Cloud Build worker (`ci/nox` installs its tools).
            "NO_PROXY": NO_PROXY,
            "no_proxy": NO_PROXY,
            **(self.authority.environment() if self.authority else {}),
            "GCE_METADATA_HOST": host,
            "GCE_METADATA_IP": host,
            "GOOGLE_APIS_BASE_URL": self.base_url,
            # google-cloud-storage's own override: the Vertex SDK builds storage clients of its own.
            "API_ENDPOINT_OVERRIDE": f"{self.base_url}/storage.googleapis.com",
        }


def stack_folder(stack: Stack) -> Path:
    return stack.folder


def _number(stack: Stack) -> str:
    for r in stack.document.get("data", {}).get("google_project", {}):
        return str(stack.value(stack.resource(f"data.google_project.{r}"), "number"))
    return project_number(stack.project)


def _rules(rules: Any) -> list[dict[str, Any]]:
    if not rules:
        return []
    return list(rules) if isinstance(rules, list) else [rules]


def _trigger(stack: Stack, resource: Any) -> Trigger:
    body = stack.resolved(resource)
    account = str(body.get("service_account") or "")
    email = account.rsplit("/", 1)[-1] if account else f"{_number(stack)}@cloudbuild.gserviceaccount.com"
    config = body.get("filename") or (body.get("git_file_source") or {}).get("path") or ""
    pubsub = body.get("pubsub_config") or {}
    return Trigger(
        stack=stack.name,
        source=resource.label,
        project=str(body.get("project") or stack.project),
        location=str(body.get("location") or "global"),
        id=str(stack.value(resource, "trigger_id")),
        name=str(body["name"]),
        config=str(config),
        service_account=email,
        substitutions={k: str(v) for k, v in (body.get("substitutions") or {}).items()},
        approval_required=bool((body.get("approval_config") or {}).get("approval_required")),
        pubsub_topic=str(pubsub["topic"]) if pubsub.get("topic") else None,
        description=str(body.get("description", "")),
    )
