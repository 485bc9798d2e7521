"""Split one incoming CSV file into valid records and bad ones (with line and reason): nothing is dropped.

Files may carry a UTF-8 BOM, LF or CRLF line ends and the columns in any order; valid records come out in the
schema's column order, as the shipped spans have them.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from release.datacheck.rules import Rules


@dataclass(frozen=True)
class BadRecord:
    file: str
    line: int  # 1-based line of the file; 1 is the header
    reason: str
    text: str  # the raw record as it arrived


@dataclass
class Parsed:
    valid: list[list[str]]
    bad: list[BadRecord]


def parse_file(name: str, data: bytes, rules: Rules) -> Parsed:
    """Every record of file `name` as valid (values in schema order) or bad; a bad header makes every record bad."""
    parsed = Parsed([], [])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        parsed.bad.append(BadRecord(name, 0, f"not UTF-8 text: {err}", ""))
        return parsed
    lines = text.splitlines()
    rows = csv.reader(io.StringIO(text, newline=""))
    header = next(rows, None)
    if header is None:
        return parsed
    header = [cell.strip() for cell in header]
    header_problem = _header_problem(header, rules)
    order = [header.index(n) for n in rules.names] if header_problem is None else []
    for row in rows:
        line = rows.line_num
        raw = lines[line - 1] if line - 1 < len(lines) else ",".join(row)
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # blank line: no record
        if header_problem is not None:
            parsed.bad.append(BadRecord(name, line, header_problem, raw))
        elif len(row) != len(header):
            parsed.bad.append(BadRecord(name, line, f"{len(row)} fields, the header has {len(header)}", raw))
        else:
            values = [row[i].strip() for i in order]
            problems = [p for c, v in zip(rules.columns, values, strict=True) if (p := c.problem(v))]
            if problems:
                parsed.bad.append(BadRecord(name, line, "; ".join(problems), raw))
            else:
                parsed.valid.append(values)
    return parsed


def _header_problem(header: list[str], rules: Rules) -> str | None:
    missing = sorted(set(rules.names) - set(header))
    unknown = sorted(set(header) - set(rules.names))
    if missing or unknown or len(header) != len(set(header)):
        return f"header {header}: missing {missing}, unknown {unknown} (expected the columns {list(rules.names)})"
    return None
