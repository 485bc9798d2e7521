"""The steps of each workflow as the local main job runs them, and the command behind each nox session.

Cloud Build runs the same nox sessions in the same order (ci/cloudbuild/<workflow>.yaml); the differences
are where values come from (the build's substitutions there, the local git checkout here) and the image
build, which Cloud Build does with kaniko and the local job does with a Docker engine when one runs.
Standard library only: the noxfile and `python -m ci.plan` import it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# What each step session runs in the TFX environment (the noxfile runs exactly these; tests may too).
SESSION_COMMANDS: dict[str, tuple[str, ...]] = {
    "unit": ("-m", "pytest", "-q", "-p", "no:cacheprovider"),
    "image": ("-m", "release.image"),
    "compile": ("-m", "pipelines.kubeflow_v2_runner"),
    "publish": ("-m", "release.publish"),
    "submit": ("-m", "release.submit"),
    "model_tests": ("-m", "release.model_tests.run"),
}
# The unit tests of each workflow: the fast path tests what it changes (main was green before the change).
UNIT_TESTS: dict[str, tuple[str, ...]] = {
    "full": (),  # the unit session's default: tests/unit without the slow ones, as Cloud Build's step runs it
    "modules": ("tests/unit/test_model.py", "tests/unit/test_preprocessing.py"),
}
# The function's tests are not unit tests of the TFX environment: `function_tests` runs them on the function's
# own runtime (Python 3.12) and requirements.


@dataclass(frozen=True)
class Context:
    """What the steps of one local run need to know."""

    env: str
    commit: str  # full commit id of HEAD
    branch: str
    run_id: str  # this run of the main job: the trigger id of the pipeline run it submits
    dirty: bool  # uncommitted changes are part of this run
    work_dir: str  # build/cicd/<run_id>: the files steps hand to each other


@dataclass(frozen=True)
class Step:
    name: str
    session: str
    args: tuple[str, ...]
    # Runs alongside the steps that follow it (Cloud Build: the next step has `waitFor: ['-']`) ...
    background: bool = False
    # ... until a step that needs its result: that one waits for it first.
    joins: bool = False


def image_file(ctx: Context) -> str:
    return f"{ctx.work_dir}/image.json"


def publish_file(ctx: Context) -> str:
    return f"{ctx.work_dir}/publish.json"


def submit_file(ctx: Context) -> str:
    return f"{ctx.work_dir}/submit.json"


def _release(ctx: Context, image_step: Step) -> list[Step]:
    """image -> compile -> publish -> submit -> set current: what `full` and `modules` share after their tests."""
    env = ("--env", ctx.env)
    # A template of uncommitted code gets no commit record: commit records name committed code only.
    commit = () if ctx.dirty else ("--commit", ctx.commit)
    return [
        image_step,
        Step("compile", "compile", (*env, "--image-from", image_file(ctx))),
        # Publishing makes a release visible: it waits for the tests, which ran alongside image and compile.
        Step(
            "publish",
            "publish",
            (*env, *commit, "--branch", ctx.branch, "--result-file", publish_file(ctx)),
            joins=True,
        ),
        Step(
            "submit",
            "submit",
            (
                *env,
                "--template-from",
                publish_file(ctx),
                "--source",
                "ci",
                "--trigger-id",
                ctx.run_id,
                "--follow",
                "--result-file",
                submit_file(ctx),
            ),
        ),
        # The run submitted, the environment's current-template pointer moves to this template (D7).
        Step("set current", "publish", (*env, "--set-current", "--from", submit_file(ctx))),
    ]


def _synth_and_check() -> list[Step]:
    """synth, then the checks on what it wrote: Cloud Build runs them in different images (only synth's has Node.js)."""
    return [Step("synth", "synth", ()), Step("checkov", "checkov", ("--synthesized",))]


def steps(workflow: str, ctx: Context) -> list[Step]:
    """The local steps of `workflow`, in order."""
    tests = Step("unit tests", "unit", UNIT_TESTS.get(workflow, ()))
    if workflow == "full":
        build = Step("image", "image", ("--env", ctx.env, "--commit", ctx.commit, "--output", image_file(ctx)))
        return [replace(tests, background=True), *_release(ctx, build)]
    if workflow == "modules":
        existing = Step("image (existing)", "image", ("--env", ctx.env, "--existing", "--output", image_file(ctx)))
        return [replace(tests, background=True), *_release(ctx, existing)]
    if workflow == "infra":
        return [*_synth_and_check(), Step("plan", "tfplan", ("--env", ctx.env))]
    if workflow == "function":
        return [Step("unit tests", "function_tests", ()), *_synth_and_check()]
    if workflow == "model-tests":
        # The champion of the environment this job runs for, held to the model tests as they are now.
        return [Step("model tests", "model_tests", ("--env", ctx.env))]
    raise KeyError(f"unknown workflow {workflow!r}")
