"""A stand-in on loopback with one bucket pair, two accounts and their grants, for the stand-in's own tests.

The clients are the real ones (google-cloud-storage, requests): each test talks HTTP to the server as the
processes of the rehearsal do, with a token from the stand-in's metadata server.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests

from rehearsal.standin.cloudbuild import CloudBuild, Trigger
from rehearsal.standin.iam import Grant, Policy
from rehearsal.standin.metadata import Identities
from rehearsal.standin.server import Server
from rehearsal.standin.storage import Bucket, Clock, Storage
from rehearsal.standin.vertex import Vertex

WRITER = "writer@p.iam.gserviceaccount.com"
READER = "reader@p.iam.gserviceaccount.com"
PREFIXED = 'resource.name.startsWith("projects/_/buckets/shared/objects/registry/")'


@dataclass
class Stand:
    server: Server
    identities: Identities
    storage: Storage
    cloudbuild: CloudBuild
    vertex: Vertex
    policy: Policy

    def url(self, path: str) -> str:
        return f"{self.server.base_url}/{path}"

    def headers(self, email: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.identities.token_for(email)}"}

    def call(self, method: str, path: str, email: str = WRITER, **kwargs: object) -> requests.Response:
        return requests.request(method, self.url(path), headers=self.headers(email), timeout=10, **kwargs)


@pytest.fixture
def stand() -> Iterator[Stand]:
    identities = Identities()
    for email in (WRITER, READER):
        identities.add(f"serviceAccount:{email}", "p")
    policy = Policy(
        grants=[
            Grant(f"serviceAccount:{WRITER}", "roles/storage.objectAdmin", "projects/_/buckets/data", None, "t:admin"),
            Grant(
                f"serviceAccount:{READER}",
                "roles/storage.objectCreator",
                "projects/_/buckets/shared",
                PREFIXED,
                "t:prefix",
            ),
            Grant(f"serviceAccount:{WRITER}", "roles/cloudbuild.builds.editor", "projects/p", None, "t:builds"),
            Grant(
                f"serviceAccount:{WRITER}",
                "roles/iam.serviceAccountUser",
                f"projects/p/serviceAccounts/{READER}",
                None,
                "t:actas",
            ),
            Grant(f"serviceAccount:{READER}", "roles/cloudbuild.builds.approver", "projects/p", None, "t:approver"),
            Grant(f"serviceAccount:{WRITER}", "roles/aiplatform.user", "projects/p", None, "t:vertex"),
        ]
    )
    server = Server(policy, identities.member_of_token)
    server.metadata = identities.handle
    clock = Clock()
    storage = Storage(clock, {"p": "123"})
    storage.buckets["data"] = Bucket(
        "data",
        "p",
        versioning=True,
        lifecycle=[
            {"action": {"type": "Delete"}, "condition": {"age": 30}},
            {"action": {"type": "Delete"}, "condition": {"days_since_noncurrent_time": 7}},
        ],
    )
    storage.buckets["shared"] = Bucket("shared", "p")
    cloudbuild = CloudBuild(
        {"p": "123"}, lambda path: ({"steps": [{"name": "bash", "args": ["-c", "true"]}]}, {"COMMIT_SHA": "c" * 40})
    )
    cloudbuild.triggers.append(
        Trigger(
            "t",
            "t:trigger",
            "p",
            "europe-west4",
            "tid",
            "gated",
            "ci/x.yaml",
            READER,
            {},
            approval_required=True,
            pubsub_topic=None,
        )
    )
    vertex = Vertex(storage, {"p": "123"})
    server.register("storage.googleapis.com", "storage.v1", storage.handle)
    server.register("cloudbuild.googleapis.com", "cloudbuild.v1", cloudbuild.handle)
    server.register("aiplatform.googleapis.com", "aiplatform.v1", vertex.handle)
    server.start()
    try:
        yield Stand(server, identities, storage, cloudbuild, vertex, policy)
    finally:
        server.stop()
