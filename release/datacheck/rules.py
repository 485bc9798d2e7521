"""What a valid record is: the columns, types, domains and value ranges of the curated schema.

Read once from the pipeline's schema, pipelines/<name>/schema/schema.pbtxt (the schema ExampleValidator applies
in the pipeline), so a record the check accepts is one the pipeline accepts; a change to what data is accepted
stays one reviewed file.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "string", "int" or "float"
    values: frozenset[str] = frozenset()  # string columns: the allowed values
    minimum: float = -math.inf
    maximum: float = math.inf

    def problem(self, text: str) -> str | None:
        """Why `text` is not a valid value of this column, or None."""
        if text == "":
            return f"{self.name}: empty (a value is required)"
        if self.kind == "string":
            if text not in self.values:
                return f"{self.name}: {text!r} is not one of {sorted(self.values)}"
            return None
        try:
            number = int(text) if self.kind == "int" else float(text)
        except ValueError:
            return f"{self.name}: {text!r} is not {'an integer' if self.kind == 'int' else 'a number'}"
        if not math.isfinite(number) or not self.minimum <= number <= self.maximum:
            return f"{self.name}: {text} is outside [{self.minimum:g}, {self.maximum:g}]"
        return None


@dataclass(frozen=True)
class Rules:
    columns: tuple[Column, ...]
    label: str

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(sorted(next(c for c in self.columns if c.name == self.label).values))


def load_rules(schema_file: Path, label: str) -> Rules:
    """The schema's features as Columns, in the schema's order (the order the shipped spans use)."""
    # Untyped (no stubs in the locks); the rest of the check is checked strictly.
    from google.protobuf import text_format  # type: ignore[import-untyped]
    from tensorflow_metadata.proto.v0 import schema_pb2  # type: ignore[import-not-found]

    schema = text_format.Parse(schema_file.read_text(), schema_pb2.Schema())
    domains = {domain.name: frozenset(domain.value) for domain in schema.string_domain}
    columns = []
    for feature in schema.feature:
        if feature.type == schema_pb2.BYTES:
            columns.append(Column(feature.name, "string", domains.get(feature.domain, frozenset())))
        elif feature.type == schema_pb2.INT:
            domain = feature.int_domain
            columns.append(Column(feature.name, "int", minimum=domain.min, maximum=domain.max))
        else:
            domain = feature.float_domain
            columns.append(Column(feature.name, "float", minimum=domain.min, maximum=domain.max))
    if label not in {c.name for c in columns}:
        raise ValueError(f"{schema_file}: no label feature {label!r}")
    return Rules(tuple(columns), label)
