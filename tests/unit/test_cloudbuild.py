"""The Cloud Build configs: every step a nox session that exists (or a named tool step), substitutions declared,
the same sessions in the same order as the local main job, and the build pinned to the triggering commit."""

from __future__ import annotations

import ast
import json
import re

import pytest
import yaml

from ci.routing import PUSH_ROUTES, ROUTES
from ci.workflows import Context, steps
from contracts.config import REPO_ROOT

# The routes' configs, and the one an environment that adopts another's releases runs on the publishing routes
# (infra/parts/build_triggers.py: ADOPT_CONFIG).
CONFIGS = {r.workflow: REPO_ROOT / r.config for r in ROUTES} | {"adopt": REPO_ROOT / "ci" / "cloudbuild" / "adopt.yaml"}
# The workflows a push runs: the local main job runs their steps (the pull-request checks are `.ci/run`'s).
PUSH_CONFIGS = sorted(r.workflow for r in PUSH_ROUTES)
# Steps that cannot be nox sessions, by id, with the image they must use and the local session they stand for.
TOOL_STEPS = {
    "build-image": ("gcr.io/kaniko-project/executor:", None),  # locally: part of the `image` session
    "plan": ("hashicorp/terraform:", "tfplan"),
}
BUILTINS = {"PROJECT_ID", "COMMIT_SHA", "SHORT_SHA", "BRANCH_NAME", "BUILD_ID", "REPO_NAME", "LOCATION"}
_NOX = re.compile(r"ci/nox\s+-s\s+(\S+)")


def _sessions() -> set[str]:
    tree = ast.parse((REPO_ROOT / "noxfile.py").read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and any("nox.session" in ast.unparse(d) for d in node.decorator_list)
    }


def _load(workflow: str) -> dict:
    return yaml.safe_load(CONFIGS[workflow].read_text())


def _session_of(step: dict) -> str | None:
    found = _NOX.search(" ".join(str(a) for a in step.get("args", [])))
    return found.group(1) if found else None


@pytest.mark.parametrize("workflow", sorted(CONFIGS))
def test_every_step_is_an_existing_nox_session_or_a_named_tool_step(workflow):
    sessions = _sessions()
    for step in _load(workflow)["steps"]:
        if step["id"] in TOOL_STEPS:
            assert step["name"].startswith(TOOL_STEPS[step["id"]][0]), step
            continue
        session = _session_of(step)
        assert session is not None, f"{workflow}: step {step['id']} does not run a nox session"
        assert session in sessions, f"{workflow}: step {step['id']} calls nox session {session!r}, which does not exist"


@pytest.mark.parametrize("workflow", sorted(CONFIGS))
def test_substitutions_used_are_declared_and_builtins_known(workflow):
    config = _load(workflow)
    text = "\n".join(line.split("#")[0] for line in CONFIGS[workflow].read_text().splitlines())
    used = set(re.findall(r"\$\{(_[A-Z0-9_]+)\}|\$(_[A-Z0-9_]+)", text))
    used_names = {a or b for a, b in used}
    assert used_names <= set(config["substitutions"]), used_names - set(config["substitutions"])
    builtins = {a or b for a, b in re.findall(r"\$\{([A-Z][A-Z_]+)\}|\$([A-Z][A-Z_]+)", text)}
    assert builtins <= BUILTINS, builtins - BUILTINS
    assert all(name.startswith("_") for name in config["substitutions"])


@pytest.mark.parametrize("workflow", sorted(CONFIGS))
def test_logging_timeouts_and_pinned_images(workflow):
    config = _load(workflow)
    assert config["options"]["logging"] in {"GCS_ONLY", "CLOUD_LOGGING_ONLY"}
    assert config["logsBucket"] == "gs://${_LOGS_BUCKET}"
    assert re.fullmatch(r"\d+s", config["timeout"])
    for step in config["steps"]:
        assert re.fullmatch(r"\d+s", step["timeout"]), step["id"]
        image = step["name"]
        assert ":" in image.rsplit("/", 1)[-1] or "@sha256:" in image, f"{image}: pin a version"
        assert not image.endswith(":latest"), image
        joined = " ".join(str(a) for a in step.get("args", []))
        assert not re.search(r"git\s+(clone|fetch|checkout|pull)", joined), f"{step['id']}: builds use /workspace"


@pytest.mark.parametrize("workflow", PUSH_CONFIGS)
def test_cloud_build_runs_the_local_steps_in_the_same_order(workflow):
    ctx = Context("dev", "0" * 40, "main", "run", False, "build/cicd/run")
    local = [s.session for s in steps(workflow, ctx, ["penguins"])]
    cloud = []
    for step in _load(workflow)["steps"]:
        session = TOOL_STEPS[step["id"]][1] if step["id"] in TOOL_STEPS else _session_of(step)
        if session is not None:
            cloud.append(session)
    assert cloud == local


def test_full_builds_the_image_at_the_commit_and_compiles_against_the_pushed_digest():
    config = _load("full")
    by_id = {step["id"]: step for step in config["steps"]}
    kaniko = by_id["build-image"]["args"]
    assert any(a.startswith("--destination=") and a.endswith(":$COMMIT_SHA") for a in kaniko)
    digest_file = next(a.split("=", 1)[1] for a in kaniko if a.startswith("--image-name-with-digest-file="))
    assert f"--built={digest_file.removeprefix('/workspace/')}" in by_id["record-image"]["args"]
    assert "--image-from=build/cloudbuild/image.json" in by_id["compile"]["args"]
    assert "--commit=$COMMIT_SHA" in by_id["publish"]["args"]
    assert "--trigger-id=$BUILD_ID" in by_id["submit"]["args"]


@pytest.mark.parametrize("workflow", ["full", "modules", "adopt"])
def test_the_pointer_moves_only_after_the_run_was_submitted(workflow):
    """The last step sets the current template from the submit step's result: a failed submit never moves it."""
    config = _load(workflow)
    sessions = [_session_of(step) for step in config["steps"]]
    assert sessions[-2:] == ["submit", "publish"]
    submit, pointer = config["steps"][-2:]
    result = next(a.split("=", 1)[1] for a in submit["args"] if a.startswith("--result-file="))
    assert pointer["args"][-2:] == ["--set-current", f"--from={result}"] and "waitFor" not in pointer


@pytest.mark.parametrize("workflow", ["full", "modules", "adopt"])
def test_the_per_pipeline_builds_compile_publish_and_submit_the_triggers_pipeline(workflow):
    """Each pipeline has its own full and modules trigger (infra/parts/build_triggers.py), which sets _PIPELINE:
    every step that takes one pipeline is told which, or an environment with two would refuse to choose."""
    for step in _load(workflow)["steps"]:
        if _session_of(step) in ("compile", "publish", "submit", "adopt"):
            assert "--pipeline=${_PIPELINE}" in step["args"], f"{workflow}: step {step['id']}"


def test_adopt_waits_for_the_commits_template_and_submits_it_once_per_commit():
    """prod builds nothing: it finds what dev published for $COMMIT_SHA, and both of a push's triggers submit
    the same job (its id derives from the commit, not the build)."""
    by_id = {step["id"]: step for step in _load("adopt")["steps"]}
    assert [_session_of(s) for s in _load("adopt")["steps"]] == ["adopt", "submit", "publish"]
    release = by_id["release"]["args"]
    assert "--commit=$COMMIT_SHA" in release and "--result-file=build/cloudbuild/publish.json" in release
    wait = int(next(a for a in release if a.startswith("--wait=")).split("=")[1])
    assert wait == int(_load("full")["timeout"].removesuffix("s"))  # as long as dev's full build may take
    assert wait < int(by_id["release"]["timeout"].removesuffix("s"))
    assert "--template-from=build/cloudbuild/publish.json" in by_id["submit"]["args"]
    assert "--trigger-id=adopt-$COMMIT_SHA" in by_id["submit"]["args"]
    assert not any("kaniko" in s["name"] or _session_of(s) == "compile" for s in _load("adopt")["steps"])


def test_modules_never_builds_an_image_and_runs_the_local_fast_path_tests():
    config = _load("modules")
    assert not any("kaniko" in step["name"] or "docker" in step["name"] for step in config["steps"])
    unit = next(step for step in config["steps"] if _session_of(step) == "unit")
    # The pipeline's own tests, as the local fast path runs them: the trigger's pipeline (infra sets _PIPELINE).
    assert tuple(unit["args"][unit["args"].index("--") + 1 :]) == ("pipeline:${_PIPELINE}",)
    assert "--existing" in next(s for s in config["steps"] if _session_of(s) == "image")["args"]


@pytest.mark.parametrize("workflow", ["full", "modules"])
def test_the_tests_run_alongside_image_and_compile_and_publish_waits_for_them(workflow):
    ctx = Context("dev", "0" * 40, "main", "run", False, "build/cicd/run")
    local = steps(workflow, ctx, ["penguins"])
    cloud = _load(workflow)["steps"]
    assert local[0].background and cloud[0]["id"] == "unit-tests"
    assert cloud[1]["waitFor"] == ["-"]  # the step after the tests starts with them
    publish = next(s for s in cloud if _session_of(s) == "publish")
    assert "waitFor" not in publish  # no waitFor: after every earlier step, the tests included
    assert next(s for s in local if s.session == "publish").joins


def test_every_route_has_its_cloud_build_config():
    for candidate in ROUTES:
        assert (REPO_ROOT / candidate.config).is_file(), candidate.config
        # A pull-request check fires on any change on purpose (ci/routing.py says why); a push workflow never.
        if candidate.event == "push":
            assert candidate.included, f"{candidate.workflow}: an empty included list would fire on any change"


@pytest.mark.parametrize("workflow", ["infra", "function"])
def test_the_checks_consume_what_synth_wrote_in_its_own_image(workflow):
    """Only the synth step's image has Node.js: checkov checks build/infra as synth left it, never re-synthesizing."""
    cloud = {_session_of(step): step for step in _load(workflow)["steps"]}
    assert cloud["checkov"]["args"][-2:] == ["--", "--synthesized"]
    assert list(cloud).index("synth") < list(cloud).index("checkov")
    assert cloud["synth"]["name"] != cloud["checkov"]["name"]
    # The local main job passes the same arguments.
    ctx = Context("dev", "0" * 40, "main", "run", False, "build/cicd/run")
    local = {s.session: s for s in steps(workflow, ctx, ["penguins"])}
    for session in ("synth", "checkov"):
        args = cloud[session]["args"]
        assert local[session].args == tuple(args[args.index("--") + 1 :] if "--" in args else ()), session


def test_the_promote_build_makes_the_move_it_was_requested_for_and_nothing_else():
    """One step: `models <action> <version>`, naming its own build (whose approval a promote or rollback checks;
    an auto-promotion records it as the mover)."""
    from ci.routing import route

    requested = route("promote").requested
    config = _load("promote")
    (step,) = config["steps"]
    assert step["args"][:4] == ["ci/nox", "-s", "models", "--"]
    # Its pipeline's: each pipeline has its own promote trigger, which sets _PIPELINE.
    assert step["args"][4:] == [
        "${_ACTION}",
        "${_VERSION}",
        "--env=${_ENV}",
        "--pipeline=${_PIPELINE}",
        "--build=$BUILD_ID",
    ]
    # What the request sets (release/approvals.py) is declared, empty: a build started without it fails loudly.
    assert {k: config["substitutions"][k] for k in requested} == dict.fromkeys(requested, "")


def test_the_datacheck_build_runs_the_check_on_its_environment_and_nothing_else():
    """One step, the same nox session a user runs, on the environment and pipeline the trigger names (_ENV,
    _PIPELINE: each pipeline has its own datacheck trigger)."""
    config = _load("datacheck")
    [step] = config["steps"]
    assert step["entrypoint"] == "bash"
    assert step["args"] == ["ci/nox", "-s", "data_check", "--", "--env=${_ENV}", "--pipeline=${_PIPELINE}"]
    assert step["name"].startswith("python:3.10.")  # the TFX venv: the champion is evaluated with TensorFlow
    assert config["options"]["logging"] == "GCS_ONLY" and config["logsBucket"] == "gs://${_LOGS_BUCKET}"
    assert int(step["timeout"].removesuffix("s")) < int(config["timeout"].removesuffix("s"))


def test_the_monitor_build_runs_the_monitor_on_its_environment_and_pipeline_and_nothing_else():
    """One step, the same nox session a user runs, on the environment and pipeline the trigger names (_ENV,
    _PIPELINE: each pipeline has its own monitor trigger, started by its Scheduler job); shorter than the hourly
    schedule the environment files give it, so a run never overlaps the next."""
    from ci.routing import route

    assert route("monitor").config == "ci/cloudbuild/monitor.yaml"
    config = _load("monitor")
    [step] = config["steps"]
    assert step["entrypoint"] == "bash"
    assert step["args"] == [
        "ci/nox", "-s", "monitor", "--", "--env=${_ENV}", "--pipeline=${_PIPELINE}",
        # Empty from the schedule (the defaults); set by a person re-judging a past window.
        "--window-end=${_WINDOW_END}", "--now=${_NOW}",
    ]  # fmt: skip
    assert {k: config["substitutions"][k] for k in route("monitor").requested} == {"_WINDOW_END": "", "_NOW": ""}
    assert step["name"] == _load("datacheck")["steps"][0]["name"]  # the TFX venv's Python 3.10: TFDV
    assert config["options"] == _load("datacheck")["options"]  # GCS_ONLY logs to the build-logs bucket
    assert config["logsBucket"] == "gs://${_LOGS_BUCKET}"
    assert set(config["substitutions"]) - set(route("monitor").requested) == set(_load("datacheck")["substitutions"])
    assert int(step["timeout"].removesuffix("s")) < int(config["timeout"].removesuffix("s")) < 3600


def test_the_canary_build_applies_the_recorded_verdict_of_its_pipeline_and_nothing_else():
    """One step, `models canary settle`, on the environment and pipeline the trigger names, naming its own build:
    what it applies is the verdict the monitor recorded, so the message that starts it (the monitor's, on the
    pipeline's canary-verdict topic) sets nothing; the promote build's image, options, logs and timeouts (it may
    deploy and undeploy as a promotion does)."""
    from ci.routing import route

    canary = route("canary")
    assert (canary.config, canary.event, canary.requested) == ("ci/cloudbuild/canary.yaml", "pubsub", ())
    assert canary.topic == "canary-verdict"
    config, promote = _load("canary"), _load("promote")
    [step] = config["steps"]
    assert step["entrypoint"] == "bash"
    assert step["args"] == [
        "ci/nox",
        "-s",
        "models",
        "--",
        "canary",
        "settle",
        "--env=${_ENV}",
        "--pipeline=${_PIPELINE}",
        "--build=$BUILD_ID",
    ]
    [moving] = promote["steps"]
    assert (step["name"], step["timeout"]) == (moving["name"], moving["timeout"])
    assert (config["options"], config["logsBucket"], config["timeout"]) == (
        promote["options"],
        promote["logsBucket"],
        promote["timeout"],
    )
    # The trigger's own substitutions only: none of the promote request's (_ACTION, _VERSION, _BY, _REASON), and
    # nothing of the message (the step reads no $(body...) binding: the trigger sets none).
    assert set(config["substitutions"]) == set(promote["substitutions"]) - set(route("promote").requested)
    assert set(config["substitutions"]) == set(_load("monitor")["substitutions"]) - set(route("monitor").requested)
    assert not [arg for arg in step["args"] if "_VERSION" in arg or "_VERDICT" in arg or "body." in arg]


@pytest.mark.parametrize("workflow", sorted(CONFIGS))
def test_every_config_is_a_valid_cloud_build_build_message(workflow):
    """What Cloud Build itself parses: an unknown or misspelt field, a bad enum or duration fails here, offline."""
    from google.cloud.devtools import cloudbuild_v1

    build = cloudbuild_v1.Build.from_json(json.dumps(_load(workflow)))
    assert build.steps and all(step.name for step in build.steps)


def test_the_build_message_check_catches_a_misspelt_field():
    from google.cloud.devtools import cloudbuild_v1
    from google.protobuf.json_format import ParseError

    misspelt = {"steps": [{"name": "python:3.10.13-slim-bookworm", "waitfor": ["-"]}]}
    with pytest.raises(ParseError, match='no field named "waitfor"'):
        cloudbuild_v1.Build.from_json(json.dumps(misspelt))


@pytest.mark.parametrize("workflow", ["promote", "model-tests", "canary"])
def test_a_moving_step_outlasts_every_environments_deploy_timeout(workflow):
    """A move on Vertex waits for the deploy, then for a cancelled one to end, then for an undeploy: its step
    leaves 5 minutes beyond those for set-up and the model tests."""
    from contracts.config import ENVS_DIR, load_environment
    from contracts.environment import Serving
    from release.promotion.vertex_endpoint import CANCEL_GRACE_SECONDS, UNDEPLOY_WAIT_SECONDS

    waits = CANCEL_GRACE_SECONDS + UNDEPLOY_WAIT_SECONDS + 300
    step_seconds = int(_load(workflow)["steps"][0]["timeout"].removesuffix("s"))
    assert step_seconds < int(_load(workflow)["timeout"].removesuffix("s"))
    largest = max(getattr(m, "le", 0) for m in Serving.model_fields["deploy_timeout_seconds"].metadata)
    assert largest + waits <= step_seconds, "the largest deploy timeout an environment file may set"
    for path in sorted(ENVS_DIR.glob("*.yaml")):
        serving = load_environment(path.stem).release.serving
        assert serving.deploy_timeout_seconds + waits <= step_seconds, path.name
