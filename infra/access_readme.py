"""infra/README.md's access section, generated from the access table (infra/access.py).

    python -m infra.access_readme            # print the section
    python -m infra.access_readme --write    # replace it in infra/README.md, between its markers
    python -m infra.access_readme --check    # exit 1 if infra/README.md's section is not what the table says

tests/infra/test_access.py runs the check, so the README cannot drift from what the stacks grant.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from contracts.config import EnvironmentConfig, load_environment
from infra import access
from infra.access_model import CUSTOM, STATE, Grant, Objects, Resource

README = Path(__file__).resolve().parent / "README.md"
START = "<!-- access table: generated from infra/access.py by `python -m infra.access_readme --write` -->"
END = "<!-- end of the access table -->"
# The file whose names stand for the generic ones (<prefix>, <pipeline>) in object conditions.
EXAMPLE_ENV = "dev"


def _resource(on: Resource) -> str:
    store = "the release store's " if on.store == "release" else ""
    if on.kind == "project":
        return f"{store}project" if store else "project"
    if on.kind == "bucket":
        return "state bucket (`gcp.state_bucket`)" if on.name == STATE else f"{store}bucket `<prefix>-{on.name}`"
    if on.kind == "repository":
        return f"{store}repository `<prefix>-{on.name}`"
    if on.kind == "topic":
        return (
            f"each pipeline's topic `<prefix>-<pipeline>-{on.name}`"
            if on.per_pipeline
            else f"topic `<prefix>-{on.name}`"
        )
    if on.kind == "service-account":
        return f"account `<prefix>-{on.name}`"
    if on.kind == "bigquery-dataset":
        return "BigQuery dataset `<prefix>_predictions` (each pipeline's request log, table `<pipeline>_requests`)"
    return "each pipeline's function's Cloud Run service (`<prefix>-<pipeline>-trigger`)"


def _only(only: Objects, example: EnvironmentConfig) -> str:
    assert example.gcp is not None
    first = example.each_pipeline()[0]  # a path of a pipeline's own reads as <pipeline>'s
    path = only.path(first).replace(example.gcp.name_prefix, "<prefix>").replace(first.selected, "<pipeline>", 1)
    each = "each pipeline's " if "<pipeline>" in path else ""
    return {
        "exact": f", only {each}`{path}`",
        "prefix": f", only {each}`{path}*`",
        "outside": f", except {each}`{path}*`",
    }[only.match]


def _role(grant: Grant) -> str:
    if grant.role.startswith(CUSTOM):
        return f"custom `<prefix>_{grant.role.removeprefix(CUSTOM).replace('-', '_')}`"
    return grant.role.removeprefix("roles/")


def _row(grant: Grant, example: EnvironmentConfig) -> str:
    only = _only(grant.only, example) if grant.only else ""
    when = "; ".join(w.label for w in access.conditions(grant))
    why = grant.why + (f" ({when})" if when else "")
    rehearsal = f"`{grant.flow}`" if grant.flow else f"no: {grant.unrehearsed}"
    return f"| `{grant.account}` | {_resource(grant.on)}{only} | {_role(grant)} | {why} | {rehearsal} |"


def section() -> str:
    """The generated section: accounts, grants, custom roles, and the rehearsed flows they name."""
    example = load_environment(EXAMPLE_ENV)
    lines = [START, "", "| account | what runs as it |", "|---------|-----------------|"]
    for key, account in access.ACCOUNTS.items():
        when = f" ({account.when.label})" if account.when.label else ""
        lines.append(f"| `{key}` (`<prefix>-{key}`) | {account.description}{when} |")
    lines += [f"| `{key}` (`service-<number>@{domain}`) | {what} |" for key, (domain, what) in access.AGENTS.items()]
    lines += ["", "| account | on | role | why | rehearsed |", "|---|---|---|---|---|"]
    lines += [_row(grant, example) for grant in access.GRANTS]
    lines += ["", "| custom role | permissions |", "|---|---|"]
    for key, role in access.CUSTOM_ROLES.items():
        lines.append(f"| `<prefix>_{key.replace('-', '_')}` | {', '.join(role.permissions)} |")
    lines += ["", "Rehearsed flows (`nox -s rehearse`):", ""]
    lines += [f"- `{key}`: {what}" for key, what in access.FLOWS.items()]
    return "\n".join([*lines, "", END])


def replaced(text: str, new_section: str) -> str:
    """`text` with its section between the markers replaced; ValueError if the markers are missing."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{README}: no access table markers ({START} ... {END})")
    return text[:start] + new_section + text[end + len(END) :]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="infra.access_readme", description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="replace the section in infra/README.md")
    mode.add_argument("--check", action="store_true", help="exit 1 if infra/README.md's section is stale")
    args = parser.parse_args(argv)
    generated = section()
    if not (args.write or args.check):
        print(generated)
        return 0
    text = README.read_text()
    try:
        updated = replaced(text, generated)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.check:
        if updated != text:
            print(f"{README}: the access table is stale: run python -m infra.access_readme --write", file=sys.stderr)
            return 1
        return 0
    README.write_text(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main())
