"""A failed Google Cloud call as one line that says what to do, and the exit status that tells it apart.

Every release command (`submit`, `publish`, `models`, `data_check`, ...) ends its `main` with the same
statuses:

    0  done
    1  a step failed (a followed run, a smoke test, the champion's evaluation)
    2  bad input: nothing was sent to Google Cloud
    3  Google Cloud is unavailable right now (timeout, 5xx, quota): run the same command again later
    4  Google Cloud refused the request (no credentials, permission denied, not found): fix the set-up first

`cloud_failure(err)` classifies an exception raised by google-auth or a google-cloud client; None means it
is not a cloud failure (the caller lets it surface: a bug should not hide as a cloud message). A command's
`main` ends with `except Exception as err: return exit_status(err)`, which prints the one line and returns the
status, or re-raises what is not a cloud failure.
"""

from __future__ import annotations

import concurrent.futures
import re
import sys
from dataclasses import dataclass

UNAVAILABLE = 3
REFUSED = 4

# Google's 403 bodies name the permission: "Permission 'storage.objects.get' denied on resource ..." or
# "... does not have storage.objects.get access to the Google Cloud Storage object ...".
_PERMISSION = re.compile(r"(?:Permission '|does not have |permission )([a-z]+(?:\.[a-zA-Z]+){2,})")


@dataclass(frozen=True)
class CloudFailure:
    status: int
    message: str

    def __str__(self) -> str:
        return self.message


def ambient_account() -> str | None:
    """The account Application Default Credentials act as (a service account's email), or None if unknown."""
    try:
        import google.auth  # type: ignore[import-not-found]
        from google.auth.transport.requests import Request  # type: ignore[import-not-found]

        credentials, _ = google.auth.default()
        email = getattr(credentials, "service_account_email", None)
        if email == "default":  # the metadata server's: its email is known once the credentials refresh
            credentials.refresh(Request())
            email = getattr(credentials, "service_account_email", None)
    except Exception:  # Only for the message: an account that cannot be found is "the caller".
        return None
    return email if isinstance(email, str) and "@" in email else None


def cloud_failure(err: BaseException, *, account: str | None = None) -> CloudFailure | None:
    """The one-line failure `err` stands for, or None if it is not a Google Cloud failure.

    `account`: the identity the call was made as, where the caller knows it (named in a permission error).
    """
    from google.api_core import exceptions as api  # type: ignore[import-not-found]
    from google.auth import exceptions as auth

    if isinstance(err, auth.DefaultCredentialsError):
        return CloudFailure(
            REFUSED,
            "no Google Cloud credentials: run `gcloud auth application-default login`, or run where a service "
            "account is attached (Cloud Build, a Cloud Function, a pipeline step)",
        )
    if isinstance(err, auth.RefreshError):
        return CloudFailure(REFUSED, f"the Google Cloud credentials were refused ({err}): log in again")
    if isinstance(err, auth.TransportError):
        return CloudFailure(UNAVAILABLE, f"could not reach Google's token service ({err}): try again")
    if isinstance(err, api.PermissionDenied | api.Unauthenticated | api.Forbidden):
        who = account or ambient_account() or "the caller"
        found = _PERMISSION.search(err.message or "")
        needs = f" (needs {found.group(1)})" if found else ""
        return CloudFailure(
            REFUSED,
            f"permission denied: {who}{needs}: {err.message}. Grant it in infra/ (the access table) and deploy",
        )
    if isinstance(err, api.NotFound):
        return CloudFailure(REFUSED, f"not found: {err.message}. Is the environment deployed (`cdktf deploy`)?")
    if isinstance(err, api.ResourceExhausted | api.TooManyRequests):
        return CloudFailure(UNAVAILABLE, f"quota exhausted: {err.message}. Try again later, or raise the quota")
    if isinstance(err, api.DeadlineExceeded | api.ServiceUnavailable | api.InternalServerError | api.GatewayTimeout):
        return CloudFailure(UNAVAILABLE, f"Google Cloud is unavailable: {err.message}. Try again")
    if isinstance(err, api.RetryError):
        return CloudFailure(UNAVAILABLE, f"Google Cloud did not answer in time ({err}). Try again")
    if isinstance(err, TimeoutError | concurrent.futures.TimeoutError):
        return CloudFailure(UNAVAILABLE, f"timed out waiting for Google Cloud ({err or 'no answer'}). Try again")
    if isinstance(err, api.GoogleAPICallError):
        code = f"{err.code} " if err.code else ""
        return CloudFailure(REFUSED, f"Google Cloud refused the request ({code}{type(err).__name__}): {err.message}")
    try:
        import requests  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - requests comes with every google-cloud client
        return None
    if isinstance(err, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return CloudFailure(UNAVAILABLE, f"could not reach Google Cloud ({type(err).__name__}): try again")
    return None


def exit_status(err: Exception, *, note: str = "") -> int:
    """Print `err` as one line (with `note` after it) and return its exit status: 3 for a failure worth retrying
    (contracts.run_request.BackendUnavailableError, a timeout, quota, 5xx), 4 for a refusal. Anything that is
    not a cloud failure is re-raised, traceback and all: a bug must not pass for a cloud message."""
    from contracts.run_request import BackendUnavailableError

    if isinstance(err, BackendUnavailableError):
        print(f"error (transient, retry): {err}{note}", file=sys.stderr)
        return UNAVAILABLE
    failure = cloud_failure(err)
    if failure is None:
        raise err
    print(f"error: {failure}{note}", file=sys.stderr)
    return failure.status
