"""The custom offline checks: they pass on the real stacks and catch each problem on hand-made JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra import checks

GOOD_TRIGGER = {"service_account": "projects/p/serviceAccounts/ci@p.iam.gserviceaccount.com"}


def write_stack(root: Path, stack: str, doc: dict) -> Path:
    path = root / "stacks" / stack / "cdk.tf.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(doc))
    return path


def test_real_stacks_pass(stacks, tmp_path, capsys):
    for env, doc in stacks.items():
        write_stack(tmp_path, env, doc)
    assert checks.main([str(tmp_path)]) == 0
    assert "2 stacks (dev, prod)" in capsys.readouterr().out


@pytest.mark.parametrize("role", ["roles/owner", "roles/editor", "roles/viewer"])
@pytest.mark.parametrize("rtype", ["google_project_iam_member", "google_storage_bucket_iam_binding"])
def test_primitive_role_is_caught(tmp_path, capsys, role, rtype):
    path = write_stack(tmp_path, "dev", {"resource": {rtype: {"oops": {"role": role, "member": "user:a@b.c"}}}})
    assert checks.main([str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{path}: {rtype}.oops: grants the primitive role {role}" in err


def test_primitive_role_in_a_policy_document_is_caught(tmp_path, capsys):
    doc = {"data": {"google_iam_policy": {"p": {"binding": [{"role": "roles/editor", "members": ["user:a@b.c"]}]}}}}
    write_stack(tmp_path, "dev", doc)
    assert checks.main([str(tmp_path)]) == 1
    assert "data.google_iam_policy.p: grants the primitive role roles/editor" in capsys.readouterr().err


def test_trigger_without_service_account_is_caught(tmp_path, capsys):
    write_stack(tmp_path, "dev", {"resource": {"google_cloudbuild_trigger": {"t": {"filename": "x.yaml"}}}})
    assert checks.main([str(tmp_path)]) == 1
    assert "google_cloudbuild_trigger.t: no service_account" in capsys.readouterr().err


@pytest.mark.parametrize("approval", [None, {"approval_required": False}, [{"approval_required": False}]])
def test_prod_trigger_without_approval_is_caught(tmp_path, capsys, approval):
    trigger = {**GOOD_TRIGGER, **({"approval_config": approval} if approval is not None else {})}
    write_stack(tmp_path, "prod", {"resource": {"google_cloudbuild_trigger": {"t": trigger}}})
    assert checks.main([str(tmp_path)]) == 1
    assert "google_cloudbuild_trigger.t: a prod trigger must set approval_config" in capsys.readouterr().err


def test_dev_trigger_may_skip_approval(tmp_path):
    write_stack(tmp_path, "dev", {"resource": {"google_cloudbuild_trigger": {"t": GOOD_TRIGGER}}})
    assert checks.main([str(tmp_path)]) == 0


def test_nothing_to_check_is_an_error(tmp_path, capsys):
    assert checks.main([str(tmp_path)]) == 2
    assert "no cdk.tf.json" in capsys.readouterr().err


def test_only_the_scheduled_data_check_may_skip_approval_in_prod(tmp_path, capsys):
    datacheck = {**GOOD_TRIGGER, "git_file_source": {"path": "ci/cloudbuild/datacheck.yaml"}}
    promote = {**GOOD_TRIGGER, "git_file_source": {"path": "ci/cloudbuild/promote.yaml"}}
    triggers = {"datacheck": datacheck, "promote": promote}
    write_stack(tmp_path, "prod", {"resource": {"google_cloudbuild_trigger": triggers}})
    assert checks.main([str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "google_cloudbuild_trigger.promote: a prod trigger must set" in err and ".datacheck:" not in err


def test_the_routes_that_say_why_are_the_only_prod_triggers_without_approval(tmp_path, capsys):
    """The scheduled data check and monitor, manual (ci/routing.py: approval_exempt); promote, which starts a
    canary or moves the champion, stays gated. The canary build is exempt only as the Pub/Sub-triggered build it
    is (below): a manual trigger of its config waits for an approver like any other."""
    manual, pubsub = checks.APPROVAL_EXEMPT_CONFIGS, checks.APPROVAL_EXEMPT_PUBSUB
    assert manual == {"ci/cloudbuild/datacheck.yaml", "ci/cloudbuild/monitor.yaml"}
    assert pubsub == {("ci/cloudbuild/canary.yaml", "canary-verdict")}
    exempt = {
        name: {**GOOD_TRIGGER, "git_file_source": {"path": f"ci/cloudbuild/{name}.yaml"}}
        for name in ("datacheck", "monitor", "canary", "promote")
    }
    write_stack(tmp_path, "prod", {"resource": {"google_cloudbuild_trigger": exempt}})
    assert checks.main([str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "google_cloudbuild_trigger.promote: a prod trigger must set" in err
    assert "google_cloudbuild_trigger.canary: a prod trigger must set" in err
    assert not [name for name in ("datacheck", "monitor") if f".{name}:" in err]


AUTOPROMOTE = {
    **GOOD_TRIGGER,
    "pubsub_config": {"topic": "projects/p/topics/penguins-dev-model-registered"},
    "git_file_source": {"path": "ci/cloudbuild/promote.yaml"},
    "approval_config": {"approval_required": False},
}


def test_a_pubsub_triggered_build_may_skip_approval_where_nothing_is_gated(tmp_path):
    write_stack(tmp_path, "dev", {"resource": {"google_cloudbuild_trigger": {"autopromote": AUTOPROMOTE}}})
    assert checks.main([str(tmp_path)]) == 0


@pytest.mark.parametrize(
    ("stack", "neighbours"),
    [("prod", {}), ("dev", {"promote": {**GOOD_TRIGGER, "approval_config": {"approval_required": True}}})],
)
def test_a_pubsub_triggered_build_in_an_approval_gated_stack_is_caught(tmp_path, capsys, stack, neighbours):
    triggers = {"autopromote": AUTOPROMOTE, **neighbours}
    write_stack(tmp_path, stack, {"resource": {"google_cloudbuild_trigger": triggers}})
    assert checks.main([str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "google_cloudbuild_trigger.autopromote: a Pub/Sub-triggered build starts unapproved" in err
    assert ".promote:" not in err


def _canary(topic: str, config: str = "ci/cloudbuild/canary.yaml") -> dict:
    return {
        **GOOD_TRIGGER,
        "pubsub_config": {"topic": topic},
        "git_file_source": {"path": config},
        "approval_config": {"approval_required": False},
    }


# The canary trigger as the stack synthesizes it: a reference to its pipeline's canary-verdict topic.
VERDICTS = "${google_pubsub_topic.build-triggers_canary-verdict-penguins_D6D6C00C.id}"
CANARY_TOPICS = {
    "build-triggers_canary-verdict-penguins_D6D6C00C": {"name": "penguins-prod-penguins-canary-verdict"},
    "model-registered-penguins_topic_995890CA": {"name": "penguins-prod-penguins-model-registered"},
}


@pytest.mark.parametrize(
    "topic",
    [
        VERDICTS,
        "projects/p/topics/penguins-prod-penguins-canary-verdict",
    ],
)
def test_the_canary_build_on_its_verdict_topic_is_the_one_pubsub_build_prod_may_run_unapproved(tmp_path, capsys, topic):
    """Its route says why (ci/routing.py: approval_exempt): it only applies the verdict the monitor recorded."""
    doc = {
        "resource": {
            "google_pubsub_topic": CANARY_TOPICS,
            "google_cloudbuild_trigger": {
                "canary": _canary(topic),
                "promote": {**GOOD_TRIGGER, "approval_config": {"approval_required": True}},
            },
        }
    }
    write_stack(tmp_path, "prod", doc)
    assert checks.main([str(tmp_path)]) == 0, capsys.readouterr().err


@pytest.mark.parametrize(
    ("trigger", "why"),
    [
        # Auto-promotion in prod: promote.yaml on the announcements.
        (AUTOPROMOTE, "not the canary's config or topic"),
        # The canary's config on another topic (the announcements: anyone who may announce could end a canary).
        (_canary("${google_pubsub_topic.model-registered-penguins_topic_995890CA.id}"), "another topic"),
        (_canary("projects/p/topics/penguins-prod-penguins-model-registered"), "another topic, by name"),
        # The verdict topic starting any other config (promote, with whatever the message says).
        (
            _canary(VERDICTS, "ci/cloudbuild/promote.yaml"),
            "another config",
        ),
        # A topic the stack does not have: nothing says what it is.
        (_canary("${google_pubsub_topic.elsewhere_ABC.id}"), "an unknown topic"),
    ],
)
def test_any_other_pubsub_build_in_prod_without_approval_is_caught(tmp_path, capsys, trigger, why):
    doc = {"resource": {"google_pubsub_topic": CANARY_TOPICS, "google_cloudbuild_trigger": {"canary": trigger}}}
    write_stack(tmp_path, "prod", doc)
    assert checks.main([str(tmp_path)]) == 1, why
    assert "google_cloudbuild_trigger.canary: a Pub/Sub-triggered build starts unapproved" in capsys.readouterr().err
