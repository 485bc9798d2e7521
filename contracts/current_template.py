"""The current-template pointer: which published template an environment's runs of a pipeline submit, and where
that choice is.

Each environment's artifacts location holds one per pipeline, `templates/current/<pipeline>.json`. CI's
`full` and `modules` workflows (and prod's adopt) move it after their run was submitted; the trigger function,
the schedules (through it) and the data check read it when they run. An environment file may pin a pipeline's
template instead (`pipelines.<name>.template_sha256`): the pin wins. Runs are labelled with the template's sha256 and
`template_source` (pointer, pin, or explicit for a template named on the command line).

Standard library only: the trigger function's archive ships it.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from contracts.run_request import Lineage, template_sha256

# Every pointer is under this prefix (infra grants overwriting these objects only).
CURRENT_PREFIX = "templates/current/"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
TemplateSource = Literal["pointer", "pin", "explicit"]
# Fields a pointer written by an earlier version may lack.
_OPTIONAL = frozenset({"dirty"})


@dataclass(frozen=True)
class CurrentTemplate:
    """The pointer's record: the template, what it was built from, and the run after which it was set."""

    template: str
    template_sha256: str
    commit: str | None
    modules_sha256: str | None
    image: str | None
    job_id: str
    set_at: str
    set_by: str
    # When the run it was set after was submitted (seconds since the epoch): an older run never moves it back.
    submitted_at: float
    # Whether the template's code differed from `commit` (None: unknown, as in pointers set before it was kept).
    dirty: bool | None = None

    def lineage(self) -> Lineage:
        return Lineage(self.commit, self.modules_sha256, self.template_sha256, self.image, self.dirty)

    def to_bytes(self) -> bytes:
        return (json.dumps(asdict(self), indent=2, sort_keys=True) + "\n").encode()


def current_key(pipeline: str) -> str:
    """The pointer of `pipeline` in an artifacts location: templates/current/<pipeline>.json."""
    return f"{CURRENT_PREFIX}{pipeline}.json"


def current_location(artifacts: str, pipeline: str) -> str:
    """Where an environment's pointer of `pipeline` is: <artifacts location>/templates/current/<pipeline>.json."""
    return f"{artifacts.rstrip('/')}/{current_key(pipeline)}"


def read_current(data: bytes, where: str) -> CurrentTemplate:
    """The pointer record in `data`; ValueError naming `where` and the field that is wrong."""
    try:
        record = json.loads(data)
    except ValueError as err:
        raise ValueError(f"{where}: not a current-template record (invalid JSON: {err})") from None
    if not isinstance(record, dict):
        raise ValueError(f"{where}: not a current-template record (expected a JSON object)")
    names = {field.name for field in fields(CurrentTemplate)}
    missing = sorted(names - set(record) - _OPTIONAL)
    if missing:
        raise ValueError(f"{where}: missing {', '.join(missing)}")
    for name in ("template", "job_id", "set_at", "set_by"):
        _string(record, name, where, optional=False)
    for name in ("commit", "modules_sha256", "image"):
        _string(record, name, where, optional=True)
    submitted = record["submitted_at"]
    if isinstance(submitted, bool) or not isinstance(submitted, (int, float)):
        raise ValueError(f"{where}: submitted_at must be a number of seconds, got {submitted!r}")
    sha = record["template_sha256"]
    if not isinstance(sha, str) or not _SHA256.match(sha) or template_sha256(record["template"]) != sha:
        raise ValueError(f"{where}: template_sha256 {sha!r} is not the sha256 in template {record['template']!r}")
    modules = record["modules_sha256"]
    if modules is not None and not _SHA256.match(modules):
        raise ValueError(f"{where}: modules_sha256 {modules!r} is not a sha256")
    dirty = record.get("dirty")
    if dirty is not None and not isinstance(dirty, bool):
        raise ValueError(f"{where}: dirty must be true, false or null, got {dirty!r}")
    return CurrentTemplate(**{name: record[name] for name in names - _OPTIONAL}, dirty=dirty)


def _string(record: dict[str, Any], name: str, where: str, *, optional: bool) -> None:
    value = record[name]
    if value is None and optional:
        return
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}: {name} must be a non-empty string{' or null' if optional else ''}, got {value!r}")


@dataclass(frozen=True)
class ResolvedTemplate:
    """The template a run submits, where the choice came from, and its lineage as far as it is known."""

    uri: str
    source: TemplateSource
    lineage: Lineage

    @property
    def sha256(self) -> str | None:
        return self.lineage.template_sha256 or template_sha256(self.uri)
