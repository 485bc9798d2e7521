"""PipelineTrigger: topic, dead-letter topic and subscription, the function, its source, its grants."""

from __future__ import annotations

import re
import zipfile

import pytest

from contracts.environment import REPO_ROOT
from infra.function_source import build_archive
from infra.parts.trigger import function_environment
from tests.infra.conftest import has_resource, resources, synth_stack

SHA = "a" * 64


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_function_runs_the_trigger_code_internally_with_its_own_account(synthesized, env):
    assert has_resource(
        synthesized[env],
        "google_cloudfunctions2_function",
        {
            "name": f"penguins-{env}-trigger",
            "location": "europe-west4",
            "build_config": {"runtime": "python312", "entry_point": "trigger_pipeline"},
            "service_config": {
                "ingress_settings": "ALLOW_INTERNAL_ONLY",
                "available_memory": "512Mi",
                "max_instance_count": 3,
                "timeout_seconds": 120,
            },
            "event_trigger": {
                "event_type": "google.cloud.pubsub.topic.v1.messagePublished",
                "retry_policy": "RETRY_POLICY_RETRY",
                "trigger_region": "europe-west4",
            },
        },
    )


def test_function_and_trigger_identity_is_the_trigger_account(stacks):
    (function,) = resources(stacks["dev"], "google_cloudfunctions2_function")
    assert "accounts_trigger" in function["service_config"]["service_account_email"]
    assert "accounts_trigger" in function["event_trigger"]["service_account_email"]
    assert "trigger_topic" in function["event_trigger"]["pubsub_topic"]
    (invoker,) = resources(stacks["dev"], "google_cloud_run_v2_service_iam_member")
    assert invoker["role"] == "roles/run.invoker" and "accounts_trigger" in invoker["member"]


def test_environment_is_what_settings_from_env_needs(configs):
    config = configs["prod"]
    env = function_environment(config, config.gcp)
    assert env == {
        "TRIGGER_BACKEND": "vertex",
        "PIPELINE_NAME": "penguins-prod",
        "PROJECT": "my-prod-project",
        "REGION": "europe-west4",
        "PIPELINE_ROOT": "gs://penguins-prod-pipeline-root/penguins-prod",
        "SERVICE_ACCOUNT": "penguins-prod-pipeline@my-prod-project.iam.gserviceaccount.com",
    }
    # Every variable Settings.from_env requires for the vertex backend (main.py, `require(...)`) is set once a
    # template is published; main.py imports functions_framework, which this environment does not have.
    source = (REPO_ROOT / "cloudfunctions" / "trigger_pipeline" / "main.py").read_text()
    (required,) = re.findall(r'require\(("TEMPLATE_URI".*?)\)', source)
    pinned = config.model_copy(update={"gcp": config.gcp.model_copy(update={"trigger": _trigger(config, SHA)})})
    env = function_environment(pinned, pinned.gcp)
    assert {name.strip(' "') for name in required.split(",")} <= set(env)
    assert env["TEMPLATE_URI"] == f"gs://penguins-prod-artifacts/templates/{SHA}/pipeline.json"


def _trigger(config, sha):
    return config.gcp.trigger.model_copy(update={"template_sha256": sha})


def test_pinned_template_reaches_the_function(configs):
    config = configs["dev"]
    pinned = config.model_copy(update={"gcp": config.gcp.model_copy(update={"trigger": _trigger(config, SHA)})})
    (function,) = resources(synth_stack(pinned), "google_cloudfunctions2_function")
    assert function["service_config"]["environment_variables"]["TEMPLATE_URI"].endswith(f"/{SHA}/pipeline.json")


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_dead_lettering_resources(synthesized, stacks, env):
    name = f"penguins-{env}-trigger-dead-letter"
    assert has_resource(synthesized[env], "google_pubsub_topic", {"name": f"penguins-{env}-trigger"})
    assert has_resource(synthesized[env], "google_pubsub_topic", {"name": name})
    assert has_resource(
        synthesized[env],
        "google_pubsub_subscription",
        {"name": name, "message_retention_duration": "604800s", "expiration_policy": {"ttl": ""}},
    )
    agent = [g for g in resources(stacks[env], "google_pubsub_topic_iam_member") if "gcp-sa-pubsub" in g["member"]]
    assert len(agent) == 1 and agent[0]["role"] == "roles/pubsub.publisher"
    assert "dead-letter" in agent[0]["topic"]
    assert agent[0]["member"].startswith("serviceAccount:service-${data.google_project.project.number}@")
    setup = stacks[env]["output"]["dead_letter_setup"]["value"]
    assert "--dead-letter-topic=" in setup and "--max-delivery-attempts=5" in setup


def test_source_object_is_named_by_content_hash(stacks, tmp_path):
    (obj,) = resources(stacks["dev"], "google_storage_bucket_object")
    archive = build_archive(tmp_path)
    assert obj["name"] == f"functions/trigger_pipeline/{archive.sha256}.zip"
    assert "buckets_artifacts" in obj["bucket"]


def test_source_archive_is_deterministic_and_deployable(tmp_path):
    first, second = build_archive(tmp_path / "a"), build_archive(tmp_path / "b")
    assert first.sha256 == second.sha256
    names = zipfile.ZipFile(first.path).namelist()
    assert names == sorted(names)
    assert {"main.py", "trigger_message.py", "requirements.txt"} <= set(names)
    assert not any("__pycache__" in n or n.endswith((".md", ".in")) for n in names)
