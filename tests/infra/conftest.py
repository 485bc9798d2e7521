"""Infra tests: they run in the infra environment (cdktf, jsii, Node.js), never in the TFX one.

`nox -s infra_tests` runs them. Elsewhere (e.g. `nox -s tests`, which has no cdktf) this folder is not
collected, rather than failing on an import. Stacks are synthesized once per session: jsii starts once.
"""

from __future__ import annotations

import importlib.util
import json
import re
from typing import Any

import pytest

if importlib.util.find_spec("cdktf") is None:
    collect_ignore_glob = ["test_*.py"]
else:
    from cdktf import Testing

    from contracts.config import EnvironmentConfig, load_environment
    from infra.stack import EnvironmentStack

    def synth_stack(config: EnvironmentConfig) -> dict[str, Any]:
        """The stack's Terraform JSON, parsed (cdktf's Testing.synth on a fresh test app)."""
        return json.loads(Testing.synth(EnvironmentStack(Testing.app(), config.name, config)))

    @pytest.fixture(scope="session")
    def configs() -> dict[str, EnvironmentConfig]:
        return {name: load_environment(name) for name in ("dev", "prod")}

    @pytest.fixture(scope="session")
    def stacks(configs: dict[str, EnvironmentConfig]) -> dict[str, dict[str, Any]]:
        return {name: synth_stack(config) for name, config in configs.items()}

    @pytest.fixture(scope="session")
    def synthesized(configs: dict[str, EnvironmentConfig]) -> dict[str, str]:
        """The raw JSON strings, for Testing.to_have_resource_with_properties."""
        return {
            name: Testing.synth(EnvironmentStack(Testing.app(), config.name, config))
            for name, config in configs.items()
        }


def resources(stack: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return list(stack["resource"].get(rtype, {}).values())


def has_resource(synthesized: str, rtype: str, properties: dict[str, Any]) -> bool:
    """cdktf's Testing.to_have_resource_with_properties (imported here: pytest would collect `Testing`)."""
    from cdktf import Testing as _Testing

    return bool(_Testing.to_have_resource_with_properties(synthesized, rtype, properties))


# Terraform references as cdktf synthesizes them: ${<type>.<name>.<attribute>} or ${data.<type>.<name>.<attribute>}.
_REFERENCE = re.compile(r"\$\{(data\.)?([a-z0-9_]+)\.([A-Za-z0-9_-]+)\.([a-z_0-9\[\].]+)\}")


def _referenced(stack: dict[str, Any], data: str | None, rtype: str, name: str, attribute: str) -> str:
    """The value a reference stands for, for the attributes IAM members and alert filters name (the project
    number as the access table's placeholder: Terraform knows it only at apply time)."""
    if data:
        assert (rtype, attribute) == ("google_project", "number"), (rtype, attribute)
        return "PROJECT_NUMBER"
    body = stack["resource"][rtype][name]
    if rtype == "google_service_account":
        email = f"{body['account_id']}@{body['project']}.iam.gserviceaccount.com"
        return {"email": email, "name": f"projects/{body['project']}/serviceAccounts/{email}"}[attribute]
    if rtype in ("google_storage_bucket", "google_pubsub_topic", "google_pubsub_subscription"):
        assert attribute == "name", attribute
        return str(body["name"])
    if rtype == "google_project_iam_custom_role":
        return f"projects/{body['project']}/roles/{body['role_id']}"
    if rtype == "google_artifact_registry_repository":
        return f"projects/{body['project']}/locations/{body['location']}/repositories/{body['repository_id']}"
    if rtype == "google_cloudfunctions2_function":
        assert attribute in ("name", "service_config[0].service"), attribute
        return str(body["name"])  # a 2nd-gen function's Cloud Run service has its name
    if rtype == "google_bigquery_dataset":
        assert attribute in ("project", "dataset_id"), attribute
        return str(body[attribute])
    if rtype == "google_monitoring_metric_descriptor":
        assert attribute == "type", attribute
        return str(body["type"])
    raise AssertionError(f"no resolver for ${{{rtype}.{name}.{attribute}}}")


def resolve(stack: dict[str, Any], text: str) -> str:
    return _REFERENCE.sub(lambda m: _referenced(stack, *m.groups()), text)


def synthesized_bindings(stack: dict[str, Any]) -> set[tuple[str, str, str, str, str | None]]:
    """Every IAM member resource of a synthesized stack as (member, resource type, resource, role, condition),
    in the access table's spelling (infra/access_model.py: Binding)."""
    found = set()
    for rtype, instances in stack["resource"].items():
        if not rtype.endswith("_iam_member"):
            continue
        for body in instances.values():
            get = {key: resolve(stack, value) for key, value in body.items() if isinstance(value, str)}
            condition = body.get("condition", {}).get("expression")
            if rtype == "google_project_iam_member":
                where = ("project", get["project"])
            elif rtype == "google_storage_bucket_iam_member":
                where = ("bucket", get["bucket"])
            elif rtype == "google_artifact_registry_repository_iam_member":
                repository = get["repository"]
                if not repository.startswith("projects/"):
                    repository = f"projects/{get['project']}/locations/{get['location']}/repositories/{repository}"
                where = ("repository", repository)
            elif rtype == "google_pubsub_topic_iam_member":
                where = ("topic", f"projects/{get['project']}/topics/{get['topic']}")
            elif rtype == "google_service_account_iam_member":
                where = ("service-account", get["service_account_id"])
            elif rtype == "google_cloud_run_v2_service_iam_member":
                where = ("run-service", f"projects/{get['project']}/locations/{get['location']}/services/{get['name']}")
            elif rtype == "google_bigquery_dataset_iam_member":
                where = ("bigquery-dataset", f"projects/{get['project']}/datasets/{get['dataset_id']}")
            else:
                raise AssertionError(f"an IAM resource type the access table does not know: {rtype}")
            found.add((get["member"], *where, get["role"], condition))
    return found
