"""BigQuery, API v2 (https://cloud.google.com/bigquery/docs/reference/rest), from the stand-in's own state: the
datasets the stacks create (google_bigquery_dataset), their tables (a stack's google_bigquery_table, or one
Vertex AI's request-response logging creates on its first log: rehearsal/standin/request_logging.py), and the
query jobs the monitor runs on them.

Served: jobs.insert, jobs.query, jobs.get and jobs.getQueryResults, as google-cloud-bigquery 3.x calls them for
`client.query(sql, job_config=QueryJobConfig(query_parameters=[ScalarQueryParameter(..., "TIMESTAMP", ...)]))
.result()`: jobs.insert with a client-made job id, then jobs.getQueryResults with maxResults=0 until the job is
complete, then jobs.getQueryResults again for each page of rows (formatOptions.useInt64Timestamp: timestamps as
int64 microseconds). A job is complete at once here (how long a query takes is not rehearsed).

It is no SQL engine: it answers the one query form the monitor sends (release/monitor/logs.py BigQueryLog.query),

    SELECT <columns> FROM `<project>.<dataset>.<table>`
    WHERE <t> >= @<start> AND <t> < @<end> ORDER BY <t>          (<t> a TIMESTAMP column, named parameters)

read narrowly (GoogleSQL, named TIMESTAMP parameters), and refuses any other text with 400 invalidQuery saying so.

Permissions (https://cloud.google.com/bigquery/docs/access-control, .../running-queries#required_permissions):
a query job needs bigquery.jobs.create on the project it runs in and bigquery.tables.getData on each table it
reads (on the table, its dataset or the project). A job's own creator reads its state and results (jobs.get,
jobs.getQueryResults: "Requires that you're the person who ran the job"); anyone else needs bigquery.jobs.get
on the project. Errors come in BigQuery's shape: {"error": {"code", "message", "errors": [{"reason", ...}],
"status"}} with BigQuery's reasons (accessDenied, notFound, invalidQuery, invalid, duplicate).
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from rehearsal.standin.errors import STATUS, ApiError
from rehearsal.standin.iam import Target, project_key
from rehearsal.standin.server import Call, Response

# BigQuery's error reasons by HTTP status (https://cloud.google.com/bigquery/docs/error-messages).
REASONS = {
    400: "invalid",
    401: "unauthorized",
    403: "accessDenied",
    404: "notFound",
    409: "duplicate",
    501: "notImplemented",
}
PAGE_ROWS = 500  # rows per page of jobs.getQueryResults when the caller sets no maxResults
_TIMESTAMP = "TIMESTAMP"
_QUERY = re.compile(
    r"\s*SELECT\s+(?P<columns>[A-Za-z_][A-Za-z0-9_]*(?:\s*,\s*[A-Za-z_][A-Za-z0-9_]*)*)\s+"
    r"FROM\s+`(?P<table>[^`]+)`\s+"
    r"WHERE\s+(?P<low>[A-Za-z_][A-Za-z0-9_]*)\s*>=\s*@(?P<start>[A-Za-z_][A-Za-z0-9_]*)\s+"
    r"AND\s+(?P<high>[A-Za-z_][A-Za-z0-9_]*)\s*<\s*@(?P<end>[A-Za-z_][A-Za-z0-9_]*)\s+"
    r"ORDER\s+BY\s+(?P<order>[A-Za-z_][A-Za-z0-9_]*)(?:\s+ASC)?\s*;?\s*",
    re.IGNORECASE | re.DOTALL,
)
SHAPE = (
    "SELECT <columns> FROM `<project>.<dataset>.<table>` WHERE <t> >= @<start> AND <t> < @<end> ORDER BY <t> "
    "(<t> a TIMESTAMP column)"
)


class BigQueryError(ApiError):
    """An ApiError with BigQuery's reason (its errors[] entry)."""

    def __init__(self, code: int, message: str, reason: str | None = None) -> None:
        super().__init__(code, message)
        self.reason = reason or REASONS.get(code, "invalid")


def error_body(err: ApiError) -> dict[str, Any]:
    reason = getattr(err, "reason", None) or REASONS.get(err.code, "invalid")
    body: dict[str, Any] = {
        "code": err.code,
        "message": err.message,
        "errors": [{"message": err.message, "domain": "global", "reason": reason}],
        "status": err.status or STATUS.get(err.code, "UNKNOWN"),
    }
    if err.details:
        body["details"] = err.details
    return {"error": body}


@dataclass
class Table:
    project: str
    dataset: str
    table_id: str
    schema: list[dict[str, Any]]  # fields: name, type, mode
    created_by: str  # a stack's Terraform address, or the member that created it (Vertex AI's service agent)
    rows: list[dict[str, Any]] = field(default_factory=list)
    created: float = field(default_factory=time.time)

    @property
    def reference(self) -> str:
        return f"{self.project}.{self.dataset}.{self.table_id}"

    def field(self, name: str) -> dict[str, Any] | None:
        return next((f for f in self.schema if f["name"] == name), None)


@dataclass
class Dataset:
    project: str
    dataset_id: str
    location: str
    source: str  # the stack's Terraform address
    tables: dict[str, Table] = field(default_factory=dict)


def dataset_target(project: str, dataset: str) -> Target:
    return Target(f"projects/{project}/datasets/{dataset}", "bigquery.googleapis.com/Dataset", (project_key(project),))


def table_target(project: str, dataset: str, table: str) -> Target:
    return Target(
        f"projects/{project}/datasets/{dataset}/tables/{table}",
        "bigquery.googleapis.com/Table",
        (f"projects/{project}/datasets/{dataset}", project_key(project)),
    )


@dataclass
class Job:
    project: str
    job_id: str
    location: str
    creator: str  # the member that inserted it
    resource: dict[str, Any]
    schema: list[dict[str, Any]]
    rows: list[dict[str, Any]]


class BigQuery:
    def __init__(self, numbers: dict[str, str]) -> None:
        self.numbers = numbers  # project id -> number
        self.datasets: dict[tuple[str, str], Dataset] = {}
        self.jobs: dict[tuple[str, str], Job] = {}
        self._lock = threading.RLock()

    # --- state ---------------------------------------------------------------------------------------------

    def project_id(self, ref: str) -> str:
        for project, number in self.numbers.items():
            if ref in (project, number):
                return project
        raise BigQueryError(404, f"Not found: Project {ref}")

    def dataset(self, project: str, dataset: str) -> Dataset | None:
        return self.datasets.get((project, dataset))

    def table(self, project: str, dataset: str, table: str) -> Table | None:
        found = self.dataset(project, dataset)
        return None if found is None else found.tables.get(table)

    def create_table(self, project: str, dataset: str, table_id: str, schema: list[dict[str, Any]], by: str) -> Table:
        """A new table in an existing dataset (BigQuery's 409 duplicate if it exists, 404 if the dataset does not)."""
        with self._lock:
            holder = self.dataset(project, dataset)
            if holder is None:
                raise BigQueryError(404, f"Not found: Dataset {project}:{dataset}")
            if table_id in holder.tables:
                raise BigQueryError(409, f"Already Exists: Table {project}:{dataset}.{table_id}")
            table = Table(project, dataset, table_id, [dict(f) for f in schema], by)
            holder.tables[table_id] = table
            return table

    def append(self, table: Table, rows: list[dict[str, Any]]) -> None:
        with self._lock:
            table.rows.extend(rows)

    # --- the API ---------------------------------------------------------------------------------------------

    def handle(self, call: Call) -> Response:
        handlers = {
            "bigquery.jobs.insert": self._insert,
            "bigquery.jobs.query": self._query,
            "bigquery.jobs.get": self._get,
            "bigquery.jobs.getQueryResults": self._results,
        }
        handler = handlers.get(call.method.id)
        try:
            if handler is None:
                raise BigQueryError(501, f"{call.method.id} is not served by the rehearsal's stand-in")
            project = self.project_id(call.params["projectsId"])
            with self._lock:
                return handler(call, project)
        except ApiError as err:
            return Response(err.code, error_body(err))

    def _insert(self, call: Call, project: str) -> Response:
        body = call.body or {}
        reference = dict(body.get("jobReference") or {})
        job_id = str(reference.get("jobId") or f"job_{uuid.uuid4().hex}")
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,1024}", job_id):
            raise BigQueryError(400, f'Invalid job ID "{job_id}": letters, numbers, dashes and underscores only')
        if (project, job_id) in self.jobs:
            raise BigQueryError(409, f"Already Exists: Job {project}:{job_id}")
        configuration = dict(body.get("configuration") or {})
        job = self._run(call, project, job_id, configuration, reference.get("location"))
        return Response(json=job.resource)

    def _query(self, call: Call, project: str) -> Response:
        """jobs.query: the same job, answered with its first page (QueryRequest -> QueryResponse)."""
        body = dict(call.body or {})
        query = {
            key: body[key]
            for key in ("query", "useLegacySql", "parameterMode", "queryParameters", "defaultDataset", "useQueryCache")
            if key in body
        }
        job_id = f"job_{uuid.uuid4().hex}"
        job = self._run(call, project, job_id, {"query": query}, body.get("location"))
        # jobs.query takes its format options in the body (QueryRequest.formatOptions), not in the query string.
        options = {
            f"formatOptions.{k}": str(v).lower() if isinstance(v, bool) else str(v)
            for k, v in (body.get("formatOptions") or {}).items()
        }
        page = self._page(job, body.get("maxResults"), None, None, options)
        return Response(json={**page, "kind": "bigquery#queryResponse"})

    def _run(self, call: Call, project: str, job_id: str, configuration: dict[str, Any], location: Any) -> Job:
        call.require(
            "bigquery.jobs.create", Target(project_key(project), "cloudresourcemanager.googleapis.com/Project")
        )
        query = configuration.get("query")
        if not isinstance(query, dict) or not query.get("query"):
            raise BigQueryError(400, "The rehearsal's stand-in runs query jobs only (configuration.query.query).")
        if query.get("useLegacySql", True) is not False:
            raise BigQueryError(
                400,
                "The stand-in answers GoogleSQL only: set useLegacySql false (named parameters need it).",
                "invalidQuery",
            )
        (table_project, dataset, table_id), columns, column, (start, end) = self._parse(
            project, str(query["query"]), query
        )
        # BigQuery answers alike for a table the caller may not read and one that does not exist: the permission
        # first (on the name), then what is wrong with the query.
        call.require("bigquery.tables.getData", table_target(table_project, dataset, table_id))
        holder = self.dataset(table_project, dataset)
        table = None if holder is None else holder.tables.get(table_id)
        if holder is None or table is None or (location and str(location).lower() != holder.location.lower()):
            where = f" in location {location}" if location else ""
            raise BigQueryError(404, f"Not found: Table {table_project}:{dataset}.{table_id} was not found{where}")
        for name in columns:
            if table.field(name) is None:
                raise BigQueryError(400, f"Unrecognized name: {name} at [1:8]", "invalidQuery")
        if (table.field(column) or {}).get("type") != _TIMESTAMP:
            raise BigQueryError(
                400, f"The stand-in's query form filters a TIMESTAMP column; {column} is not one", "invalidQuery"
            )
        rows = sorted(
            (row for row in table.rows if row.get(column) is not None and start <= row[column] < end),
            key=lambda row: row[column],
        )
        selected = [{name: row.get(name) for name in columns} for row in rows]
        schema = [dict(table.field(name) or {}) for name in columns]
        now_ms = str(int(time.time() * 1000))
        anonymous = {
            "projectId": project,
            "datasetId": f"_{uuid.uuid5(uuid.NAMESPACE_DNS, call.member).hex}",
            "tableId": f"anon{job_id[-20:]}",
        }
        resource = {
            "kind": "bigquery#job",
            "id": f"{project}:{holder.location}.{job_id}",
            "selfLink": f"{call.base_url}/bigquery.googleapis.com/bigquery/v2/projects/{project}/jobs/{job_id}"
            f"?location={holder.location}",
            "user_email": call.email,
            "jobReference": {"projectId": project, "jobId": job_id, "location": holder.location},
            "configuration": {
                **configuration,
                "jobType": "QUERY",
                "query": {
                    **query,
                    "destinationTable": anonymous,
                    "writeDisposition": "WRITE_TRUNCATE",
                    "priority": "INTERACTIVE",
                },
            },
            "status": {"state": "DONE"},
            "statistics": {
                "creationTime": now_ms,
                "startTime": now_ms,
                "endTime": now_ms,
                "totalBytesProcessed": "0",
                "query": {
                    "totalBytesProcessed": "0",
                    "statementType": "SELECT",
                    "cacheHit": False,
                    "totalBytesBilled": "0",
                },
            },
        }
        job = Job(project, job_id, holder.location, call.member, resource, schema, selected)
        self.jobs[(project, job_id)] = job
        return job

    def _parse(
        self, project: str, text: str, query: dict[str, Any]
    ) -> tuple[tuple[str, str, str], list[str], str, tuple[datetime, datetime]]:
        """(the table's project, dataset, id), the selected columns, the filtered column, the window's bounds."""
        match = _QUERY.fullmatch(text)
        if match is None:
            raise BigQueryError(
                400,
                f"The rehearsal's stand-in answers one query form only, {SHAPE}; not: {text.strip()[:200]}",
                "invalidQuery",
            )
        parts = match["table"].split(".")
        if len(parts) == 2:
            parts = [project, *parts]
        if len(parts) != 3 or not all(parts):
            raise BigQueryError(
                400,
                f'Table name "{match["table"]}" missing dataset while no default dataset is set in the request.',
                "invalidQuery",
            )
        columns = [c.strip() for c in match["columns"].split(",")]
        named = {match["low"], match["high"], match["order"]}
        if len(named) != 1:
            raise BigQueryError(
                400, f"The stand-in's one query form filters and orders by one column: {SHAPE}", "invalidQuery"
            )
        parameters = self._parameters(query)
        bounds = []
        for name in (match["start"], match["end"]):
            if name not in parameters:
                raise BigQueryError(400, f"Query parameter '{name}' not found", "invalidQuery")
            bounds.append(parameters[name])
        return (parts[0], parts[1], parts[2]), columns, named.pop(), (bounds[0], bounds[1])

    def _parameters(self, query: dict[str, Any]) -> dict[str, datetime]:
        if query.get("parameterMode", "NAMED") != "NAMED":
            raise BigQueryError(
                400, "The stand-in's one query form takes named parameters (parameterMode NAMED).", "invalidQuery"
            )
        found: dict[str, datetime] = {}
        for parameter in query.get("queryParameters") or []:
            name = parameter.get("name")
            kind = (parameter.get("parameterType") or {}).get("type")
            value = (parameter.get("parameterValue") or {}).get("value")
            if kind != _TIMESTAMP:
                raise BigQueryError(
                    400,
                    f"Query parameter '{name}': the stand-in's query form compares TIMESTAMPs, not {kind}",
                    "invalidQuery",
                )
            found[str(name)] = parse_timestamp(value, str(name))
        return found

    def _job(self, call: Call, project: str) -> Job:
        job_id = call.params.get("jobsId") or call.params.get("queriesId") or ""
        job = self.jobs.get((project, job_id))
        location = call.query.get("location")
        if job is None or (location and location.lower() != job.location.lower()):
            raise BigQueryError(404, f"Not found: Job {project}:{location or 'US'}.{job_id}")
        if call.member != job.creator:
            call.require(
                "bigquery.jobs.get", Target(project_key(project), "cloudresourcemanager.googleapis.com/Project")
            )
        return job

    def _get(self, call: Call, project: str) -> Response:
        return Response(json=self._job(call, project).resource)

    def _results(self, call: Call, project: str) -> Response:
        job = self._job(call, project)
        page = self._page(
            job, call.query.get("maxResults"), call.query.get("pageToken"), call.query.get("startIndex"), call.query
        )
        return Response(json={**page, "kind": "bigquery#getQueryResultsResponse"})

    def _page(self, job: Job, max_results: Any, token: Any, start_index: Any, query: dict[str, str]) -> dict[str, Any]:
        start = int(token) if token else int(start_index or 0)
        size = PAGE_ROWS if max_results in (None, "") else int(max_results)
        body: dict[str, Any] = {
            "jobReference": job.resource["jobReference"],
            "schema": {"fields": job.schema},
            "totalRows": str(len(job.rows)),
            "jobComplete": True,
            "cacheHit": False,
            "totalBytesProcessed": "0",
        }
        if size > 0:
            chosen = job.rows[start : start + size]
            body["rows"] = [_encode_row(row, job.schema, query) for row in chosen]
            if start + size < len(job.rows):
                body["pageToken"] = str(start + size)
        return body


def parse_timestamp(value: Any, name: str) -> datetime:
    """A TIMESTAMP parameter's value as google-cloud-bigquery sends it ("2026-12-05 06:00:00+00:00") or RFC 3339."""
    text = str(value or "").strip().replace("T", " ", 1)
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    if text.endswith(" UTC"):
        text = text[:-4] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BigQueryError(400, f"Invalid timestamp for query parameter '{name}': {value!r}", "invalidQuery") from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _encode_row(row: dict[str, Any], schema: list[dict[str, Any]], query: dict[str, str]) -> dict[str, Any]:
    """A row as the REST API sends it: {"f": [{"v": ...}]}; a REPEATED field's "v" is a list of {"v": ...}."""
    cells = []
    for spec in schema:
        value = row.get(spec["name"])
        if spec.get("mode") == "REPEATED":
            cells.append({"v": [{"v": _encode(item, spec, query)} for item in value or []]})
        else:
            cells.append({"v": None if value is None else _encode(value, spec, query)})
    return {"f": cells}


def _encode(value: Any, spec: dict[str, Any], query: dict[str, str]) -> Any:
    if spec.get("type") != _TIMESTAMP:
        return str(value)
    moment = value if isinstance(value, datetime) else parse_timestamp(value, spec["name"])
    micros = round((moment - datetime(1970, 1, 1, tzinfo=timezone.utc)).total_seconds() * 1_000_000)
    if query.get("formatOptions.timestampOutputFormat") == "ISO8601_STRING":
        return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if query.get("formatOptions.useInt64Timestamp", "").lower() == "true":
        return str(micros)
    return f"{micros / 1_000_000:.6E}"  # BigQuery's default: seconds as a floating-point string
