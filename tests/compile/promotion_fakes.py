"""Stand-ins for the promotion tests on Vertex, beside tests/compile/vertex_fakes.py.

- OperatedEndpointService: deploys are long-running operations that finish after a number of polls, with
  projects.locations.endpoints.operations get and cancel as Google's aiplatform v1 reference describes them
  (cancel is best effort: the operation then ends with code 1, CANCELLED, or finishes anyway).
- Faults: counts every request the stand-ins receive (Vertex and GCS) and fails the n-th one, with an error
  (the request refused) or a Crash (the process gone: nothing after it runs, no recovery).
- CountingStorage: the GCS client of the journal, through the same fault counter, honouring
  if_generation_match=0 as GCS does (gcp-storage-emulator ignores it on uploads).
"""

from __future__ import annotations

from google.cloud.aiplatform_v1.services.endpoint_service.transports.rest import EndpointServiceRestTransport
from google.cloud.aiplatform_v1.services.model_service import ModelServiceClient
from google.longrunning import operations_pb2
from google.rpc import status_pb2

from tests.compile.vertex_fakes import FakeEndpointService, _answer


class Crash(BaseException):
    """The process stops here: not an Exception, so no `except Exception` in the mover runs."""


class Faults:
    """Every request, in order; `fail_at(n, error)` makes the n-th from now raise `error` (once)."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        # The kind of request the armed failure hit, once it did.
        self.fired: str | None = None
        self._at: int | None = None
        self._error: BaseException | None = None

    def fail_at(self, n: int, error: BaseException) -> None:
        self._at, self._error, self.fired = len(self.requests) + n, error, None

    def disarm(self) -> None:
        self._at = None

    def hit(self, kind: str) -> None:
        self.requests.append(kind)
        if self._at is not None and len(self.requests) == self._at:
            error, self._at, self.fired = self._error, None, kind
            assert error is not None
            raise error


class OperatedEndpointService(FakeEndpointService):
    def __init__(self, endpoint: str, faults: Faults, deploy_polls: int = 0) -> None:
        super().__init__(endpoint)
        self.faults = faults
        # How many `get` polls a deploy takes to finish (0: done in its response).
        self.deploy_polls = deploy_polls
        # What a cancelled deploy does: "cancelled" (ends with CANCELLED), "finishes" (deploys anyway) or
        # "runs" (is still running however often it is asked).
        self.on_cancel = "cancelled"
        self.operations: dict[str, dict] = {}

    def install(self, monkeypatch):
        super().install(monkeypatch)
        for name in ("get_operation", "cancel_operation"):
            monkeypatch.setattr(EndpointServiceRestTransport, name, property(_answer(getattr(self, name))))
        faults = self.faults
        for name in ("get_endpoint", "deploy_model", "update_endpoint", "undeploy_model"):
            method = getattr(self, name)

            def counted(request, _method=method, _name=name, **kwargs):
                faults.hit(f"endpoint.{_name}")
                return _method(request, **kwargs)

            monkeypatch.setattr(EndpointServiceRestTransport, name, property(_answer(counted)))
        return self

    def deploy_model(self, request, **kwargs):
        if self.deploy_polls == 0 or self.fail_deploy:
            done = super().deploy_model(request, **kwargs)
            name = self._name()
            done.name = name
            self.operations[name] = {"done": done}
            return done
        self.requests.append(("deploy", request))
        name = self._name()
        self.operations[name] = {"request": request, "polls": 0, "cancelled": False}
        return operations_pb2.Operation(name=name, done=False)

    def undeploy_model(self, request, **kwargs):
        done = super().undeploy_model(request, **kwargs)
        done.name = self._name()
        self.operations[done.name] = {"done": done}
        return done

    def get_operation(self, request, **_):
        self.faults.hit("endpoint.get_operation")
        self.requests.append(("get_operation", request))
        operation = self.operations[request.name]
        if "done" in operation:
            return operation["done"]
        operation["polls"] += 1
        cancelled = operation["cancelled"]
        finishes = (self.on_cancel == "finishes") if cancelled else operation["polls"] >= self.deploy_polls
        if cancelled and self.on_cancel == "cancelled":
            error = status_pb2.Status(code=1, message="Operation was cancelled.")
            operation["done"] = operations_pb2.Operation(name=request.name, done=True, error=error)
        elif finishes:
            finished = FakeEndpointService.deploy_model(self, operation["request"])
            self.requests[-1] = ("deploy-finished", request.name)  # The same deploy finishing, not a second one.
            finished.name = request.name
            operation["done"] = finished
        else:
            return operations_pb2.Operation(name=request.name, done=False)
        return operation["done"]

    def cancel_operation(self, request, **_):
        self.faults.hit("endpoint.cancel_operation")
        self.requests.append(("cancel", request))
        operation = self.operations[request.name]
        if "done" not in operation:
            operation["cancelled"] = True
        return None

    def _name(self) -> str:
        return f"{self.endpoint.name}/operations/{len(self.operations) + 1}"


def count_model_service(monkeypatch, faults: Faults) -> None:
    """Route the ModelService methods the stand-in answers through the fault counter."""
    for name in ("get_model", "list_model_versions", "merge_version_aliases"):
        method = getattr(ModelServiceClient, name)

        def counted(client, *args, _method=method, _name=name, **kwargs):
            faults.hit(f"model.{_name}")
            return _method(client, *args, **kwargs)

        monkeypatch.setattr(ModelServiceClient, name, counted)


class CountingStorage:
    """A storage client over the emulator whose every request goes through `faults`."""

    def __init__(self, client, faults: Faults) -> None:
        self.client, self.faults = client, faults

    def bucket(self, name):
        return _Bucket(self.client.bucket(name), self.faults)

    def list_blobs(self, bucket, **kwargs):
        self.faults.hit("gcs.list")
        return [_Blob(b, self.faults) for b in self.client.list_blobs(bucket, **kwargs)]


class _Bucket:
    def __init__(self, bucket, faults: Faults) -> None:
        self._bucket, self.faults, self.name = bucket, faults, bucket.name

    def list_blobs(self, **kwargs):
        self.faults.hit("gcs.list")
        return [_Blob(b, self.faults) for b in self._bucket.list_blobs(**kwargs)]

    def blob(self, name):
        return _Blob(self._bucket.blob(name), self.faults)


class _Blob:
    def __init__(self, blob, faults: Faults) -> None:
        self._blob, self.faults, self.name = blob, faults, blob.name

    def __getattr__(self, name):
        # generation, crc32c and the rest of what a listing gives: the emulator's blob's.
        return getattr(self._blob, name)

    def rewrite(self, source, if_generation_match=None, **kwargs):
        from google.api_core import exceptions

        self.faults.hit("gcs.rewrite")
        # gcp-storage-emulator ignores the precondition: refuse a second create as GCS does.
        if if_generation_match == 0 and self._blob.exists():
            raise exceptions.PreconditionFailed(f"{self.name}: precondition if_generation_match=0 failed")
        source = getattr(source, "_blob", source)
        return self._blob.rewrite(source, if_generation_match=if_generation_match, **kwargs)

    def upload_from_string(self, data, if_generation_match=None, **kwargs):
        from google.api_core import exceptions

        self.faults.hit("gcs.upload")
        if if_generation_match == 0 and self._blob.exists():
            raise exceptions.PreconditionFailed(f"{self.name}: precondition if_generation_match=0 failed")
        return self._blob.upload_from_string(data, if_generation_match=if_generation_match, **kwargs)

    def download_as_bytes(self, *args, **kwargs):
        self.faults.hit("gcs.download")
        return self._blob.download_as_bytes(*args, **kwargs)

    def exists(self, *args, **kwargs):
        self.faults.hit("gcs.exists")
        return self._blob.exists(*args, **kwargs)
