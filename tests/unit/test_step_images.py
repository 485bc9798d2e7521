"""Every Cloud Build step needs only what its image has, plus /workspace.

IMAGES says, per step image used in ci/cloudbuild/*.yaml, which tools it has. What a step needs is derived,
not listed: its entrypoint (or the image's own), the commands of a `-c` script, what `ci/nox` runs itself,
and what the nox session it runs needs, read from the noxfile's source: the Python its decorator or helpers
find (PY310 = find_python310(), ...), the external commands it runs, the sessions it notifies, the infra venv
(CDKTF runs jsii on Node.js) and what the tests it runs call (git). Branches on `session.posargs` follow the
step's arguments, so `checkov -- --synthesized` needs no Node.js while `checkov` does.
"""

from __future__ import annotations

import ast
import re
import shlex
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
import yaml

from ci.routing import route
from contracts.config import REPO_ROOT

# Debian bookworm's essential packages (dash, bash, util-linux: `ci/nox` takes a flock). apt-get is there too
# and left out on purpose: a step installs nothing at build time, so one that tries fails here ...
DEBIAN = frozenset({"sh", "bash", "flock"})
# ... and what the official python images add: the interpreter with ensurepip (venv) and pip.
OFFICIAL_PYTHON = frozenset({"python3", "venv", "pip"})
# The full (not -slim) variants are built on buildpack-deps: git (and curl, compilers) too.
FULL_DEBIAN = DEBIAN | {"git"}
NODE = frozenset({"node", "npm"})
IMAGES: dict[str, frozenset[str]] = {
    "python:3.10.13-slim-bookworm": DEBIAN | OFFICIAL_PYTHON | {"python3.10"},
    "python:3.12.8-slim-bookworm": DEBIAN | OFFICIAL_PYTHON | {"python3.12"},
    "python:3.10.13-bookworm": FULL_DEBIAN | OFFICIAL_PYTHON | {"python3.10"},
    # The official python:3.10 (bookworm, full) image plus Node.js 22 and npm (nikolaik/docker-python-nodejs).
    "nikolaik/python-nodejs:python3.10-nodejs22-bookworm": FULL_DEBIAN | OFFICIAL_PYTHON | NODE | {"python3.10"},
    # Alpine: busybox sh, no bash; git for module sources.
    "hashicorp/terraform:1.11.4": frozenset({"sh", "terraform", "git"}),
    # No shell at all: the executor is the image.
    "gcr.io/kaniko-project/executor:v1.23.2": frozenset({"/kaniko/executor"}),
}
# What runs when a step names no entrypoint.
ENTRYPOINTS = {
    "hashicorp/terraform:1.11.4": "terraform",
    "gcr.io/kaniko-project/executor:v1.23.2": "/kaniko/executor",
}
SHELLS = frozenset({"sh", "bash"})
# Module-level names of the noxfile that mean a tool: every user of the infra venv imports CDKTF (jsii: Node.js).
NAME_NEEDS = {"INFRA_VENV": frozenset({"node"})}
# What a test file calls by itself (the main job's tests make scratch git repositories).
TEST_NEEDS = {"git": re.compile(r"\bgit\(|[\"']git[\"']")}
# What the lines of a shell script run (`ci/nox`: a venv for the host tools, pip into it, a lock around both).
SCRIPT_NEEDS = {
    "python3": re.compile(r"\bpython3\b"),
    "venv": re.compile(r"-m venv\b"),
    "pip": re.compile(r"-m pip\b"),
    "flock": re.compile(r"^\s*flock\b", re.MULTILINE),
}
CONFIGS = sorted((REPO_ROOT / "ci" / "cloudbuild").glob("*.yaml"))
NOXFILE = ast.parse((REPO_ROOT / "noxfile.py").read_text())
FUNCTIONS = {node.name: node for node in NOXFILE.body if isinstance(node, ast.FunctionDef)}
MODULE_VALUES = {
    target.id: node.value
    for node in NOXFILE.body
    if isinstance(node, ast.Assign)
    for target in node.targets
    if isinstance(target, ast.Name)
}


def _steps() -> Iterator[tuple[str, dict]]:
    for config in CONFIGS:
        for step in yaml.safe_load(config.read_text())["steps"]:
            yield config.name, step


def _constant(node: ast.AST) -> str | None:
    """A string literal, or a module-level name bound to one."""
    if isinstance(node, ast.Name) and node.id in MODULE_VALUES:
        node = MODULE_VALUES[node.id]
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _python_of(name: str) -> str | None:
    """The version a module-level interpreter name stands for: PY310 = find_python310(), find_python("3.12")."""
    value = MODULE_VALUES.get(name)
    if not isinstance(value, ast.Call) or not isinstance(value.func, ast.Name):
        return None
    if value.func.id == "find_python310":
        return "3.10"
    if value.func.id == "find_python" and value.args:
        return _constant(value.args[0])
    return None


def _is_posargs(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "posargs"


def _branch(test: ast.expr, posargs: list[str] | None) -> bool | None:
    """Which way an `if` on session.posargs goes for these arguments; None when it does not depend on them."""
    if posargs is None:
        return None
    if _is_posargs(test):
        return bool(posargs)
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        inner = _branch(test.operand, posargs)
        return None if inner is None else not inner
    if isinstance(test, ast.Compare) and len(test.ops) == 1 and _is_posargs(test.comparators[0]):
        flag = _constant(test.left)
        if flag is not None and isinstance(test.ops[0], (ast.In, ast.NotIn)):
            return (flag in posargs) is isinstance(test.ops[0], ast.In)
    return None


def _reached(statements: list[ast.stmt], posargs: list[str] | None) -> tuple[list[ast.AST], bool]:
    """The statements these arguments reach, and whether they return before the end."""
    reached: list[ast.AST] = []
    for statement in statements:
        if isinstance(statement, ast.If):
            taken = _branch(statement.test, posargs)
            both = taken is None
            arms = [statement.body, statement.orelse] if both else [statement.body if taken else statement.orelse]
            results = [_reached(arm, posargs) for arm in arms]
            reached += [statement.test, *(node for nodes, _ in results for node in nodes)]
            if all(returned for _, returned in results):
                return reached, True
        else:
            reached.append(statement)
            if isinstance(statement, ast.Return):
                return reached, True
    return reached, False


def _nodes(function: str, posargs: list[str] | None) -> list[ast.AST]:
    node = FUNCTIONS[function]
    body = node.body[1:] if ast.get_docstring(node) is not None else node.body
    reached, _ = _reached(body, posargs)
    return [inner for top in [*node.decorator_list, *reached] for inner in ast.walk(top)]


def _calls(nodes: list[ast.AST], method: str) -> list[ast.Call]:
    return [n for n in nodes if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == method]


def notified(session: str, posargs: list[str]) -> list[str]:
    """The sessions `nox -s <session> -- <posargs>` notifies, in order."""
    return [_constant(call.args[0]) or "?" for call in _calls(_nodes(session, posargs), "notify")]


def _test_files(paths: list[str]) -> list[Path]:
    """The files pytest collects for these arguments (roots, `--ignore=`), defaulting to pyproject's `tests`."""
    ignored = [REPO_ROOT / p.removeprefix("--ignore=") for p in paths if p.startswith("--ignore=")]
    roots = [REPO_ROOT / p for p in paths if not p.startswith("-")] or [REPO_ROOT / "tests"]
    files = [f for root in roots for f in ([root] if root.is_file() else sorted(root.rglob("*.py")))]
    return [f for f in files if not any(f == i or i in f.parents for i in ignored)]


def _test_paths(nodes: list[ast.AST], posargs: list[str]) -> list[str]:
    """What pytest is pointed at: test paths in the arguments, else those the session's source names."""

    def test_path(text: str) -> bool:
        return re.fullmatch(r"(--ignore=)?tests(/[\w./-]*)?", text) is not None

    # `pipeline:NAME` is that pipeline's own tests (the unit session expands it: ci.workflows.pipeline_unit_tests);
    # `pipeline:${_PIPELINE}` (a per-pipeline trigger's build) any pipeline's, so every pipeline's.
    from ci.routing import repository_pipelines
    from ci.workflows import pipeline_unit_tests

    def named(arg: str) -> list[str]:
        name = arg.removeprefix("pipeline:")
        return list(repository_pipelines(REPO_ROOT)) if name == "${_PIPELINE}" else [name]

    given = [arg for arg in posargs if test_path(arg)]
    given += [t for arg in posargs if arg.startswith("pipeline:") for t in pipeline_unit_tests(named(arg))]
    return given or [text for n in nodes if (text := _constant(n)) is not None and test_path(text)]


def _tools_of(nodes: list[ast.AST]) -> set[str]:
    """Interpreters the nodes find, names that mean a tool, and external commands they run."""
    needs: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Name):
            version = _python_of(node.id)
            needs |= {f"python{version}"} if version else set(NAME_NEEDS.get(node.id, ()))
    for call in _calls(nodes, "run"):
        external = any(k.arg == "external" and getattr(k.value, "value", False) for k in call.keywords)
        command = _constant(call.args[0]) if call.args else None
        if external and command is not None:
            needs.add(command)
    return needs


@cache
def _helper_needs(function: str) -> frozenset[str]:
    """What a module-level helper of the noxfile needs, every branch counted, with the helpers it calls."""
    nodes = _nodes(function, None)
    return frozenset(_tools_of(nodes) | _called_helpers_needs(nodes, function))


def _called_helpers_needs(nodes: list[ast.AST], caller: str) -> set[str]:
    called = {n.func.id for n in nodes if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    return {tool for name in called & FUNCTIONS.keys() - {caller} for tool in _helper_needs(name)}


def session_needs(session: str, posargs: list[str]) -> set[str]:
    """What `nox -s <session> -- <posargs>` needs from the machine, the sessions it notifies included."""
    nodes = _nodes(session, posargs)
    needs = _tools_of(nodes) | _called_helpers_needs(nodes, session)
    paths = _test_paths(nodes, posargs)
    for tool, pattern in TEST_NEEDS.items():
        if paths and any(pattern.search(f.read_text()) for f in _test_files(paths)):
            needs.add(tool)
    for target in notified(session, posargs):
        needs |= session_needs(target, [])
    return needs


def _script_needs(path: str) -> set[str]:
    text = (REPO_ROOT / path).read_text()
    shebang = text.splitlines()[0]
    code = "\n".join(line for line in text.splitlines()[1:] if not line.lstrip().startswith("#"))
    return {shebang.rsplit("/", 1)[-1].split()[-1]} | {tool for tool, p in SCRIPT_NEEDS.items() if p.search(code)}


def _nox_call(args: list[str]) -> tuple[str, list[str]]:
    """(session, posargs) of `ci/nox -s <session> [-- posargs]`."""
    assert len(args) >= 2 and args[0] == "-s", f"expected `ci/nox -s <session> [-- ...]`, got {args}"
    rest = args[2:]
    assert not rest or rest[0] == "--", f"ci/nox {args}: one session, then `--` and its arguments"
    return args[1], rest[1:]


def command_needs(words: list[str]) -> set[str]:
    """What one command line needs: its program, and for `bash ci/nox -s ...` the script and the session."""
    program, *args = words
    if program in SHELLS and args and (REPO_ROOT / args[0]).is_file():
        needs = {program} | _script_needs(args[0])
        if args[0] == "ci/nox":
            needs |= session_needs(*_nox_call(args[1:]))
        return needs
    return {program}


def step_needs(step: dict) -> set[str]:
    entrypoint = step.get("entrypoint") or ENTRYPOINTS.get(step["name"])
    assert entrypoint, f"step {step['id']}: name an entrypoint ({step['name']} has no known default)"
    args = [str(a) for a in step.get("args", [])]
    if entrypoint in SHELLS and args[:1] == ["-c"]:
        commands = [shlex.split(c) for c in re.split(r"&&|\|\||;|\|", args[1]) if c.strip()]
        return {entrypoint}.union(*(command_needs(words) for words in commands))
    return command_needs([entrypoint, *args])


def _nox_session(step: dict) -> tuple[str, list[str]] | None:
    args = [str(a) for a in step.get("args", [])]
    return _nox_call(args[1:]) if args[:1] == ["ci/nox"] else None


@pytest.mark.parametrize(("config", "step"), list(_steps()), ids=lambda v: v if isinstance(v, str) else v["id"])
def test_every_step_needs_only_what_its_image_has(config, step):
    image = step["name"]
    assert image in IMAGES, f"{config}: step {step['id']} uses {image}, which the table here does not describe"
    missing = step_needs(step) - IMAGES[image]
    assert not missing, f"{config}: step {step['id']} needs {sorted(missing)}, which {image} does not have"


def test_every_image_in_the_table_is_pinned_and_used():
    used = {step["name"] for _, step in _steps()}
    for image in IMAGES:
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        assert tag and tag != "latest" and re.search(r"\d", tag), f"{image}: pin a version tag"
    assert used == set(IMAGES), f"described but unused: {sorted(set(IMAGES) - used)}"


def test_the_needs_follow_the_sessions_and_their_arguments():
    assert {"node", "python3.10"} <= session_needs("synth", [])
    assert "node" in session_needs("checkov", [])
    assert "node" not in session_needs("checkov", ["--synthesized"])
    assert "git" in session_needs("unit", [])  # tests/unit/test_cicd.py
    assert "git" not in session_needs("unit", ["tests/unit/test_penguins_model.py"])
    # Every pipeline's own tests, for a trigger that may be any pipeline's: they call no git either.
    assert "git" not in session_needs("unit", ["pipeline:${_PIPELINE}"])
    assert session_needs("tests", []) >= session_needs("checkov", []) | session_needs("infra_tests", [])


# What the checks build cannot run, and why. The rehearsal needs Python 3.10 (the TFX steps it runs), Python 3.12
# (its stand-in and the function's runtime) and Node.js (it synthesizes) in one process, and no public image has
# all three; `.ci/run` runs it (the README's test command), a builder image of the project's own would let
# Cloud Build run it too.
NOT_IN_THE_CHECKS_BUILD = {"rehearse": "needs Python 3.10, Python 3.12 and Node.js in one step's image"}


def test_the_checks_build_runs_lint_and_exactly_what_nox_s_tests_runs():
    """`tests` without arguments runs pytest with fixed arguments, then notifies sessions: the checks build runs
    that pytest as `tests -- <those arguments>` (which notifies nothing), then each notified session, plus lint,
    except what NOT_IN_THE_CHECKS_BUILD names with its reason."""
    runs = _calls(_nodes("tests", []), "run")
    pytest_args = [_constant(a) for call in runs if _constant(call.args[0]) == "pytest" for a in call.args[1:]]
    assert pytest_args and None not in pytest_args, "tests: its pytest arguments must be literals"
    assert notified("tests", pytest_args) == [], "tests with arguments must run pytest only"
    config = yaml.safe_load((REPO_ROOT / route("checks").config).read_text())
    sessions = [_nox_session(step) for step in config["steps"]]
    checked = [name for name in notified("tests", []) if name not in NOT_IN_THE_CHECKS_BUILD]
    assert set(NOT_IN_THE_CHECKS_BUILD) <= set(notified("tests", [])), "an exception for a session tests runs no more"
    expected = [("lint", []), ("tests", pytest_args), *((name, []) for name in checked)]
    assert sessions == expected
    # tests/infra runs checkov from .nox/checkov when it exists: never while the checkov step is building it.
    by_id = {step["id"]: step for step in config["steps"]}
    assert by_id["infra-tests"]["waitFor"] == ["checkov"]


def _python3(image: str) -> str | None:
    """The version of an image's `python3` (the one interpreter its entry names), or None."""
    versions = sorted(tool for tool in IMAGES[image] if re.fullmatch(r"python3\.\d+", tool))
    return versions[0] if len(versions) == 1 else None


# /workspace persists between steps: the host tools' venv that ci/nox makes on its first call is reused by every
# later step, and a venv made by Python 3.12 does not start under 3.10 (nor the other way round).
def test_builds_that_mix_pythons_keep_the_host_tools_apart():
    mixed = {}
    for config in CONFIGS:
        steps = yaml.safe_load(config.read_text())["steps"]
        pythons = {_python3(step["name"]) for step in steps if _nox_session(step) is not None}
        if len(pythons) > 1:
            mixed[config.name] = sorted(map(str, pythons))
    text = (REPO_ROOT / "ci" / "nox").read_text()
    keyed = re.search(r"^tools=\S*\$", text, re.MULTILINE) is not None and "version_info" in text
    assert not mixed or keyed, f"{mixed}: these builds run ci/nox on different Pythons, sharing a tools venv"
