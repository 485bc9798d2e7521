"""The steps of each workflow as the local main job runs them, and the command behind each nox session.

Cloud Build runs the same nox sessions in the same order (ci/cloudbuild/<workflow>.yaml); the differences
are where values come from (the build's substitutions there, the local git checkout here) and the image
build, which Cloud Build does with kaniko and the local job does with a Docker engine when one runs.
Standard library only: the noxfile and `python -m ci.plan` import it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

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
}
REPO_ROOT = Path(__file__).resolve().parents[1]


def pipeline_unit_tests(pipelines: list[str], root: Path = REPO_ROOT) -> tuple[str, ...]:
    """A pipeline's own unit tests (its modules, its data): tests/unit/test_<pipeline>_*.py, what `modules` runs."""
    return tuple(
        path.relative_to(root).as_posix()
        for pipeline in pipelines
        for path in sorted((root / "tests" / "unit").glob(f"test_{pipeline}_*.py"))
    )


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


def compiled_dir(ctx: Context, pipeline: str) -> str:
    return f"{ctx.work_dir}/{pipeline}/compiled"


def publish_file(ctx: Context, pipeline: str) -> str:
    return f"{ctx.work_dir}/{pipeline}/publish.json"


def submit_file(ctx: Context, pipeline: str) -> str:
    return f"{ctx.work_dir}/{pipeline}/submit.json"


def _release(ctx: Context, image_step: Step, pipelines: list[str]) -> list[Step]:
    """image, then every pipeline's compile, then per pipeline publish -> submit -> set current: what `full` and
    `modules` share after their tests. One image serves every pipeline; each pipeline has its template, run and
    pointer. The compiles come first so that they all run alongside the tests, which the first publish waits for."""
    # A template of uncommitted code gets no commit record: commit records name committed code only.
    commit = () if ctx.dirty else ("--commit", ctx.commit)
    compiles: list[Step] = []
    releases: list[Step] = []
    for index, pipeline in enumerate(pipelines):
        target = ("--env", ctx.env, "--pipeline", pipeline)
        compiled = ("--output-dir", compiled_dir(ctx, pipeline))
        compiles.append(Step(f"compile {pipeline}", "compile", (*target, "--image-from", image_file(ctx), *compiled)))
        releases += [
            # Publishing makes a release visible: it waits for the tests, which ran alongside image and compile.
            Step(
                f"publish {pipeline}",
                "publish",
                (
                    *target,
                    *("--compiled", compiled_dir(ctx, pipeline), *commit, "--branch", ctx.branch),
                    *("--result-file", publish_file(ctx, pipeline)),
                ),
                joins=index == 0,
            ),
            Step(
                f"submit {pipeline}",
                "submit",
                (
                    *target,
                    "--template-from",
                    publish_file(ctx, pipeline),
                    "--source",
                    "ci",
                    "--trigger-id",
                    ctx.run_id,
                    "--follow",
                    "--result-file",
                    submit_file(ctx, pipeline),
                ),
            ),
            # The run submitted, the pipeline's current-template pointer moves to this template (D7).
            Step(
                f"set current {pipeline}", "publish", (*target, "--set-current", "--from", submit_file(ctx, pipeline))
            ),
        ]
    return [image_step, *compiles, *releases]


def _synth_and_check() -> list[Step]:
    """synth, then the checks on what it wrote: Cloud Build runs them in different images (only synth's has Node.js)."""
    return [Step("synth", "synth", ()), Step("checkov", "checkov", ("--synthesized",))]


def steps(workflow: str, ctx: Context, pipelines: list[str] | None = None) -> list[Step]:
    """The local steps of `workflow`, in order; `full` and `modules` release each of `pipelines`."""
    pipelines = list(pipelines or [])
    # The fast path tests the changed pipelines' own tests (what `nox -s unit -- pipeline:NAME` runs on Cloud
    # Build), named as files so every runner runs the same; a pipeline without any runs none.
    own = pipeline_unit_tests(pipelines)
    tests = Step("unit tests", "unit", own if workflow == "modules" else UNIT_TESTS.get(workflow, ()))
    if workflow == "full":
        build = Step("image", "image", ("--env", ctx.env, "--commit", ctx.commit, "--output", image_file(ctx)))
        return [replace(tests, background=True), *_release(ctx, build, pipelines)]
    if workflow == "modules":
        existing = Step("image (existing)", "image", ("--env", ctx.env, "--existing", "--output", image_file(ctx)))
        background = [replace(tests, background=True)] if own else []
        return [*background, *_release(ctx, existing, pipelines)]
    if workflow == "infra":
        return [*_synth_and_check(), Step("plan", "tfplan", ("--env", ctx.env))]
    if workflow == "function":
        return [Step("unit tests", "function_tests", ()), *_synth_and_check()]
    if workflow == "model-tests":
        # The champion of the environment this job runs for, held to the model tests as they are now.
        return [Step("model tests", "model_tests", ("--env", ctx.env, "--all-pipelines"))]
    raise KeyError(f"unknown workflow {workflow!r}")
