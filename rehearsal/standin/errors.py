"""Errors as Google's APIs return them: a JSON body with code, message and status (or storage's reason list).

Two shapes. The APIs behind Google's REST front end for gRPC services (Vertex AI, Cloud Build, Pub/Sub)
answer `{"error": {"code", "message", "status", "details"}}` (https://cloud.google.com/apis/design/errors);
Cloud Storage's JSON API answers `{"error": {"code", "message", "errors": [{"message", "domain", "reason"}]}}`
(https://cloud.google.com/storage/docs/json_api/v1/status-codes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# google.rpc.Code names by HTTP status, as the REST front end maps them.
STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
# Cloud Storage's `reason` by HTTP status.
STORAGE_REASON = {
    400: "invalid",
    401: "required",
    403: "forbidden",
    404: "notFound",
    405: "invalid",
    409: "conflict",
    412: "conditionNotMet",
    503: "backendError",
}


@dataclass
class ApiError(Exception):
    code: int
    message: str
    status: str | None = None
    details: list[dict[str, Any]] = field(default_factory=list)

    def __str__(self) -> str:
        return f"{self.code} {self.message}"

    def body(self, storage: bool) -> dict[str, Any]:
        if storage:
            reason = STORAGE_REASON.get(self.code, "invalid")
            return {
                "error": {
                    "code": self.code,
                    "message": self.message,
                    "errors": [{"message": self.message, "domain": "global", "reason": reason}],
                }
            }
        error: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "status": self.status or STATUS.get(self.code, "UNKNOWN"),
        }
        if self.details:
            error["details"] = self.details
        return {"error": error}


def permission_denied(api_host: str, permission: str, resource: str, caller: str) -> ApiError:
    """The 403 of each API for a caller without `permission` on `resource`, in that API's own wording."""
    if api_host == "storage.googleapis.com":
        kind = "bucket" if "/objects/" not in resource else "object"
        message = (
            f"{caller} does not have {permission} access to the Google Cloud Storage {kind}. "
            f"Permission '{permission}' denied on resource (or it may not exist)."
        )
        return ApiError(403, message)
    if api_host == "bigquery.googleapis.com":
        # BigQuery's wording (https://cloud.google.com/bigquery/docs/error-messages: accessDenied).
        parts = resource.split("/")
        if len(parts) == 6 and parts[4] == "tables":
            table = f"{parts[1]}:{parts[3]}.{parts[5]}"
            message = (
                f"Access Denied: Table {table}: User does not have permission to query table {table}, or perhaps "
                "it does not exist."
                if permission == "bigquery.tables.getData"
                else f"Access Denied: Table {table}: Permission {permission} denied on table {table} (or it may "
                "not exist)."
            )
        elif len(parts) == 4 and parts[2] == "datasets":
            dataset = f"{parts[1]}:{parts[3]}"
            message = (
                f"Access Denied: Dataset {dataset}: Permission {permission} denied on dataset {dataset} (or it may "
                "not exist)."
            )
        else:
            project = resource.removeprefix("projects/")
            message = (
                f"Access Denied: Project {project}: User does not have {permission} permission in project {project}."
            )
    elif api_host == "pubsub.googleapis.com":
        message = "User not authorized to perform this action."
    elif api_host == "cloudbuild.googleapis.com":
        message = "The caller does not have permission"
    else:
        message = f"Permission '{permission}' denied on resource '//{api_host}/{resource}' (or it may not exist)."
    detail = {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "IAM_PERMISSION_DENIED",
        "domain": "iam.googleapis.com",
        "metadata": {"permission": permission, "resource": resource},
    }
    return ApiError(403, message, details=[detail])
