"""Where the monitor reads a window's logged requests (contracts/prediction_log.py).

`LocalLog`: the local server's JSON Lines files under <local root>/predictions/<pipeline>/. `BigQueryLog`: the
endpoint's request-response table on Google Cloud, one parameterized query per window. Both count the records
they cannot read (a partial last line of a killed server, a row whose payload is not JSON) and skip them: a bad
record never stops a window from being judged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from contracts.prediction_log import (
    BIGQUERY_TIME_COLUMN,
    LoggedRequest,
    LogRecordError,
    from_bigquery_row,
    local_log_files,
    parse_record,
)
from release.monitor.window import Window

EXAMPLES = 5


@dataclass
class WindowLog:
    """The readable records of a window, and how many were not (with the first few reasons)."""

    records: list[LoggedRequest] = field(default_factory=list)
    bad: int = 0
    bad_examples: list[str] = field(default_factory=list)

    def skip(self, where: str, err: Exception) -> None:
        self.bad += 1
        if len(self.bad_examples) < EXAMPLES:
            self.bad_examples.append(f"{where}: {err}")


class LogSource(Protocol):
    def where(self) -> str: ...

    def read(self, window: Window) -> WindowLog: ...


class LocalLog:
    """A pipeline's local log folder: hour files per writing process (contracts.prediction_log.local_log_file)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def where(self) -> str:
        return str(self.root)

    def read(self, window: Window) -> WindowLog:
        log = WindowLog()
        for path in local_log_files(self.root, window.start, window.end):
            with open(path, "rb") as handle:
                for number, line in enumerate(handle, start=1):
                    try:
                        if not line.endswith(b"\n"):
                            raise LogRecordError("partial line (its writer stopped mid-record)")
                        record = parse_record(line)
                    except LogRecordError as err:
                        log.skip(f"{path.name}:{number}", err)
                        continue
                    if window.start <= record.time < window.end:
                        log.records.append(record)
        return log


class BigQueryLog:
    """The endpoint's request-response log table, `project.dataset.table` (Gcp.prediction_log_table).

    `versions` maps the endpoint's deployed model ids to the registry versions they serve.
    """

    def __init__(self, client: Any, table: str, versions: dict[str, str]) -> None:
        self.client = client
        self.table = table
        self.versions = versions

    def where(self) -> str:
        return f"bq://{self.table}"

    def query(self) -> str:
        return (
            f"SELECT deployed_model_id, {BIGQUERY_TIME_COLUMN}, request_payload, response_payload "
            f"FROM `{self.table}` WHERE {BIGQUERY_TIME_COLUMN} >= @start AND {BIGQUERY_TIME_COLUMN} < @end "
            f"ORDER BY {BIGQUERY_TIME_COLUMN}"
        )

    def read(self, window: Window) -> WindowLog:
        from google.cloud import bigquery  # type: ignore[attr-defined]

        config = bigquery.QueryJobConfig(
            query_parameters=[
                bigquery.ScalarQueryParameter("start", "TIMESTAMP", window.start),
                bigquery.ScalarQueryParameter("end", "TIMESTAMP", window.end),
            ]
        )
        rows = self.client.query(self.query(), job_config=config).result()
        return self.records(dict(row.items()) for row in rows)

    def records(self, rows: Iterable[dict[str, Any]]) -> WindowLog:
        log = WindowLog()
        for number, row in enumerate(rows, start=1):
            try:
                log.records.append(from_bigquery_row(row, self.versions))
            except LogRecordError as err:
                log.skip(f"row {number}", err)
        return log
