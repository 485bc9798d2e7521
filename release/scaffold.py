"""A new pipeline from an existing one: `nox -s new_pipeline -- NAME [--from diabetes]`.

    python -m release.scaffold NAME [--from TEMPLATE] [--env local --env dev ...]

Copies pipelines/<TEMPLATE>/ to pipelines/<NAME>/ (definition, modules, schema, the shipped span renamed
<NAME>.csv; not the template's derive script and data README, which describe the template's source), points
the copy's imports and paths at its own folder, copies the template's modules tests
(tests/unit/test_<TEMPLATE>_modules*.py) as tests/unit/test_<NAME>_modules*.py, and adds a `pipelines.<NAME>`
entry with the template's settings to each environment file that has the template (or those named by --env).
The copy trains on its first run (`nox -s pipeline -- --pipeline NAME`); then make it yours: its data, schema,
modules, gate. On Google Cloud, its resources (its trigger function and topic, Scheduler jobs, build triggers,
registry model, endpoint) come with the next `cdktf deploy`, and `nox -s bootstrap -- --env ENV --pipeline NAME`
gives it its data and first release.

Nothing is written unless everything can be: a bad name, an existing folder or an environment file without
the template stops before the first write. Exit status: 0 created, 2 bad input.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from pathlib import Path

import yaml
from pydantic import ValidationError

from contracts.config import REPO_ROOT, ConfigError, environment_file, load_environment
from contracts.data_layout import span_file
from contracts.environment import PIPELINE_NAME, EnvironmentConfig
from pipelines.sources import pipeline_names

# Files of a template that describe where its data came from: not true of a copy.
NOT_COPIED = ("data/derive.py", "data/README.md")
TEXT_SUFFIXES = (".py", ".pbtxt", ".md")


class ScaffoldError(ValueError):
    """The pipeline cannot be created as asked; the message says why."""


def _renamed(text: str, template: str, name: str) -> str:
    """`text` with the template's package, folder, tests and name pointed at the new pipeline."""
    text = re.sub(rf"\bpipelines\.{template}\b", f"pipelines.{name}", text)
    text = text.replace(f"pipelines/{template}/", f"pipelines/{name}/")
    text = re.sub(rf'\bNAME = "{template}"', f'NAME = "{name}"', text)
    text = re.sub(rf'pipeline_sources\("{template}"\)', f'pipeline_sources("{name}")', text)
    return text.replace(f"{template}.csv", f"{name}.csv").replace(f'"{template}"', f'"{name}"')


def _env_entry(path: Path, template: str, name: str) -> str:
    """The environment file's text with `pipelines.<name>` added: the template's settings, appended to the
    `pipelines:` mapping, which must be the file's last top-level key (as in the shipped files)."""
    text = path.read_text()
    raw = yaml.safe_load(text)
    pipelines = raw.get("pipelines") if isinstance(raw, dict) else None
    if not isinstance(pipelines, dict) or template not in pipelines:
        raise ScaffoldError(f"{path}: no pipelines.{template} to copy the settings of")
    if name in pipelines:
        raise ScaffoldError(f"{path}: pipelines.{name} exists already")
    if list(raw)[-1] != "pipelines":
        raise ScaffoldError(f"{path}: `pipelines:` is not the last setting; add pipelines.{name} by hand")
    settings = yaml.safe_dump({name: pipelines[template]}, sort_keys=False, default_flow_style=False)
    indented = "".join(f"  {line}\n" for line in settings.splitlines())
    added = (
        text.rstrip("\n")
        + f"\n  # Copied from {template} by `nox -s new_pipeline`: make its gate and data yours.\n"
        + indented
    )
    try:  # what would be written must load
        EnvironmentConfig.model_validate(yaml.safe_load(added))
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}" for e in err.errors())
        raise ScaffoldError(f"{path}: with pipelines.{name} added it would not load: {problems}") from None
    return added


def _environment_files(root: Path) -> dict[str, dict]:
    """Each environment file under `root`/envs, by name, as parsed YAML (empty when not a mapping)."""
    files = {p.stem: yaml.safe_load(p.read_text()) for p in sorted((root / "envs").glob("*.yaml"))}
    return {name: raw if isinstance(raw, dict) else {} for name, raw in files.items()}


def scaffold(name: str, template: str, envs: list[str] | None = None, root: Path = REPO_ROOT) -> list[Path]:
    """Create pipeline `name` from `template` under `root`; the paths written. ScaffoldError, nothing written."""
    if not re.match(PIPELINE_NAME, name):
        raise ScaffoldError(f"{name!r}: a pipeline name is 2-20 lowercase letters and digits, starting with a letter")
    known = pipeline_names(root / "pipelines")
    if template not in known:
        raise ScaffoldError(f"--from {template!r}: no such pipeline (pipelines: {', '.join(known)})")
    target = root / "pipelines" / name
    if target.exists():
        raise ScaffoldError(f"{target.relative_to(root)} exists already")
    if envs is None:
        envs = [e for e, raw in _environment_files(root).items() if template in raw.get("pipelines", {})]
    env_texts = {}
    for env in envs:
        path = environment_file(env) if root == REPO_ROOT else root / "envs" / f"{env}.yaml"
        env_texts[path] = _env_entry(path, template, name)
    source = root / "pipelines" / template
    # Its modules' tests (the `modules` workflow runs tests/unit/test_<name>_*.py); the template's data tests
    # check where the template's data came from, which the copy's does not.
    tests = sorted((root / "tests" / "unit").glob(f"test_{template}_modules*.py"))
    written: list[Path] = []
    # Build the folder aside, then move it in: a failure halfway leaves no half pipeline.
    with tempfile.TemporaryDirectory(dir=root / "pipelines") as staging:
        folder = Path(staging) / name
        shutil.copytree(source, folder, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        for rel in NOT_COPIED:
            (folder / rel).unlink(missing_ok=True)
        for span in (folder / "data").glob("span-*"):
            for csv in span.glob(span_file(template)):
                csv.rename(csv.with_name(span_file(name)))
        for path in folder.rglob("*"):
            if path.is_file() and path.suffix in TEXT_SUFFIXES:
                path.write_text(_renamed(path.read_text(), template, name))
        folder.rename(target)
    written.append(target)
    for test in tests:
        copy = test.with_name(test.name.replace(f"test_{template}_", f"test_{name}_", 1))
        copy.write_text(_renamed(test.read_text(), template, name))
        written.append(copy)
    for path, text in env_texts.items():
        path.write_text(text)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="release.scaffold", description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the new pipeline's name (its folder under pipelines/)")
    parser.add_argument("--from", dest="template", default="diabetes", help="the pipeline to copy (default: diabetes)")
    parser.add_argument("--env", action="append", help="an environment file to add it to (default: each with --from)")
    args = parser.parse_args(argv)
    try:
        written = scaffold(args.name, args.template, args.env)
        for env in args.env or []:
            load_environment(env, args.name)  # what was written loads
    except (ScaffoldError, ConfigError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for path in written:
        print(f"  wrote {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")
    print(f"pipeline {args.name}: train it with `nox -s pipeline -- --pipeline {args.name}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
