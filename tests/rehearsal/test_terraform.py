"""The stack reader resolves references, computed attributes and functions the way Terraform would."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from rehearsal.terraform import Stack, TerraformError

DOCUMENT = {
    "provider": {"google": [{"project": "p", "region": "europe-west4"}]},
    "resource": {
        "google_service_account": {"ci": {"account_id": "x-ci", "project": "p"}},
        "google_cloudbuild_trigger": {"check": {"name": "x-check", "location": "europe-west4"}},
        "google_cloud_scheduler_job": {
            "job": {
                "http_target": {
                    "body": "${base64encode(jsonencode("
                    '{"projectId" = "p", "triggerId" = google_cloudbuild_trigger.check.trigger_id}))}',
                    "uri": "https://cloudbuild.googleapis.com/v1/${google_cloudbuild_trigger.check.id}:run",
                    "oauth_token": {"service_account_email": "${google_service_account.ci.email}"},
                }
            }
        },
        "google_storage_bucket_iam_member": {
            "m": {
                "member": "serviceAccount:${google_service_account.ci.email}",
                "bucket": "b",
                "role": "roles/${google_service_account.ci.nope}",
            }
        },
    },
}


def _stack(tmp_path: Path) -> Stack:
    path = tmp_path / "dev" / "cdk.tf.json"
    path.parent.mkdir()
    path.write_text(json.dumps(DOCUMENT))
    return Stack.load(path)


def test_references_computed_attributes_and_functions(tmp_path: Path) -> None:
    stack = _stack(tmp_path)
    [job] = stack.resources("google_cloud_scheduler_job")
    target = stack.value(job, "http_target")
    trigger_id = stack.value(stack.resource("google_cloudbuild_trigger.check"), "trigger_id")
    assert json.loads(base64.b64decode(target["body"])) == {"projectId": "p", "triggerId": trigger_id}
    assert (
        target["uri"]
        == f"https://cloudbuild.googleapis.com/v1/projects/p/locations/europe-west4/triggers/{trigger_id}:run"
    )
    assert target["oauth_token"]["service_account_email"] == "x-ci@p.iam.gserviceaccount.com"


def test_an_attribute_nobody_models_is_named(tmp_path: Path) -> None:
    stack = _stack(tmp_path)
    [member] = stack.resources("google_storage_bucket_iam_member")
    with pytest.raises(TerraformError, match=r"google_service_account\.ci\.nope"):
        stack.value(member, "role")
