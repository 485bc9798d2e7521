"""Cloud Scheduler, as the stacks configure it: a job's HTTP target, method, headers and body, sent with an
OAuth token of its service account (http_target.oauth_token), exactly as the job would send them."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import requests

from rehearsal.context import Env


@dataclass(frozen=True)
class Job:
    name: str
    uri: str
    method: str
    headers: dict[str, str]
    body: bytes
    account: str


def jobs(env: Env) -> list[Job]:
    found = []
    for resource in env.stack.resources("google_cloud_scheduler_job"):
        body: dict[str, Any] = env.stack.resolved(resource)
        target = body.get("http_target") or {}
        token = target.get("oauth_token") or target.get("oidc_token") or {}
        found.append(
            Job(
                name=str(body["name"]),
                uri=str(target.get("uri", "")),
                method=str(target.get("http_method", "POST")),
                headers={str(k): str(v) for k, v in (target.get("headers") or {}).items()},
                body=base64.b64decode(target.get("body") or ""),
                account=str(token.get("service_account_email", "")),
            )
        )
    return found


def send(env: Env, job: Job) -> requests.Response:
    """The job's request to the stand-in: https://<host>/<path> becomes <base>/<host>/<path> (the D1 rule)."""
    url = f"{env.standin.base_url}/{job.uri.removeprefix('https://')}"
    token = env.standin.identities.token_for(job.account)
    return requests.request(
        job.method, url, data=job.body, headers={**job.headers, "Authorization": f"Bearer {token}"}, timeout=60
    )
