"""PipelineTrigger: topic, dead-letter topic and subscription, the function, its source, its grants."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from contracts.environment_parameters import environment_values
from infra.function_source import FUNCTION_DIR, build_archive, repository_imports
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
        # prod's values for the one template, by the computation every submitter uses.
        "ENVIRONMENT_PARAMETERS": json.dumps(environment_values(config), sort_keys=True),
        # Its own bucket's current-template pointer (which names a template in dev's release store).
        "ARTIFACTS_URI": "gs://penguins-prod-artifacts",
        # ... of its pipeline: templates/current/penguins.json.
        "PIPELINE": "penguins",
    }
    assert env["PIPELINE_ROOT"] == config.gcp.pipeline_root(config.pipeline_name)  # The one naming rule.
    assert set(_vertex_variables()) <= set(env)  # everything Settings.from_env requires (settings.py)
    # A pin wins over the pointer: TEMPLATE_URI is set only for one.
    pinned = config.model_copy(update={"gcp": config.gcp.model_copy(update={"template_sha256": SHA})})
    env = function_environment(pinned, pinned.gcp)
    # prod runs what dev published (gcp.releases_from: dev): the pin names a template in dev's release store.
    assert env["TEMPLATE_URI"] == f"gs://penguins-dev-artifacts/templates/{SHA}/pipeline.json"


def _vertex_variables() -> tuple[str, ...]:
    """settings.py's VERTEX_VARIABLES, read from its source (the function's modules import each other flat)."""
    tree = ast.parse((FUNCTION_DIR / "settings.py").read_text())
    (value,) = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "VERTEX_VARIABLES" for t in node.targets)
    ]
    variables: tuple[str, ...] = ast.literal_eval(value)
    return variables


def test_pinned_template_reaches_the_function(configs):
    config = configs["dev"]
    pinned = config.model_copy(update={"gcp": config.gcp.model_copy(update={"template_sha256": SHA})})
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


CONTRACTS_SHIPPED = {
    "contracts/__init__.py",
    "contracts/current_template.py",
    "contracts/data_layout.py",
    "contracts/engines.py",
    "contracts/environment.py",
    "contracts/environment_parameters.py",
    "contracts/google_apis.py",
    "contracts/metrics.py",
    "contracts/parameters.py",
    "contracts/regions.py",
    "contracts/registry.py",
    "contracts/run_request.py",
    "contracts/trigger_message.py",
}


def test_source_archive_is_deterministic_and_deployable(tmp_path):
    first, second = build_archive(tmp_path / "a"), build_archive(tmp_path / "b")
    assert first.sha256 == second.sha256
    names = zipfile.ZipFile(first.path).namelist()
    assert names == sorted(names)
    own = {path.name for path in FUNCTION_DIR.glob("*.py")}
    assert {"main.py", "settings.py", "vertex.py", "requirements.txt"} <= set(names)
    # The folder at the top, and under contracts/ exactly the contracts its code imports: no PyYAML-needing
    # config.py, nothing of localcloud/ (the local backend's), release/ or pipelines/.
    assert set(names) == own | {"requirements.txt"} | CONTRACTS_SHIPPED
    assert not any("__pycache__" in n or n.endswith((".md", ".in")) for n in names)


def test_the_unzipped_archive_imports_its_contracts_with_no_repository_on_the_path(tmp_path):
    """Every module but main.py (which needs functions-framework: tests/function imports it on the runtime)."""
    source = tmp_path / "source"
    shutil.unpack_archive(build_archive(tmp_path / "zip").path, source, "zip")
    modules = sorted(path.stem for path in source.glob("*.py") if path.name != "main.py")
    probe = (
        "import importlib, sys; sys.path.append(sys.argv[1])\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "import contracts; assert contracts.__path__[0].startswith(sys.argv[1]), contracts.__path__\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('localcloud', 'release', 'pipelines')]\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", probe, str(source)], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-2000:]


def _fake_repository(tmp_path, main_imports: str):
    """A repository with a function folder, contracts/, localcloud/ and pipelines/, main.py importing `main_imports`."""
    for rel, text in {
        "contracts/__init__.py": "",
        "contracts/rules.py": "from contracts import names\n",
        "contracts/names.py": "",
        "contracts/unused.py": "",
        "pipelines/__init__.py": "",
        "pipelines/heavy.py": "",
        "localcloud/service.py": "from pipelines import heavy\n",
        "cloudfunctions/f/helper.py": "def local():\n    from localcloud import service\n",
        "cloudfunctions/f/main.py": main_imports,
    }.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path / "cloudfunctions" / "f"


def test_the_archive_follows_the_imports_and_stops_at_the_local_stand_ins(tmp_path):
    folder = _fake_repository(tmp_path, "import helper\nfrom contracts.rules import X\n")
    shipped = [p.relative_to(tmp_path.resolve()).as_posix() for p in repository_imports(folder, tmp_path)]
    assert shipped == ["contracts/__init__.py", "contracts/names.py", "contracts/rules.py"]


def test_an_import_the_archive_cannot_ship_is_named(tmp_path):
    folder = _fake_repository(tmp_path, "from pipelines import heavy\n")
    with pytest.raises(ValueError, match=r"f imports pipelines/__init__.py, pipelines/heavy.py: .* only contracts/"):
        repository_imports(folder, tmp_path)
