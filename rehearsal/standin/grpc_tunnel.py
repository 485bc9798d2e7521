"""gRPC over HTTP/2 inside the proxy tunnel, for the one SDK call past the seam that speaks it.

The Vertex AI SDK asks Resource Manager for the project's number (GetProject) over gRPC, with a client of its
own, before it creates a PipelineJob. Unanswered it retries for a minute and gives up; here it is answered
(h2 for the framing, the Resource Manager client's own message types for the bytes), IAM-checked
(resourcemanager.projects.get) and logged as past the seam. Any other gRPC method gets UNIMPLEMENTED.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from typing import Any

import h2.config
import h2.connection
import h2.events
import h2.exceptions

from rehearsal.standin.iam import Policy, project_target
from rehearsal.standin.server import Check, LogEntry, RequestLog

GET_PROJECT = "/google.cloud.resourcemanager.v3.Projects/GetProject"
# google.rpc.Code
OK, PERMISSION_DENIED, NOT_FOUND, UNIMPLEMENTED, UNAUTHENTICATED = 0, 7, 5, 12, 16


class GrpcTunnel:
    def __init__(
        self, policy: Policy, log: RequestLog, member_of_token: Callable[[str], str | None], numbers: dict[str, str]
    ) -> None:
        self.policy = policy
        self.log = log
        self.member_of_token = member_of_token
        self.numbers = numbers

    def serve(self, sock: ssl.SSLSocket, host: str) -> None:
        try:
            self._serve(sock, host)
        except (OSError, h2.exceptions.ProtocolError):
            return  # The client closed the tunnel (gRPC does so once it has its answer).

    def _serve(self, sock: ssl.SSLSocket, host: str) -> None:
        connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        connection.initiate_connection()
        sock.sendall(connection.data_to_send())
        streams: dict[int, dict[str, Any]] = {}
        while True:
            data = sock.recv(65535)
            if not data:
                return
            for event in connection.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    streams[event.stream_id] = {"headers": dict(event.headers), "data": bytearray()}
                elif isinstance(event, h2.events.DataReceived):
                    streams[event.stream_id]["data"] += event.data
                    connection.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                elif isinstance(event, h2.events.StreamEnded):
                    stream = streams.pop(event.stream_id)
                    self._answer(connection, event.stream_id, host, stream["headers"], bytes(stream["data"]))
                elif isinstance(event, h2.events.ConnectionTerminated):
                    sock.sendall(connection.data_to_send())
                    return
            sock.sendall(connection.data_to_send())

    def _answer(self, connection: Any, stream_id: int, host: str, headers: dict[str, str], body: bytes) -> None:
        path = headers.get(":path", "")
        member = self.member_of_token(headers.get("authorization", "").removeprefix("Bearer ").strip())
        entry = LogEntry(
            time.time(),
            host,
            f"gRPC {path}",
            member.split(":", 1)[1] if member else "anonymous",
            path=f"https://{host}{path}",
            note="past the seam: an SDK's own gRPC call, answered through the tunnel",
        )
        status, message, payload = self._call(path, body[5:], member, entry)
        entry.status = {OK: 200, PERMISSION_DENIED: 403, NOT_FOUND: 404, UNAUTHENTICATED: 401}.get(status, 501)
        self.log.add(entry)
        connection.send_headers(stream_id, [(":status", "200"), ("content-type", "application/grpc")])
        if payload is not None:
            connection.send_data(stream_id, b"\x00" + len(payload).to_bytes(4, "big") + payload)
        trailers = [("grpc-status", str(status))] + ([("grpc-message", message)] if message else [])
        connection.send_headers(stream_id, trailers, end_stream=True)

    def _call(self, path: str, request: bytes, member: str | None, entry: LogEntry) -> tuple[int, str, bytes | None]:
        if path != GET_PROJECT:
            return UNIMPLEMENTED, f"{path} is not served by the rehearsal's stand-in", None
        if member is None:
            return UNAUTHENTICATED, "Request had invalid authentication credentials.", None
        from google.cloud import resourcemanager_v3

        name = resourcemanager_v3.GetProjectRequest.deserialize(request).name
        ref = name.removeprefix("projects/")
        project = next((p for p, n in self.numbers.items() if ref in (p, n)), None)
        target = project_target(project or ref)
        decision = self.policy.check(member, "resourcemanager.projects.get", target)
        entry.checks.append(
            Check(
                "resourcemanager.projects.get",
                target.name,
                decision.allowed,
                decision.grant.source if decision.grant else None,
            )
        )
        if project is None or not decision.allowed:
            return (
                PERMISSION_DENIED,
                f"Permission 'resourcemanager.projects.get' denied on resource "
                f"'//cloudresourcemanager.googleapis.com/{name}' (or it may not exist).",
                None,
            )
        answer = resourcemanager_v3.Project(
            name=f"projects/{self.numbers[project]}",
            project_id=project,
            display_name=project,
            state=resourcemanager_v3.Project.State.ACTIVE,
        )
        return OK, "", resourcemanager_v3.Project.serialize(answer)
