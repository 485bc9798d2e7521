"""Make a new project usable, right after `cdktf deploy`: each pipeline's data, first release and pointer.

    python -m release.bootstrap --env dev [--pipeline P] [--image REGION-docker.pkg.dev/P/R/pipeline@sha256:D]
    python -m release.bootstrap --env prod [--pipeline P] [--commit SHA] [--wait 5400]

Every pipeline of the environment, one after the other (or the one --pipeline names), each through these steps:

1. seed      the shipped spans (data/<dataset>/span-*) into the data bucket, create-only: a span already there
             is left as it is, so a first data check never takes span-1 and a rerun writes nothing;
2. release   an environment that publishes its own releases (dev): its `full` build, started on the CI branch
             (Cloud Build's triggers.run) and followed to its end: it builds the pipeline image, compiles,
             publishes, submits a first run and moves the pointer, as on every push (with --image, an image
             already pushed, this process compiles, publishes, submits and moves the pointer instead);
             one that runs another's (prod): the template that environment published for --commit (default:
             the checkout's HEAD, waiting up to --wait seconds for it), as the adopt build finds it, then
3. submit    a first run of that template (its job id derives from the template: a rerun starts nothing) and
4. pointer   move the environment's current-template pointer to it, as CI does after each submitted run.
Each step is the command CI's step runs, so the project ends where a push would leave it. It runs with the
caller's credentials (Application Default Credentials: a platform engineer's, who deployed).
Exit status: 0 done, else the failed step's (1 failed, 2 bad input, 3 retry, 4 refused: release/cloud_errors.py),
naming the step; every step is safe to rerun.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ci.changes import ChangesError, changes_since, head_commit
from ci.routing import trigger_kind
from contracts.config import (
    REPO_ROOT,
    ConfigError,
    EnvironmentConfig,
    add_pipeline_argument,
    load_environment,
    load_pipeline_environment,
)
from release.cloud_errors import exit_status

WORK = REPO_ROOT / "build" / "bootstrap"


@dataclass(frozen=True)
class Step:
    name: str
    # A release CLI's main(argv) -> exit status; the arguments are computed when the step runs (a step may
    # read what an earlier one wrote).
    main: Callable[[list[str]], int]
    argv: Callable[[], list[str]]
    # What to do when the step fails in a way a new project expects (printed after the step's own error).
    hint: str = ""


def checkout_commit() -> tuple[str, bool]:
    """(HEAD's commit id, whether tracked files have uncommitted changes) of this checkout."""
    head = head_commit(REPO_ROOT)
    return head, bool(changes_since(REPO_ROOT, head).uncommitted)


def seed(config: EnvironmentConfig) -> int:
    """Step 1: the shipped spans into the environment's data area, create-only."""
    from pipelines.sources import pipeline_sources
    from release.datacheck.layout import open_store

    store = open_store(config)
    written = store.seed(pipeline_sources(config.dataset).data_dir)
    print(f"seed: {', '.join(written) if written else 'nothing to write'} in {store.where}")
    return 0


def release_steps(config: EnvironmentConfig, args: argparse.Namespace, work: Path) -> list[Step]:
    """Steps 2-4 for `config`: what a push's build does (full, or prod's adopt), then the pointer."""
    from pipelines import kubeflow_v2_runner
    from release import adopt, publish, submit

    published, submitted = work / "publish.json", work / "submit.json"
    # Every step works on this pipeline of the environment.
    chosen = ["--env", args.env, "--pipeline", config.selected]
    gcp = config.gcp
    assert gcp is not None
    if gcp.releases_from is not None:
        commit = args.commit or checkout_commit()[0]
        wanted = [*chosen, "--commit", commit, "--branch", args.branch, "--wait", str(args.wait)]
        steps = [Step("adopt", adopt.main, lambda: [*wanted, "--result-file", str(published)])]
    elif not args.image:
        # A new project has no image: the full build makes it, and does steps 3 and 4 itself.
        return [Step("full build", lambda argv: full_build(config, args.branch, args.wait), lambda: [])]
    else:
        compiled = work / "compiled"
        commit, dirty = checkout_commit()
        # A template of uncommitted code gets no commit record: commit records name committed code only.
        committed = [] if dirty else ["--commit", commit]
        steps = [
            Step(
                "compile",
                kubeflow_v2_runner.main,
                lambda: [*chosen, "--image", args.image, "--output-dir", str(compiled)],
            ),
            Step(
                "publish",
                publish.main,
                lambda: [
                    *(*chosen, "--compiled", str(compiled), *committed),
                    *("--branch", args.branch, "--result-file", str(published)),
                ],
            ),
        ]

    def first_run() -> list[str]:
        template = json.loads(published.read_text())["template_sha256"]
        trigger = f"bootstrap-{template[:16]}"  # the same template never starts a second first run
        source = ["--source", "bootstrap", "--trigger-id", trigger]
        return [*chosen, "--template-from", str(published), *source, "--result-file", str(submitted)]

    return [
        *steps,
        Step("submit", submit.main, first_run),
        Step("set current", publish.main, lambda: [*chosen, "--set-current", "--from", str(submitted)]),
    ]


# How often the full build's state is read while following it.
POLL_SECONDS = 10.0
_DONE = ("SUCCESS", "FAILURE", "INTERNAL_ERROR", "TIMEOUT", "CANCELLED", "EXPIRED")


def full_build(config: EnvironmentConfig, branch: str, wait: float, sleep: Callable[[float], None] = time.sleep) -> int:
    """Start the pipeline's `full` trigger on `branch` and follow the build to its end (at most `wait` s).

    0 when it succeeded (the image, the template, a first run and the pointer are there), 1 when it failed or
    is still running when the wait is over (its log in the build-logs bucket says why).
    """
    from google.cloud.devtools.cloudbuild_v1 import Build, RepoSource, RunBuildTriggerRequest

    from release import approvals

    gcp = config.gcp
    assert gcp is not None
    # The pipeline's own full trigger (infra/parts/build_triggers.py: one per pipeline for full and modules).
    trigger = gcp.name(trigger_kind("full", config.selected))
    cloud_build = approvals.client()
    request = RunBuildTriggerRequest(
        name=f"projects/{gcp.project}/locations/{gcp.region}/triggers/{trigger}",
        source=RepoSource(project_id=gcp.project, branch_name=branch),
    )
    build_id = str(cloud_build.run_build_trigger(request=request).metadata.build.id)
    print(f"started build {build_id} of {trigger} on {branch}: image, compile, publish, first run, pointer")
    name = approvals.build_name(gcp, build_id)
    deadline = time.monotonic() + wait
    while True:
        build = cloud_build.get_build(name=name)
        status = Build.Status(build.status).name
        if status in _DONE:
            break
        if time.monotonic() >= deadline:
            print(f"build {build_id} is still {status} after {wait:.0f} s: follow it, then rerun", file=sys.stderr)
            return 1
        sleep(POLL_SECONDS)
    if status != "SUCCESS":
        print(f"build {build_id} ended {status}: {build.status_detail}", file=sys.stderr)
        return 1
    print(f"build {build_id}: SUCCESS")
    return 0


def run(steps: list[Step], pipeline: str = "") -> int:
    where = f"{pipeline}: " if pipeline else ""
    for step in steps:
        print(f"== {where}{step.name}", flush=True)
        code = step.main(step.argv())
        if code != 0:
            print(
                f"bootstrap stopped at {where}{step.name} (exit {code}); fix what it says and run it again",
                file=sys.stderr,
            )
            if step.hint:
                print(step.hint, file=sys.stderr)
            return code
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="release.bootstrap", description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, help="a cloud environment (envs/<env>.yaml with a gcp section)")
    add_pipeline_argument(parser)
    parser.add_argument("--image", help="publishing environment: the pipeline image by digest (default: recorded)")
    parser.add_argument("--commit", help="adopting environment: the commit whose template to run (default: HEAD)")
    parser.add_argument("--branch", default="main", help="the branch the release is recorded on (default: main)")
    parser.add_argument(
        "--wait", type=float, default=5400, help="seconds to follow the full build, or to wait for the adopted template"
    )
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", category=FutureWarning)  # google-cloud's Python 3.10 notices.
    try:
        config = load_environment(args.env)
        if config.gcp is None:
            raise ConfigError(
                f"environment '{config.name}' has no gcp section: a local run seeds .local/data itself and the "
                "local main job (nox -s cicd) publishes; there is nothing to bootstrap"
            )
        if args.image and config.gcp.releases_from is not None:
            raise ConfigError(
                f"--image: environment '{config.name}' builds nothing, it runs {config.gcp.releases_from}'s releases"
            )
        pipelines = [load_pipeline_environment(args.env, args.pipeline)] if args.pipeline else config.each_pipeline()
    except (ConfigError, ChangesError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for each in pipelines:
        code = bootstrap_pipeline(each, args)
        if code != 0:
            return code
    return 0


def bootstrap_pipeline(config: EnvironmentConfig, args: argparse.Namespace) -> int:
    """Seed, release and point one pipeline of the environment; its exit status."""
    pipeline = config.selected
    try:
        work = WORK / config.name / pipeline
        work.mkdir(parents=True, exist_ok=True)
        print(f"== {pipeline}: seed", flush=True)
        seed(config)
        steps = release_steps(config, args, work)
    except (ConfigError, ChangesError, FileNotFoundError) as err:
        print(f"error: {pipeline}: {err}", file=sys.stderr)
        return 2
    except Exception as err:
        return exit_status(err, note=f" (bootstrap stopped at {pipeline}: seed; run it again)")
    return run(steps, pipeline)


if __name__ == "__main__":
    sys.exit(main())
