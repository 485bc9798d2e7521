"""Routing proven from the imports, both ways: a file an entry point imports fires the workflow that rebuilds or
re-checks it, and a Python file outside the retraining workflows' closures retrains nothing.

Each workflow's entry points are the code its Cloud Build steps run. Their import closures are computed from
the source (ci/import_graph.py: module- and function-level imports alike), so nobody has to remember that the
CDKTF app reads the naming rule or that the function ships the TriggerMessage, and a change to code only the
`models` command, promotion or the model tests run (not the image, not a release step) never retrains.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from ci import import_graph
from ci.changes import all_files
from ci.routing import SUPERSEDES, plan_workflows
from contracts.environment import REPO_ROOT
from infra import function_source
from release import image

FUNCTIONS = sorted(path.parent for path in (REPO_ROOT / "cloudfunctions").glob("*/main.py"))
# Every Cloud Build step runs through nox: the noxfile and what it imports decide how each step runs.
NOXFILE = REPO_ROOT / "noxfile.py"
# The local stand-ins for Google Cloud. The release commands reach them only for an environment whose backend
# is local (a lazy import on that branch); Cloud Build runs dev and prod, so its steps never load them
# (test_cloud_release_steps_never_load_the_local_stand_ins proves it by running them).
LOCAL_ONLY = REPO_ROOT / "localcloud"


def _py(*patterns: str) -> list[Path]:
    return sorted(path for pattern in patterns for path in REPO_ROOT.glob(pattern) if "__pycache__" not in path.parts)


def _closure(entry_points: list[Path], roots: list[Path] | None = None) -> list[str]:
    # What the local stand-ins import in turn is not followed: a cloud step never loads them.
    files = import_graph.closure(entry_points, roots or [REPO_ROOT], stop_at=[LOCAL_ONLY])
    return import_graph.relative((f for f in files if LOCAL_ONLY not in f.parents), REPO_ROOT)


def entry_points() -> dict[str, list[str]]:
    """workflow -> the repository files its steps run and import."""
    release_steps = _py(
        "release/image.py", "release/publish.py", "release/submit.py", "pipelines/kubeflow_v2_runner.py"
    )
    closures = {
        "full": sorted({*image.image_inputs(REPO_ROOT), *_closure([*release_steps, NOXFILE])}),
        "modules": _closure(_py("pipelines/*/modules/*.py")),
        # The model-tests step (`nox -s model_tests`): the tests, and what loads, tests and rolls back a champion.
        "model-tests": _closure([*_py("release/model_tests/*.py"), NOXFILE]),
        "infra": _closure([REPO_ROOT / "infra" / "main.py", NOXFILE]),
    }
    for folder in FUNCTIONS:
        # What deploys: the folder and the contracts its archive ships (infra/function_source.py, from the imports).
        deployed = import_graph.relative((path for _, path in function_source.archive_members(folder)), REPO_ROOT)
        closures[f"function:{folder.name}"] = sorted({*deployed, *_closure([NOXFILE])})
    return closures


def _fires(path: str, workflow: str) -> bool:
    planned = plan_workflows([path])
    return workflow in planned or SUPERSEDES.get(workflow) in planned


@pytest.mark.parametrize("workflow", sorted(entry_points()))
def test_every_file_an_entry_point_imports_fires_its_workflow(workflow):
    route = workflow.split(":")[0]
    files = entry_points()[workflow]
    assert files, f"{workflow}: no entry point found"
    unrouted = [path for path in files if not _fires(path, route)]
    assert not unrouted, f"{workflow}: these files are imported by its entry points but do not fire it: {unrouted}"


# The workflows that train: a change that fires one of them costs a pipeline run.
RETRAINING = ("full", "modules")


def _retrains(path: str) -> bool:
    return bool(set(plan_workflows([path])) & set(RETRAINING))


def test_a_python_file_outside_the_retraining_closures_retrains_nothing():
    """The other way: every Python file that fires `full` or `modules` is one their steps run or import."""
    closures = entry_points()
    retraining = {path for workflow in RETRAINING for path in closures[workflow]}
    python = [path for path in all_files(REPO_ROOT) if path.endswith(".py")]
    retrains = [path for path in python if path not in retraining and _retrains(path)]
    assert not retrains, f"these fire a retraining workflow, but no retraining step runs or imports them: {retrains}"
    assert len(python) > 100 and any(path in retraining for path in python)


@pytest.mark.parametrize(
    "path",
    [
        "release/models_cli.py",
        "release/approvals.py",
        "release/promotion/moves.py",
        "release/promotion/vertex_mover.py",
        "release/model_tests/smoke.py",
        "pipelines/penguins/model_tests/smoke_records.json",
        "pipelines/diabetes/model_tests/smoke_records.json",
        "release/datacheck/check.py",
        "release/monitor/cli.py",
        "ci/cloudbuild/monitor.yaml",
        "ci/cloudbuild/canary.yaml",
        "release/monitor/canary.py",
        "release/promotion/canary.py",
        "localcloud/run_worker.py",
    ],
)
def test_a_change_to_what_only_the_release_commands_run_never_retrains(path):
    assert not _retrains(path), plan_workflows([path])


@pytest.mark.parametrize(
    "path",
    [
        "release/model_tests/behaviour.py",
        "release/model_tests/suite.py",
        "pipelines/penguins/model_tests/smoke_records.json",
    ],
)
def test_a_change_to_the_model_tests_fires_their_route_alone(path):
    from ci.plan import plan

    assert plan([path])["workflows"] == ["model-tests"]


def test_the_image_identity_is_the_image_closure_and_nothing_else():
    """A file outside the image's closure (a local tool, the release commands, tests) never changes its identity."""
    inputs = set(image.image_inputs(REPO_ROOT))
    trees = [
        p
        for p in _py("components/**/*.py", "pipelines/**/*.py", "serving/**/*.py")
        if not image.excluded_from_image(p.relative_to(REPO_ROOT).as_posix())
    ]
    code = set(import_graph.relative(import_graph.closure(trees, [REPO_ROOT]), REPO_ROOT))
    data = {p for p in inputs if not p.endswith(".py")}
    assert inputs - data == code
    assert not [
        p for p in inputs if p.startswith(("localcloud/", "release/", "ci/", "tests/")) or image.excluded_from_image(p)
    ]
    assert not [p for p in inputs if p.startswith("pipelines/") and ("/modules/" in p or "/data/" in p)]
    assert not [p for p in inputs if p.startswith("pipelines/") and "/model_tests/" in p]
    assert {"Dockerfile", ".dockerignore", "requirements/pipeline.txt"} <= data


def test_the_image_identity_moves_with_its_closure_only(tmp_path):
    """Changing an imported contract changes the identity; changing a local tool does not."""
    import shutil

    for name in ("Dockerfile", ".dockerignore"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    (tmp_path / "requirements").mkdir()
    shutil.copy(REPO_ROOT / "requirements" / "pipeline.txt", tmp_path / "requirements" / "pipeline.txt")
    for tree in ("components", "pipelines", "serving", "contracts", "localcloud"):
        shutil.copytree(REPO_ROOT / tree, tmp_path / tree, ignore=shutil.ignore_patterns("__pycache__"))
    before = image.inputs_sha256(tmp_path)
    # (Every contract is in the closure now: the registry push reads its run's labels by run_request's rules.)
    (tmp_path / "localcloud" / "runs_cli.py").write_text("# edited\n", encoding="utf-8")
    assert image.inputs_sha256(tmp_path) == before, "a file outside the image's closure changed its identity"
    with open(tmp_path / "contracts" / "parameters.py", "a", encoding="utf-8") as handle:
        handle.write("# edited\n")
    assert image.inputs_sha256(tmp_path) != before, "an imported contract did not change the image's identity"


def test_the_import_graph_sees_lazy_and_relative_imports(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text("def f():\n    from pkg import b\n")
    (tmp_path / "pkg" / "b.py").write_text("from . import c\nimport json\n")
    (tmp_path / "pkg" / "c.py").write_text("")
    (tmp_path / "pkg" / "unused.py").write_text("")
    found = import_graph.relative(import_graph.closure([tmp_path / "pkg" / "a.py"], [tmp_path]), tmp_path)
    assert found == ["pkg/__init__.py", "pkg/a.py", "pkg/b.py", "pkg/c.py"]


def _imports_up_to_the_local_stand_ins(folder: Path) -> set[Path]:
    """Every file the function's code imports, transitively, without following imports out of localcloud/."""
    pending, seen = [path.resolve() for path in folder.glob("*.py")], set()
    while pending:
        file = pending.pop()
        if file not in seen:
            seen.add(file)
            if LOCAL_ONLY not in file.parents:
                pending.extend(import_graph.direct_imports(file, [folder, REPO_ROOT]))
    return seen


def test_the_function_imports_only_the_contracts_from_the_repository():
    """Nothing but contracts/, and localcloud/ lazily from the local backend: local-only, never deployed.

    What localcloud imports in turn (release, pipelines) is the local backend's business, not the function's:
    the deployed archive holds neither, and a cold start never reaches them.
    """
    for folder in FUNCTIONS:
        files = _imports_up_to_the_local_stand_ins(folder)
        outside = import_graph.relative((f for f in files if folder.resolve() not in f.parents), REPO_ROOT)
        assert all(p.startswith(("contracts/", "localcloud/")) for p in outside), outside
        # The local stand-ins are imported only inside a function body (on first use of the local backend).
        for path in folder.glob("*.py"):
            tree = ast.parse(path.read_text())
            top_level = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
            names = [node.module or "" for node in top_level if isinstance(node, ast.ImportFrom)]
            names += [alias.name for node in top_level if isinstance(node, ast.Import) for alias in node.names]
            assert not [name for name in names if name.split(".")[0] == LOCAL_ONLY.name], path.name
        # ... and the archive ships exactly the contracts part.
        shipped = import_graph.relative(function_source.repository_imports(folder), REPO_ROOT)
        assert shipped == [p for p in outside if p.startswith("contracts/")]


def test_cloud_release_steps_never_load_the_local_stand_ins():
    """What LOCAL_ONLY claims: submitting to a cloud environment loads nothing from localcloud/."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from release import image, publish, submit\n"
        "from pipelines import kubeflow_v2_runner\n"
        "from contracts.config import load_environment\n"
        "args = submit._parse(['--env', 'dev', '--template', 'gs://b/templates/' + '0' * 64 + '/pipeline.json'])\n"
        "submit._submitter(args, load_environment('dev'))\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] == 'localcloud')\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_what_the_release_commands_import_from_localcloud_never_imports_release_back():
    """No import runs release -> localcloud -> release (it did through release.lineage): the local stand-ins
    that a release command reaches for the local backend stand on contracts/ and pipelines/ alone."""
    release_files = _py("release/**/*.py")
    reached = {
        dep
        for file in release_files
        for dep in import_graph.direct_imports(file.resolve(), [REPO_ROOT])
        if LOCAL_ONLY in dep.parents
    }
    assert reached, "no release command imports localcloud any more: this test guards nothing"
    back = import_graph.relative(
        (f for f in import_graph.closure(sorted(reached), [REPO_ROOT]) if (REPO_ROOT / "release") in f.parents),
        REPO_ROOT,
    )
    assert back == [], f"localcloud modules the release commands import reach release/ again: {back}"
