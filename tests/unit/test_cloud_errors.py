"""Cloud failures as one line and a status: 3 try again (unavailable, quota, timeout), 4 fix the set-up first
(no credentials, permission denied naming the account and the permission, not found); never a traceback."""

from __future__ import annotations

import concurrent.futures

import pytest
from google.api_core import exceptions as api
from google.auth import exceptions as auth

from release import cloud_errors, submit
from release.cloud_errors import REFUSED, UNAVAILABLE, cloud_failure

DENIED = api.PermissionDenied(
    "Permission 'aiplatform.pipelineJobs.create' denied on resource "
    "'//aiplatform.googleapis.com/projects/my-dev-project/locations/europe-west4' (or it may not exist)."
)


@pytest.mark.parametrize(
    ("error", "status", "says"),
    [
        (auth.DefaultCredentialsError("not found"), REFUSED, "no Google Cloud credentials"),
        (auth.RefreshError("invalid_grant"), REFUSED, "credentials were refused"),
        (DENIED, REFUSED, "needs aiplatform.pipelineJobs.create"),
        (api.Forbidden("x does not have storage.objects.get access to the Google Cloud Storage object."), REFUSED,
         "needs storage.objects.get"),
        (api.NotFound("Endpoint projects/p/locations/r/endpoints/1 not found"), REFUSED, "not found: Endpoint"),
        (api.ResourceExhausted("Quota exceeded for aiplatform.googleapis.com/custom_model_serving_cpus"), UNAVAILABLE,
         "quota exhausted"),
        (api.TooManyRequests("rate limited"), UNAVAILABLE, "quota exhausted"),
        (api.ServiceUnavailable("backend down"), UNAVAILABLE, "unavailable"),
        (api.DeadlineExceeded("deadline"), UNAVAILABLE, "unavailable"),
        (concurrent.futures.TimeoutError(), UNAVAILABLE, "timed out"),
        (TimeoutError("deploy still running"), UNAVAILABLE, "timed out"),
        (api.FailedPrecondition("endpoint busy"), REFUSED, "refused the request (400 FailedPrecondition)"),
    ],
)  # fmt: skip
def test_each_cloud_failure_is_one_line_with_its_status(error, status, says):
    failure = cloud_failure(error, account="penguins-dev-ci@my-dev-project.iam.gserviceaccount.com")
    assert failure is not None and failure.status == status
    assert says in failure.message and "\n" not in failure.message


def test_permission_denied_names_the_account_and_the_permission():
    failure = cloud_failure(DENIED, account="penguins-dev-ci@my-dev-project.iam.gserviceaccount.com")
    assert failure is not None
    assert failure.message.startswith(
        "permission denied: penguins-dev-ci@my-dev-project.iam.gserviceaccount.com "
        "(needs aiplatform.pipelineJobs.create)"
    )


def test_the_account_comes_from_the_ambient_credentials_when_not_given(monkeypatch):
    monkeypatch.setattr(cloud_errors, "ambient_account", lambda: "me@p.iam.gserviceaccount.com")
    failure = cloud_failure(DENIED)
    assert failure is not None and "permission denied: me@p.iam.gserviceaccount.com" in failure.message


def test_anything_else_is_not_a_cloud_failure():
    assert cloud_failure(ValueError("a bug")) is None
    assert cloud_failure(KeyError("a bug")) is None


@pytest.mark.parametrize(("error", "status"), [(DENIED, REFUSED), (api.ServiceUnavailable("down"), UNAVAILABLE)])
def test_submit_exits_with_the_status_and_one_line(error, status, monkeypatch, capsys):
    """The vertex submitter's refusal reaches the command line as one line, not a traceback."""

    class Refusing:
        backend = "vertex"
        template_uri = "gs://penguins-dev-artifacts/templates/" + "0" * 64 + "/pipeline.json"

        def submit(self, request):
            raise error

    monkeypatch.setattr(submit, "_submitter", lambda args, config: Refusing())
    monkeypatch.setattr(cloud_errors, "ambient_account", lambda: None)
    assert submit.main(["--env", "dev", "--pipeline", "penguins", "--template", Refusing.template_uri]) == status
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("error: ") and "Traceback" not in err
