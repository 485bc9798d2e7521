"""The one task entry point: CI and Cloud Build call only these sessions. `nox -l` lists them.

Sessions that touch TFX run on Python 3.10 (TFX 1.16 supports 3.9-3.10), found by `find_python310`, in
virtualenvs built by uv from the hashed lock files in requirements/ and reused between runs.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import shutil
import sys
from pathlib import Path

import nox

REPO = Path(__file__).parent
sys.path.insert(0, str(REPO))  # nox does not put the noxfile's folder on the import path.

from ci.credentials import MISSING as CREDENTIALS_MISSING  # noqa: E402
from ci.credentials import credentials_file  # noqa: E402
from ci.python310 import MISSING_PY310, MISSING_PY312, find_python, find_python310  # noqa: E402
from ci.runner import TF_ENV as STEP_TF_ENV  # noqa: E402
from ci.workflows import SESSION_COMMANDS, pipeline_unit_tests  # noqa: E402

REQ = REPO / "requirements"
PIPELINE_LOCKS = (REQ / "pipeline.txt",)
TEST_LOCKS = (REQ / "pipeline.txt", REQ / "dev.txt")
LINT_LOCKS = (REQ / "lint.txt",)
INFRA_LOCKS = (REQ / "infra.txt",)
CHECKOV_LOCKS = (REQ / "checkov.txt",)
# The cloud rehearsal on Python 3.12: the function's own lock plus the stand-in's (rehearsal.in constrains it).
REHEARSAL_LOCKS = (REQ / "rehearsal.txt",)
FUNCTION_DIR = REPO / "cloudfunctions" / "trigger_pipeline"
# The function's tests: exactly its own lock (what Cloud Functions installs) plus the test tools.
FUNCTION_TEST_LOCKS = (FUNCTION_DIR / "requirements.txt", REQ / "function-tests.txt")
# The data check without its TensorFlow edges (rules.py reads the schema proto, evaluate.py the model).
DATACHECK_TYPED = (
    "batch",
    "check",
    "files",
    "gcs_store",
    "layout",
    "lease",
    "local_store",
    "records",
    "spans",
    "store",
)
# Type-checked code: everything that does not import TensorFlow/TFX (those ship no usable stubs).
TYPED = (
    "ci",
    "contracts",
    "pipelines/staging.py",
    "pipelines/local_data.py",
    "localcloud/run_store.py",
    "localcloud/run_service.py",
    "localcloud/runs_cli.py",
    "pipelines/worktree.py",
    "release/cloud_errors.py",
    # The move journal, its rules and the local mover (the Vertex side calls Google clients, which ship no stubs).
    *(f"release/promotion/{name}.py" for name in ("journal", "local_journal", "local_mover", "rules", "targets")),
    *(f"release/datacheck/{name}.py" for name in DATACHECK_TYPED),
    "pipelines/outcome.py",
    "infra/access.py",
    "infra/access_model.py",
    "infra/access_readme.py",
    "infra/checks.py",
    "infra/checkov_run.py",
    "infra/checkov_skips.py",
    "infra/function_source.py",
    "infra/provider_import.py",
)
TFX_VENV = REPO / ".nox" / "tfx"
INFRA_VENV = REPO / ".nox" / "infra"
INFRA_OUT = REPO / "build" / "infra"  # the synthesized Terraform JSON: stacks/<env>/cdk.tf.json
# The infra code imports contracts and ci; CHECKPOINT_DISABLE turns off CDKTF's telemetry.
INFRA_ENV = {"PYTHONPATH": str(REPO), "CHECKPOINT_DISABLE": "1"}
UV = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
# Read by TensorFlow at import: TFX 1.16 expects tf_keras (Keras 2), not Keras 3; quiet the C++ logs.
TF_ENV = {**STEP_TF_ENV, "PYTHONPATH": str(REPO)}

nox.options.default_venv_backend = "uv"
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lint", "tests"]

PY310 = find_python310()
# The Cloud Function's runtime (python312): its tests run on it.
PY312 = find_python("3.12")


def _require_py310(session: nox.Session) -> None:
    if PY310 is None:
        session.error(MISSING_PY310)


def _sync(session: nox.Session, location: Path, locks: tuple[Path, ...]) -> None:
    """Make the venv at `location` exactly match `locks`; skipped when they have not changed since last time."""
    digest = hashlib.sha256(b"".join(lock.read_bytes() for lock in locks)).hexdigest()
    marker = location / ".locks-sha256"
    if marker.exists() and marker.read_text() == digest:
        session.log(f"{location.name}: environment matches the lock files; nothing to install")
        return
    # --python names the target explicitly: inside another session's venv, nox's environment would otherwise
    # point uv at that venv instead of `location`.
    session.run_install(
        UV,
        "pip",
        "sync",
        "--require-hashes",
        "--python",
        str(location / "bin" / "python"),
        *map(str, locks),
        env={"VIRTUAL_ENV": str(location), "UV_COMPILE_BYTECODE": "1"},
        external=True,
    )
    marker.write_text(digest)


def install_locked(session: nox.Session, locks: tuple[Path, ...]) -> None:
    """Sync the session's own venv to `locks`."""
    _sync(session, Path(session.virtualenv.location), locks)


def shared_python(session: nox.Session, location: Path, locks: tuple[Path, ...]) -> str:
    """The interpreter of a venv several sessions share, created and synced to `locks` under a file lock.

    The main job runs the unit tests alongside the image and compile steps: two sessions may prepare the
    same venv at once, and the lock makes the second wait for the first instead of installing over it.
    """
    _require_py310(session)
    assert PY310 is not None
    location.parent.mkdir(parents=True, exist_ok=True)
    with open(location.parent / f".{location.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (location / "bin" / "python").exists():
            session.run(UV, "venv", "--quiet", "--python", PY310, str(location), external=True)
        _sync(session, location, locks)
    return str(location / "bin" / "python")


def tfx_python(session: nox.Session) -> str:
    """The interpreter of the one venv that every TFX session except `tests` shares (.nox/tfx).

    nox gives each session its own venv; these sessions all need the same 2 GB of locked packages, so they
    share one instead of installing and byte-compiling it once per session. The pipeline and dev locks: the
    trigger sessions serve the function (functions-framework), and that server starts pipeline runs.
    """
    return shared_python(session, TFX_VENV, TEST_LOCKS)


def run_tfx(session: nox.Session, *args: str) -> None:
    session.run(tfx_python(session), *args, env=TF_ENV, external=True)


@nox.session(python=False)
def lock(session: nox.Session) -> None:
    """Regenerate every lock file from its .in file: requirements/ and the function's (needs uv and the index)."""
    compile_ = ("uv", "pip", "compile", "--generate-hashes", "--quiet")
    linux310 = ("--python-version", "3.10", "--python-platform", "x86_64-manylinux_2_36")
    with session.chdir(REQ):
        session.run(*compile_, *linux310, "pipeline.in", "-o", "pipeline.txt", external=True)
        session.run(*compile_, *linux310, "dev.in", "-c", "pipeline.txt", "-o", "dev.txt", external=True)
        for name in ("tools", "lint"):
            session.run(
                *compile_, "--universal", "--python-version", "3.9", f"{name}.in", "-o", f"{name}.txt", external=True
            )
        for name in ("infra", "checkov"):
            session.run(
                *compile_, "--universal", "--python-version", "3.10", f"{name}.in", "-o", f"{name}.txt", external=True
            )
    # The function's own lock, for its runtime (python312 on Ubuntu 22.04, glibc 2.35), and its test tools.
    function312 = ("--python-version", "3.12", "--python-platform", "x86_64-manylinux_2_35")
    with session.chdir(FUNCTION_DIR):
        session.run(*compile_, *function312, "requirements.in", "-o", "requirements.txt", external=True)
    with session.chdir(REQ):
        # Relative: the lock's header names the command, and a path of this checkout would not hold elsewhere.
        function_lock = str(Path("..") / FUNCTION_DIR.relative_to(REPO) / "requirements.txt")
        session.run(
            *compile_, *function312, "function-tests.in", "-c", function_lock, "-o", "function-tests.txt", external=True
        )
        session.run(*compile_, *function312, "rehearsal.in", "-c", function_lock, "-o", "rehearsal.txt", external=True)


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff lint and format check over the repository, and mypy on the code that does not import TFX."""
    install_locked(session, LINT_LOCKS)
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("mypy", *TYPED)


# Without Python 3.10 this session gets no venv, so its first line can say what is missing (nox's own
# "interpreter not found" would come first otherwise).
@nox.session(python=PY310 or False)
def tests(session: nox.Session) -> None:
    """The whole test suite, what CI runs: the TFX tiers here, then `function_tests`, `checkov`, `infra_tests` and
    `rehearse` (each in its own environment).

    Extra arguments go to pytest and run only those, e.g. `nox -s tests -- -m "not e2e"` for the fast tiers.
    """
    _require_py310(session)
    install_locked(session, TEST_LOCKS)
    if session.posargs:
        session.run("pytest", *session.posargs, env=TF_ENV)
        return
    # tests/infra needs CDKTF, which lives in the infra environment: infra_tests runs it. tests/function runs
    # on the function's own runtime and requirements: function_tests runs it. tests/rehearsal (the stand-in's
    # own tests) needs Google's discovery documents of the 2.x API client: rehearse runs it, then the rehearsal.
    session.run("pytest", "--ignore=tests/infra", "--ignore=tests/function", "--ignore=tests/rehearsal", env=TF_ENV)
    session.notify("function_tests")
    session.notify("checkov")
    session.notify("infra_tests")
    session.notify("rehearse")


# Without Python 3.12 this session gets no venv, so its first line can say what is missing.
@nox.session(python=PY312 or False)
def function_tests(session: nox.Session) -> None:
    """tests/function: the Cloud Function on Python 3.12 (its runtime) with exactly its own locked requirements.

    Arguments go to pytest and run only those (default tests/function), e.g. `-- tests/function/test_settings.py`.
    No TensorFlow, TFX or pipeline code here: the tests of the function's local backend, which needs them, are in
    tests/unit (the TFX environment).
    """
    if PY312 is None:
        session.error(MISSING_PY312)
    install_locked(session, FUNCTION_TEST_LOCKS)
    # The repository root on the path: the function imports `contracts`, as its deployed source ships it.
    session.run("pytest", *(session.posargs or ["tests/function"]), env={"PYTHONPATH": str(REPO)})


@nox.session(python=False)
def pipeline(session: nox.Session) -> None:
    """Run the training pipeline on the local environment and print its summary; then test the version it
    registered and auto-promote it where the environment does (as after every local run).

    Arguments go to pipelines.local_runner, e.g. `nox -s pipeline -- --num-epochs 5 --learning-rate 0.02`.
    """
    run_tfx(session, "-m", "localcloud.pipeline_run", *session.posargs)


@nox.session(python=False)
def bench(session: nox.Session) -> None:
    """Benchmark: cold local run, fully cached rerun, and the plain-Keras floor; writes benchmarks/results/."""
    run_tfx(session, "-m", "benchmarks.local_pipeline", *session.posargs)


@nox.session(python=False)
def bench_scale(session: nox.Session) -> None:
    """The scale curve: the local pipeline on generated 10k, 100k and 1M-row spans, time and peak memory per component.

    Bounded (`-- --max-seconds 900` for the whole curve): a size predicted to pass the bound is skipped, saying
    why. `-- --sizes N ...`, `--num-epochs N` (default 1), `--direct-workers N` (DirectRunner multi-process).
    """
    run_tfx(session, "-m", "benchmarks.scale_curve", *session.posargs)


@nox.session(python=False)
def unit(session: nox.Session) -> None:
    """The fast unit tests, the first step of every pipeline workflow: `nox -s unit -- [pytest args]`.

    The default is tests/unit without the `slow` ones (subprocesses, SIGKILLs, a GCS stand-in, a real MLflow
    registry: seconds each), which `tests` (the full suite, what CI and the pull-request checks run) includes.
    `pipeline:NAME` among the arguments stands for that pipeline's own tests (tests/unit/test_NAME_*.py), what the
    `modules` workflow runs. Runs in the shared TFX environment, so the main job does not build a second one.
    """
    args = []
    for arg in session.posargs:
        if arg.startswith("pipeline:"):
            found = pipeline_unit_tests([arg.removeprefix("pipeline:")])
            if not found:
                session.log(f"{arg}: no tests/unit/test_{arg.removeprefix('pipeline:')}_*.py to run")
            args += found
        else:
            args.append(arg)
    if session.posargs and not args:
        return  # only pipelines without tests of their own were named
    run_tfx(session, *SESSION_COMMANDS["unit"], *(args or ["-m", "not slow", "tests/unit"]))


@nox.session(python=False)
def new_pipeline(session: nox.Session) -> None:
    """A new pipeline, copied from another: `nox -s new_pipeline -- NAME [--from diabetes]` (folder, env entries)."""
    run_tfx(session, "-m", "release.scaffold", *session.posargs)


@nox.session(python=False)
def image(session: nox.Session) -> None:
    """The pipeline image for a compile: build it (Docker engine), record a pushed one, or find the existing one.

    `nox -s image -- --env local --commit SHA --output FILE` builds when a Docker engine answers and otherwise
    says the build is skipped and why; `--built FILE` records the digest kaniko pushed (Cloud Build);
    `--existing` finds the image recorded for the current image inputs (the `modules` fast path).
    """
    run_tfx(session, *SESSION_COMMANDS["image"], *session.posargs)


@nox.session(python=False)
def compile(session: nox.Session) -> None:
    """Compile the pipeline to a Vertex AI PipelineJob spec (offline): build/vertex/<env>/pipeline.json.

    `nox -s compile -- --env dev --pipeline P --image REGION-docker.pkg.dev/PROJECT/REPO/pipeline@sha256:DIGEST`, or
    `--image-from FILE` (the image step's result). A local environment compiles with its local folders.
    """
    run_tfx(session, *SESSION_COMMANDS["compile"], *session.posargs)


@nox.session(python=False)
def golden(session: nox.Session) -> None:
    """Regenerate tests/golden/<pipeline>/vertex_pipeline.json, a pipeline's normalised template (`-- --pipeline P`)."""
    run_tfx(session, "-m", "pipelines.kubeflow_v2_runner", "--update-golden", "--env", "dev", *session.posargs)


@nox.session(python=False)
def publish(session: nox.Session) -> None:
    """Publish a compiled pipeline (wheels, schema, modules, template), content-addressed and create-only.

    `nox -s publish -- --env dev --pipeline P --commit SHA --branch main [--to DIR]`; prints the template URI to submit.
    The local environment publishes to .local/published. After a submitted run,
    `nox -s publish -- --env ENV --set-current --from SUBMIT_RESULT` moves ENV's current-template pointer.
    """
    run_tfx(session, *SESSION_COMMANDS["publish"], *session.posargs)


@nox.session(python=False)
def submit(session: nox.Session) -> None:
    """Submit a pipeline run: `nox -s submit -- --env local --num-epochs 5 --learning-rate 0.01 [--follow]`.

    On `local` the run executes in a worker process and `nox -s runs` follows it; on dev/prod it is a
    Vertex AI PipelineJob of the environment's current template (or `--template commit:<sha>`), judged
    against the registry's champion.
    """
    run_tfx(session, *SESSION_COMMANDS["submit"], *session.posargs)


@nox.session(python=False)
def adopt(session: nox.Session) -> None:
    """Wait for the template the release store published for a commit (prod adopts dev's), for `submit`.

    `nox -s adopt -- --env prod --pipeline P --commit SHA --branch main --result-file FILE [--wait 5400]`: what
    prod's push builds run instead of compiling (ci/cloudbuild/adopt.yaml); exit 1 when nothing was published in
    time.
    """
    run_tfx(session, "-m", "release.adopt", *session.posargs)


@nox.session(python=False)
def bootstrap(session: nox.Session) -> None:
    """A new project after `cdktf deploy`: seed the shipped spans, publish (or adopt) a first template, run it.

    `nox -s bootstrap -- --env dev` does each pipeline of the environment in turn (`--pipeline P`: that one):
    it seeds gs://<prefix>-data/<pipeline> create-only, then starts the pipeline's `<prefix>-<pipeline>-full`
    build on the CI branch and follows it (it builds the image, compiles, publishes, submits a first run and sets
    the current-template pointer); with `--image REF@sha256:D` this process compiles, publishes, submits and
    sets the pointer itself. `-- --env prod [--commit SHA]` runs the template dev published for the commit
    instead. Safe to rerun.
    """
    run_tfx(session, "-m", "release.bootstrap", *session.posargs)


@nox.session(python=False)
def runs(session: nox.Session) -> None:
    """Local runs: `nox -s runs` lists them; `-- show JOB_ID`; `-- follow JOB_ID` follows one to its end."""
    run_tfx(session, "-m", "localcloud.runs_cli", *session.posargs)


@nox.session(python=False)
def models(session: nox.Session) -> None:
    """The model registry: `nox -s models -- list | show VERSION | promote VERSION | auto-promote VERSION |
    rollback [--to VERSION] | approve BUILD_ID [--reject] | history | repair`.

    Each takes `--env` (a name in envs/; default local), `--pipeline NAME` (the pipeline whose model it works on;
    needed where the environment has several), `--local-root DIR` and `--json`. A version must have passed its
    pipeline's model tests (a recorded pass, or they run first); every move is a recorded transaction, and
    `repair` settles one that stopped half way. Where release.auto_promote is off a move needs an approval:
    locally `--approve NAME`; on Google Cloud promote and rollback start the approval-gated promote build and
    print its id, which `approve` decides.
    """
    run_tfx(session, "-m", "release.models_cli", *session.posargs)


@nox.session(python=False)
def model_tests(session: nox.Session) -> None:
    """The model tests on a pipeline's champion: `nox -s model_tests -- [--env local] [--pipeline NAME |
    --all-pipelines] [--local-root DIR]`.

    What the `model-tests` route runs when release/model_tests/ or a pipeline's model tests change: tests the
    current champion with its pipeline's tests, records the outcome with its version, and rolls a failing
    champion back where release.on_failed_model_tests says so. `--pipeline` is needed where the environment has
    several pipelines; `--all-pipelines` tests each one's champion in turn.
    """
    run_tfx(session, *SESSION_COMMANDS["model_tests"], *session.posargs)


@nox.session(python=False)
def serve(session: nox.Session) -> None:
    """Serve each pipeline's champion on 127.0.0.1, one port for all: `nox -s serve -- [--env local]
    [--pipeline NAME] [--local-root DIR] [--port 8080] [--no-log | --log-sample-rate RATE] [--log-root DIR]`.

    `POST /v1/models/<pipeline>:predict` with {"instances": [...raw features...]} answers with that pipeline's
    champion (an unknown pipeline: 404 naming those served); every pipeline of the environment by default,
    `--pipeline NAME` for one. A promotion or rollback is served as soon as the new version is loaded (a
    rollback: at once), without a restart. The server is the image's serving/ package; on a Vertex AI endpoint
    the image runs it as `python -m serving --vertex`, one model per endpoint.

    It logs a sample of each pipeline's requests and answers (its `monitoring.log_sample_rate`, all by default)
    to <local root>/predictions/<pipeline>/, where `nox -s monitor` reads them; `--no-log` logs none.
    """
    run_tfx(session, "-m", "localcloud.serving", *session.posargs)


@nox.session(python=False)
def bench_serve(session: nox.Session) -> None:
    """Benchmark the local server (loopback, bounded) on one pipeline's champion (`-- --pipeline NAME` where the
    environment has several): throughput, p50/p99 with 16 senders vs in process (direct and micro-batched) and vs
    MLflow's own server on the same champion; the prediction log's cost (every request logged vs none, alternating
    rounds, against the 10% throughput / 10% p99 budget); promote and rollback (to the new version answering) and
    models list, typed through ci/nox, medians of 5."""
    run_tfx(session, "-m", "benchmarks.serving", *session.posargs)


@nox.session(python=False)
def bench_release(session: nox.Session) -> None:
    """Benchmark the release path: compile time and local submit latency (call to job id)."""
    run_tfx(session, "-m", "benchmarks.release_path", *session.posargs)


@nox.session(python=False)
def data_check(session: nox.Session) -> None:
    """The new-data check: `nox -s data_check -- [--env local|dev|prod] [--pipeline P] [--local-root DIR] [--json]`.

    Freezes the labelled records in <data>/<pipeline>/incoming/ (local, or gs://<prefix>-data on Google Cloud) as a
    batch, quarantines bad records with reasons, makes the valid ones the next span, evaluates the champion by the
    gate's metric and submits a retraining run on the rolling window when it falls short.
    """
    run_tfx(session, "-m", "release.datacheck", *session.posargs)


@nox.session(python=False)
def monitor(session: nox.Session) -> None:
    """Watch the served champion: `nox -s monitor -- [--env local|dev|prod] [--pipeline P] [--local-root DIR]
    [--window-end TIME] [--json]`, or `-- --history`.

    Compares the requests logged in the last complete window (monitoring.window_minutes) with the champion's
    training spans (TFDV: Jensen-Shannon for numeric features, L-infinity for categorical ones, the predictions
    too, and the share the schema refused), writes report.json and report.html under the pipeline's data area
    (monitoring/<window>/), and acts as monitoring.action says: report, alert (exit status 1 locally, a Cloud
    Monitoring metric on Google Cloud) or retrain (also one retraining run per window).
    """
    run_tfx(session, "-m", "release.monitor", *session.posargs)


@nox.session(python=False)
def bench_monitor(session: nox.Session) -> None:
    """Benchmark the monitor: `nox -s monitor` on 100k and 1M logged requests (a fresh process each, as typed)."""
    run_tfx(session, "-m", "benchmarks.monitor", *session.posargs)


@nox.session(python=False)
def bench_data(session: nox.Session) -> None:
    """Benchmark the new-data check: start to submission for 1k, 10k and 100k records in 10 files.

    `-- --champion-root DIR`: a local root whose registry has a champion to evaluate (default: the local one).
    """
    run_tfx(session, "-m", "benchmarks.data_check", *session.posargs)


@nox.session(python=False)
def labelled_data(session: nox.Session) -> None:
    """New labelled records of a pipeline into its local incoming/: `-- --pipeline P --records 200 [--drift ...]`."""
    run_tfx(session, "-m", "localcloud.labelled_data", *session.posargs)


@nox.session(python=False)
def trigger(session: nox.Session) -> None:
    """Trigger a run the way Pub/Sub does: `nox -s trigger -- --num-epochs 5 --learning-rate 0.01`.

    Starts (or reuses) the trigger function under functions-framework on localhost, posts the CloudEvent
    Pub/Sub would post, and follows the resulting local run to its end. `-- --stop` stops the server.
    """
    run_tfx(session, "-m", "localcloud.pubsub", *session.posargs)


@nox.session(python=False)
def bench_trigger(session: nox.Session) -> None:
    """Load benchmark of the trigger function (dry-run backend) on loopback: throughput, p50/p99, exactness."""
    run_tfx(session, "-m", "benchmarks.trigger_load", *session.posargs)


@nox.session(python=False)
def cicd(session: nox.Session) -> None:
    """The main job: run locally the workflows Cloud Build would run for what changed, through these sessions.

    Plans from the routing table (ci/routing.py) and the changes since the last successful run on the
    environment (committed and uncommitted), runs each step's nox session, records the commit on success
    and prints a summary (steps and seconds, run id, blessed or not, model version).
    `nox -s cicd -- [--env local] [--base REF | --all] [--dry-run]`
    """
    session.run(sys.executable, "-m", "ci.cicd", *session.posargs, env={"PYTHONPATH": str(REPO)}, external=True)


@nox.session(python=False)
def plan(session: nox.Session) -> None:
    """Print which workflows a change runs (JSON): `nox -s plan -- --files PATH...` or `-- --base REF`."""
    session.run(sys.executable, "-m", "ci.plan", *session.posargs, env={"PYTHONPATH": str(REPO)}, external=True)


@nox.session(python=False)
def tfplan(session: nox.Session) -> None:
    """Terraform plan of an environment's synthesized stack: `nox -s tfplan -- --env dev` (after `nox -s synth`).

    Skipped, saying why, for an environment synth made no stack for (one without a gcp section, e.g. local),
    without a terraform binary, or without Google Cloud credentials; Cloud Build runs the same plan in the
    Terraform image.
    """
    parser = argparse.ArgumentParser(prog="nox -s tfplan --")
    parser.add_argument("--env", default="dev")
    env = parser.parse_args(session.posargs).env
    stacks = INFRA_OUT / "stacks"
    stack = stacks / env / "cdk.tf.json"
    if not stacks.is_dir():
        session.error(f"{stacks} not found: run `nox -s synth` first")
    if not stack.is_file():
        synthesized = ", ".join(sorted(p.name for p in stacks.iterdir())) or "none"
        session.skip(f"'{env}' has no cloud stack to plan (synth made: {synthesized}; only environments with gcp do)")
    if shutil.which("terraform") is None:
        session.skip("no terraform binary on PATH")
    if credentials_file() is None:
        session.skip(CREDENTIALS_MISSING)
    session.run("terraform", f"-chdir={stack.parent}", "init", "-input=false", external=True)
    session.run("terraform", f"-chdir={stack.parent}", "plan", "-input=false", "-lock=false", external=True)


@nox.session(python=False)
def bench_cicd(session: nox.Session) -> None:
    """Benchmark the main job on a temporary copy: docs-only decision time, start-to-submission for modules/full."""
    session.run(sys.executable, "-m", "benchmarks.cicd", *session.posargs, external=True)


def infra_python(session: nox.Session) -> str:
    """The interpreter of the shared infra venv (.nox/infra: CDKTF and the provider), synced to its lock."""
    return shared_python(session, INFRA_VENV, INFRA_LOCKS)


def _synthesize(session: nox.Session, *args: str) -> None:
    """python -m infra.synth in the infra venv: CDKTF runs jsii, so this is what needs Node.js."""
    session.run(
        infra_python(session), "-m", "infra.synth", "--out", str(INFRA_OUT), *args, env=INFRA_ENV, external=True
    )


def _require_synthesized(session: nox.Session) -> None:
    """Stop, naming the folder, unless an earlier synth wrote at least one stack's Terraform JSON."""
    stacks = INFRA_OUT / "stacks"
    if not any(stacks.glob("*/cdk.tf.json")):
        session.error(f"{stacks} holds no synthesized stack (<env>/cdk.tf.json): run `nox -s synth` first")


@nox.session(python=False)
def synth(session: nox.Session) -> None:
    """Synthesize every cloud environment's CDKTF stack to build/infra/stacks/<env>/cdk.tf.json (all or none)."""
    _synthesize(session, *session.posargs)


# Cloud Build's synth step runs in an image with Node.js; the checks step after it needs only Python 3.10.
SYNTHESIZED = "--synthesized"


@nox.session(python=PY310 or False)
def checkov(session: nox.Session) -> None:
    """The project's own infra checks and checkov on the synthesized Terraform JSON, offline; any failure fails.

    Synthesizes first; `nox -s checkov -- --synthesized` checks what `nox -s synth` wrote instead (no Node.js
    needed), and stops naming the folder when there is nothing to check.
    """
    _require_py310(session)
    if session.posargs not in ([], [SYNTHESIZED]):
        session.error(f"usage: nox -s checkov [-- {SYNTHESIZED}]; got {' '.join(session.posargs)}")
    if SYNTHESIZED in session.posargs:
        _require_synthesized(session)
    else:
        _synthesize(session)
    install_locked(session, CHECKOV_LOCKS)
    session.run("python", "-m", "infra.checks", str(INFRA_OUT), env=INFRA_ENV)
    session.run("python", "-m", "infra.checkov_run", str(INFRA_OUT), env=INFRA_ENV)


@nox.session(python=False)
def infra_tests(session: nox.Session) -> None:
    """tests/infra: synthesized-JSON assertions, inventories, custom checks, bad input, checkov (its venv)."""
    session.run(infra_python(session), "-m", "pytest", "tests/infra", *session.posargs, env=INFRA_ENV, external=True)


@nox.session(python=False)
def bench_synth(session: nox.Session) -> None:
    """Benchmark: synthesis time of every environment's stack in a fresh process (target <= 30 s)."""
    session.run(infra_python(session), "-m", "benchmarks.infra_synth", *session.posargs, env=INFRA_ENV, external=True)


# Without Python 3.12 this session gets no venv, so its first line can say what is missing.
@nox.session(python=PY312 or False)
def rehearse(session: nox.Session) -> None:
    """The cloud rehearsal: every Google Cloud flow, end to end for each pipeline of dev and prod, on a stand-in.

    Synthesizes the stacks, builds the stand-in from their Terraform JSON (buckets, IAM, triggers, schedules,
    the function's zip) and runs what the project ships, as the accounts that run it: the Cloud Build configs'
    steps, the Scheduler jobs, the function, the registry push, promotion. The stand-in checks every request
    against Google's discovery documents and the synthesized IAM. Prints a line per flow step, writes the
    request log to build/rehearsal/, exits non-zero on any failure. First the stand-in's own tests
    (tests/rehearsal). `-- --help` for the driver's options (e.g. `--env dev`, `--budget SECONDS`).
    """
    if PY312 is None:
        session.error(MISSING_PY312)
    install_locked(session, REHEARSAL_LOCKS)
    # The flows' own steps run in the environments they run in everywhere else (nothing installed twice).
    tfx, infra = tfx_python(session), infra_python(session)
    session.run("pytest", "-q", "-p", "no:cacheprovider", "tests/rehearsal", env={"PYTHONPATH": str(REPO)})
    session.run(
        "python",
        "-m",
        "rehearsal",
        "--tfx-python",
        tfx,
        "--infra-python",
        infra,
        *session.posargs,
        env={"PYTHONPATH": str(REPO), **INFRA_ENV},
    )
