"""The Google API seam: endpoints and transport from one place, and how a REST 409 is read."""

from __future__ import annotations

import pytest
import requests
from google.api_core import exceptions

from contracts import google_apis


def _rest_409(status: str) -> exceptions.GoogleAPICallError:
    """What google-api-core raises for an HTTP 409 answer with Google's JSON error body (the REST transport)."""
    response = requests.Response()
    response.status_code = 409
    response._content = (
        f'{{"error": {{"code": 409, "message": "PipelineJob x already exists", "status": "{status}"}}}}'
    ).encode()
    response.request = requests.Request("POST", "https://europe-west4-aiplatform.googleapis.com/v1/x").prepare()
    return exceptions.from_http_response(response)


def test_a_rest_409_is_a_conflict_whose_status_says_already_exists():
    err = _rest_409("ALREADY_EXISTS")
    assert isinstance(err, exceptions.Conflict) and not isinstance(err, exceptions.AlreadyExists)
    assert google_apis.already_exists(err)


def test_an_aborted_409_is_not_already_exists():
    assert not google_apis.already_exists(_rest_409("ABORTED"))


def test_grpcs_already_exists_and_other_errors():
    assert google_apis.already_exists(exceptions.AlreadyExists("exists"))
    assert not google_apis.already_exists(exceptions.NotFound("gone"))


def test_endpoints_move_together_with_the_base_url(monkeypatch):
    monkeypatch.delenv(google_apis.BASE_URL_VARIABLE, raising=False)
    assert google_apis.endpoint("cloudbuild.googleapis.com") == "cloudbuild.googleapis.com"
    assert google_apis.storage_client_options() is None
    assert google_apis.aiplatform_init_arguments("europe-west4") == {"api_transport": "rest"}
    monkeypatch.setenv(google_apis.BASE_URL_VARIABLE, "http://127.0.0.1:9/")
    assert google_apis.client_options(google_apis.vertex_host("europe-west4")) == {
        "api_endpoint": "http://127.0.0.1:9/europe-west4-aiplatform.googleapis.com"
    }
    assert google_apis.storage_client_options() == {"api_endpoint": "http://127.0.0.1:9/storage.googleapis.com"}
    monkeypatch.setenv(google_apis.BASE_URL_VARIABLE, "127.0.0.1:9")
    with pytest.raises(ValueError, match="GOOGLE_APIS_BASE_URL"):
        google_apis.base_url()
