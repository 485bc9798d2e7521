"""Resource Manager, API v3 projects.get: the one call an SDK makes past the seam that a flow waits for.

The Vertex AI SDK checks that the pipeline root's bucket belongs to the job's project before it creates a
PipelineJob (aiplatform/utils/gcs_utils.py, _verify_bucket_ownership) with a client of its own that the
project cannot point at the stand-in. It arrives through the proxy tunnel and is answered here, checked
(resourcemanager.projects.get) and logged like any other request, marked as past the seam.
"""

from __future__ import annotations

from rehearsal.standin.errors import ApiError
from rehearsal.standin.iam import project_target
from rehearsal.standin.server import Call, Response


class ResourceManager:
    def __init__(self, numbers: dict[str, str]) -> None:
        self.numbers = numbers  # project id -> number

    def handle(self, call: Call) -> Response:
        if call.method.id != "cloudresourcemanager.projects.get":
            raise ApiError(501, f"{call.method.id} is not served by the rehearsal's stand-in")
        ref = call.params["projectsId"]
        project = next((p for p, n in self.numbers.items() if ref in (p, n)), None)
        if project is None:
            raise ApiError(
                403,
                f"Permission 'resourcemanager.projects.get' denied on resource "
                f"'//cloudresourcemanager.googleapis.com/projects/{ref}' (or it may not exist).",
            )
        call.require("resourcemanager.projects.get", project_target(project))
        number = self.numbers[project]
        return Response(
            json={
                "name": f"projects/{number}",
                "projectId": project,
                "state": "ACTIVE",
                "displayName": project,
                "parent": "organizations/0",
            }
        )
