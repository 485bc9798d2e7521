"""PipelineTrigger, one per pipeline: its topic, dead-letter topic and subscription, its function, their one
shared source, their grants."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile

import pytest

from contracts.environment_parameters import environment_values
from infra.function_source import FUNCTION_DIR, build_archive, repository_imports
from infra.parts.trigger import function_environment
from tests.infra.conftest import has_resource, resolve, resources, synth_stack

SHA = "a" * 64


def _functions(stack):
    return {f["name"]: f for f in resources(stack, "google_cloudfunctions2_function")}


def _topic_name(stack, reference: str) -> str:
    """The name of the google_pubsub_topic a `${google_pubsub_topic.<address>.id}` reference names."""
    (address,) = re.findall(r"^\$\{google_pubsub_topic\.([A-Za-z0-9_-]+)\.id\}$", reference)
    return str(stack["resource"]["google_pubsub_topic"][address]["name"])


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_each_pipelines_function_runs_the_trigger_code_internally_with_its_own_account(
    synthesized, stacks, configs, env
):
    pipelines = sorted(configs[env].pipelines)
    assert set(_functions(stacks[env])) == {f"penguins-{env}-{p}-trigger" for p in pipelines}
    assert len(pipelines) == 2
    for pipeline in pipelines:
        assert has_resource(
            synthesized[env],
            "google_cloudfunctions2_function",
            {
                "name": f"penguins-{env}-{pipeline}-trigger",
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


def test_each_function_and_its_trigger_identity_is_the_trigger_account(stacks, configs):
    stack, pipelines = stacks["dev"], sorted(configs["dev"].pipelines)
    for pipeline in pipelines:
        function = _functions(stack)[f"penguins-dev-{pipeline}-trigger"]
        assert "accounts_trigger" in function["service_config"]["service_account_email"]
        assert "accounts_trigger" in function["event_trigger"]["service_account_email"]
        assert function["event_trigger"]["pubsub_topic"].startswith(f"${{google_pubsub_topic.trigger-{pipeline}_topic_")
    invokers = resources(stack, "google_cloud_run_v2_service_iam_member")
    assert all(i["role"] == "roles/run.invoker" and "accounts_trigger" in i["member"] for i in invokers)
    # One invoker grant on each pipeline's function's service.
    assert sorted(resolve(stack, i["name"]) for i in invokers) == [f"penguins-dev-{p}-trigger" for p in pipelines]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_two_pipelines_functions_each_get_their_own_settings_and_topic(stacks, configs, env):
    """Each pipeline's function runs its pipeline: its PIPELINE, PIPELINE_NAME, PIPELINE_ROOT and
    ENVIRONMENT_PARAMETERS, and it subscribes to its own trigger topic; the rest is the environment's."""
    stack, gcp = stacks[env], configs[env].gcp
    own = ("PIPELINE", "PIPELINE_NAME", "PIPELINE_ROOT", "ENVIRONMENT_PARAMETERS")
    seen: dict[str, set[str]] = {key: set() for key in own}
    for each in configs[env].each_pipeline():
        pipeline = each.selected
        function = _functions(stack)[f"penguins-{env}-{pipeline}-trigger"]
        variables = function["service_config"]["environment_variables"]
        assert variables == function_environment(each, gcp)
        assert variables["PIPELINE"] == pipeline
        assert variables["PIPELINE_NAME"] == f"{pipeline}-{env}"
        assert variables["PIPELINE_ROOT"] == f"gs://penguins-{env}-pipeline-root/{pipeline}-{env}"
        parameters = json.loads(variables["ENVIRONMENT_PARAMETERS"])
        assert parameters == json.loads(json.dumps(environment_values(each)))
        assert parameters["data_root"] == f"gs://penguins-{env}-data/{pipeline}"
        assert json.loads(parameters["registry"])["model_name"] == f"penguins-{env}-{pipeline}-model"
        assert _topic_name(stack, function["event_trigger"]["pubsub_topic"]) == f"penguins-{env}-{pipeline}-trigger"
        for key in own:
            seen[key].add(variables[key])
    # Nothing of one pipeline's own is another's.
    assert all(len(values) == len(configs[env].pipelines) == 2 for values in seen.values()), seen


@pytest.mark.parametrize("pipeline", ["diabetes", "penguins"])
def test_environment_is_what_settings_from_env_needs(configs, pipeline):
    config = configs["prod"].for_pipeline(pipeline)
    env = function_environment(config, config.gcp)
    assert env == {
        "TRIGGER_BACKEND": "vertex",
        "PIPELINE_NAME": f"{pipeline}-prod",
        "PROJECT": "my-prod-project",
        "REGION": "europe-west4",
        "PIPELINE_ROOT": f"gs://penguins-prod-pipeline-root/{pipeline}-prod",
        "SERVICE_ACCOUNT": "penguins-prod-pipeline@my-prod-project.iam.gserviceaccount.com",
        # prod's values for the pipeline's template, by the computation every submitter uses.
        "ENVIRONMENT_PARAMETERS": json.dumps(environment_values(config), sort_keys=True),
        # Its own bucket's current-template pointer (which names a template in dev's release store).
        "ARTIFACTS_URI": "gs://penguins-prod-artifacts",
        # ... of its pipeline: templates/current/<pipeline>.json.
        "PIPELINE": pipeline,
    }
    assert env["PIPELINE_ROOT"] == config.gcp.pipeline_root(config.pipeline_name)  # The one naming rule.
    assert set(_vertex_variables()) <= set(env)  # everything Settings.from_env requires (settings.py)
    # A pin (the pipeline's, pipelines.<name>.template_sha256) wins over the pointer: TEMPLATE_URI is set only for one.
    pinned = config.with_settings(template_sha256=SHA)
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


def test_pinned_template_reaches_only_its_pipelines_function(configs):
    # A pin is one pipeline's (pipelines.<name>.template_sha256): the other pipeline's function reads its pointer.
    config = configs["dev"]
    penguins = config.pipelines["penguins"].model_copy(update={"template_sha256": SHA})
    pinned = config.model_copy(update={"pipelines": {**config.pipelines, "penguins": penguins}})
    functions = _functions(synth_stack(pinned))
    variables = functions["penguins-dev-penguins-trigger"]["service_config"]["environment_variables"]
    assert variables["TEMPLATE_URI"] == f"gs://penguins-dev-artifacts/templates/{SHA}/pipeline.json"
    assert "TEMPLATE_URI" not in functions["penguins-dev-diabetes-trigger"]["service_config"]["environment_variables"]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_each_pipelines_dead_lettering_resources(synthesized, stacks, configs, env):
    pipelines = sorted(configs[env].pipelines)
    subscriptions = {s["name"] for s in resources(stacks[env], "google_pubsub_subscription")}
    assert subscriptions == {f"penguins-{env}-{p}-trigger-dead-letter" for p in pipelines}
    agent = [g for g in resources(stacks[env], "google_pubsub_topic_iam_member") if "gcp-sa-pubsub" in g["member"]]
    assert sorted(resolve(stacks[env], g["topic"]) for g in agent) == sorted(subscriptions)
    assert len(agent) == len(pipelines) == 2
    for grant in agent:
        assert grant["role"] == "roles/pubsub.publisher"
        assert grant["member"].startswith("serviceAccount:service-${data.google_project.project.number}@")
    for pipeline in pipelines:
        name = f"penguins-{env}-{pipeline}-trigger-dead-letter"
        assert has_resource(synthesized[env], "google_pubsub_topic", {"name": f"penguins-{env}-{pipeline}-trigger"})
        assert has_resource(synthesized[env], "google_pubsub_topic", {"name": name})
        assert has_resource(
            synthesized[env],
            "google_pubsub_subscription",
            {"name": name, "message_retention_duration": "604800s", "expiration_policy": {"ttl": ""}},
        )
        setup = stacks[env]["output"][f"dead_letter_setup_{pipeline}"]["value"]
        assert "--dead-letter-topic=" in setup and "--max-delivery-attempts=5" in setup
        # The pipeline's own function's Eventarc subscription, dead-lettered to the pipeline's own topic.
        assert f"${{google_cloudfunctions2_function.trigger-{pipeline}_function_" in setup
        assert f"--dead-letter-topic=${{google_pubsub_topic.trigger-{pipeline}_dead-letter_" in setup
        (other,) = set(pipelines) - {pipeline}
        assert f"trigger-{other}_" not in setup


def test_one_source_object_named_by_content_hash_for_every_function(stacks, tmp_path):
    (obj,) = resources(stacks["dev"], "google_storage_bucket_object")
    archive = build_archive(tmp_path)
    assert obj["name"] == f"functions/trigger_pipeline/{archive.sha256}.zip"
    assert "buckets_artifacts" in obj["bucket"]
    [address] = stacks["dev"]["resource"]["google_storage_bucket_object"]
    functions = resources(stacks["dev"], "google_cloudfunctions2_function")
    assert len(functions) == 2
    for function in functions:
        assert function["build_config"]["source"]["storage_source"] == {
            "bucket": f"${{google_storage_bucket_object.{address}.bucket}}",
            "object": f"${{google_storage_bucket_object.{address}.name}}",
        }


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
