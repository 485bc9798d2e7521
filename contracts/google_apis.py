"""Where every Google API call of the project goes, and over which transport: the one place that says so.

Each caller builds its own client (google-cloud-storage, the Vertex AI SDK and its GAPIC clients, Cloud
Build), with the endpoint and transport from here:

- **REST** (`TRANSPORT`), never gRPC: every client used here supports it, the requests are the ones Google's
  discovery documents describe, and so they can be checked against them (the cloud rehearsal does).
- **Google's own endpoints**, unless `GOOGLE_APIS_BASE_URL` is set: then the call meant for
  `https://<host>/<path>` goes to `<base>/<host>/<path>`. The cloud rehearsal (`nox -s rehearse`) sets it to
  its local stand-in for Google's APIs, as STORAGE_EMULATOR_HOST does for the storage client alone; nothing
  else should. Credentials stay google-auth's Application Default Credentials (on Google Cloud the
  metadata server of the build, the function or the pipeline step), whatever the endpoint.

Standard library only, like every contract: the trigger function's archive ships it.
"""

from __future__ import annotations

import os
from typing import Any

BASE_URL_VARIABLE = "GOOGLE_APIS_BASE_URL"
TRANSPORT = "rest"
STORAGE_HOST = "storage.googleapis.com"
CLOUD_BUILD_HOST = "cloudbuild.googleapis.com"
PUBSUB_HOST = "pubsub.googleapis.com"
MONITORING_HOST = "monitoring.googleapis.com"
BIGQUERY_HOST = "bigquery.googleapis.com"


def base_url() -> str | None:
    """The stand-in's base URL (GOOGLE_APIS_BASE_URL without a trailing '/'), or None: Google's endpoints."""
    value = os.environ.get(BASE_URL_VARIABLE, "").strip().rstrip("/")
    if value and not value.startswith(("http://", "https://")):
        raise ValueError(f"{BASE_URL_VARIABLE}={value!r}: expected an http:// or https:// URL")
    return value or None


def vertex_host(region: str) -> str:
    """The regional Vertex AI endpoint: <region>-aiplatform.googleapis.com."""
    return f"{region}-aiplatform.googleapis.com"


def endpoint(host: str) -> str:
    """What a GAPIC client's `api_endpoint` should be for `host`: the host itself, or <base>/<host>."""
    base = base_url()
    return f"{base}/{host}" if base else host


def client_options(host: str) -> dict[str, str]:
    """`client_options` for a GAPIC client (aiplatform_v1, cloudbuild_v1, pubsub_v1) of `host`."""
    return {"api_endpoint": endpoint(host)}


def storage_client_options() -> dict[str, str] | None:
    """`client_options` for google-cloud-storage's Client: None (its default) unless the base URL is set."""
    base = base_url()
    return {"api_endpoint": f"{base}/{STORAGE_HOST}"} if base else None


def aiplatform_init_arguments(region: str) -> dict[str, Any]:
    """What the Vertex AI SDK's `aiplatform.init` needs besides project and location: transport and endpoint."""
    base = base_url()
    return {"api_transport": TRANSPORT, **({"api_endpoint": f"{base}/{vertex_host(region)}"} if base else {})}


def already_exists(err: Exception) -> bool:
    """Whether a failed create says the resource already exists (a retried create of a fixed id: success).

    Over gRPC that is AlreadyExists; over REST google-api-core raises its parent, Conflict (HTTP 409), for both
    ALREADY_EXISTS and ABORTED, so the error body's `status` decides. Duck-typed: contracts import no Google
    library.
    """
    if type(err).__name__ == "AlreadyExists":
        return True
    if getattr(err, "code", None) != 409:
        return False
    response = getattr(err, "response", None)
    try:
        status = response.json()["error"]["status"]  # type: ignore[union-attr]
    except Exception:  # No JSON body: only the message is left to go by.
        return "already exists" in str(getattr(err, "message", err)).lower()
    return bool(status == "ALREADY_EXISTS")
