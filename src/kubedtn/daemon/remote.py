"""The client of peer daemons' ``Remote`` service: the far ends of cross-node links.

Every daemon listens on the same GRPC_PORT, so a peer is found by its node IP (the
``src_ip`` its pods record). Channels are kept per peer and closed with the client.

A peer that answers ``UpdateMany`` with UNIMPLEMENTED is a kube-dtn daemon (its Remote
service has ``Update`` only): its ends are then asked for one ``Update`` each, now and
from then on, so a cluster can move from kube-dtn to kubedtn node by node.

With the node's certificate (``pem``), every channel is mutual TLS: this node shows its
certificate, and the peer's must be signed by the cluster CA and name the peer's IP.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import Future
from typing import Any

import grpc

from kubedtn.daemon.convert import remote_to_pb, remotes_to_pb
from kubedtn.daemon.plan import RemoteEnd
from kubedtn.daemon.tls import Pem, channel_credentials
from kubedtn.errors import KubedtnError, TemporaryError, ValidationError
from kubedtn.proto.v1 import kube_dtn_pb2 as pb
from kubedtn.proto.v1 import kube_dtn_pb2_grpc as pb_grpc

_PERMANENT = (grpc.StatusCode.INVALID_ARGUMENT,)
# The peer daemon is down or restarting (or its node unreachable): retrying may help.
_TEMPORARY = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


class GrpcRemote:
    """:class:`~kubedtn.daemon.crossnode.RemoteUpdater` over gRPC: mutual TLS with ``pem``,
    else without authentication (as kube-dtn)."""

    def __init__(self, *, port: int, timeout: float = 10.0, pem: Pem | None = None) -> None:
        self.port = port
        self.timeout = timeout
        self._credentials = None if pem is None else channel_credentials(pem)
        self._channels: dict[str, grpc.Channel] = {}
        self._lock = threading.Lock()
        self._one_by_one: set[str] = set()  # peers without UpdateMany (kube-dtn daemons)

    def _stub(self, node_ip: str) -> pb_grpc.RemoteStub:
        with self._lock:
            channel = self._channels.get(node_ip)
            if channel is None:
                host = f"[{node_ip}]" if ":" in node_ip else node_ip
                target = f"{host}:{self.port}"
                channel = self._channels[node_ip] = (
                    grpc.insecure_channel(target)
                    if self._credentials is None
                    else grpc.secure_channel(target, self._credentials)
                )
        return pb_grpc.RemoteStub(channel)  # type: ignore[no-untyped-call]

    def _call(self, node_ip: str, method: str, request: Any, *, what: str) -> Any:
        """One RPC to the daemon at ``node_ip``; gRPC failures as kubedtn errors naming ``what``."""
        try:
            return getattr(self._stub(node_ip), method)(request, timeout=self.timeout)
        except grpc.RpcError as e:
            raise self._error(e, node_ip, what=what) from None

    def _error(self, e: grpc.RpcError, node_ip: str, *, what: str) -> KubedtnError:
        where = f"{what} on the daemon at {node_ip}:{self.port}"
        code = e.code() if isinstance(e, grpc.Call) else grpc.StatusCode.UNKNOWN
        detail = e.details() if isinstance(e, grpc.Call) else str(e)
        if code in _PERMANENT:
            return ValidationError(f"{where}: {detail}")
        if code in _TEMPORARY:
            return TemporaryError(
                f"{where}: the daemon does not answer ({detail}); its end is made when that daemon "
                "starts again (it sets up its pods' links) or when this pod is set up again",
                delay=1.0,
            )
        return KubedtnError(f"{where}: {code.name}: {detail}")

    def update(self, end: RemoteEnd) -> None:
        what = f"Remote.Update of {end.kube_ns}/{end.pod}"
        reply = self._call(end.node_ip, "Update", remote_to_pb(end), what=what)
        if not reply.response:
            raise KubedtnError(f"{what} on {end.node_ip}: the peer daemon answered false")

    def update_many(self, node_ip: str, ends: Sequence[RemoteEnd]) -> list[KubedtnError | None]:
        if node_ip in self._one_by_one:
            return self._update_each(ends)
        return self._many(node_ip, "UpdateMany", ends)

    def _update_each(self, ends: Sequence[RemoteEnd]) -> list[KubedtnError | None]:
        """``Update`` of each end, for a peer without UpdateMany."""
        errors: list[KubedtnError | None] = []
        for end in ends:
            try:
                self.update(end)
                errors.append(None)
            except KubedtnError as e:
                errors.append(e)
        return errors

    def _lacks_update_many(self, e: grpc.RpcError, node_ip: str) -> bool:
        if isinstance(e, grpc.Call) and e.code() == grpc.StatusCode.UNIMPLEMENTED:
            with self._lock:
                self._one_by_one.add(node_ip)
            return True
        return False

    def start_update_many(self, node_ip: str, ends: Sequence[RemoteEnd]) -> Future[list[KubedtnError | None]]:
        """The request is built and handed to gRPC in this thread, which sends it at once;
        a pool thread building it would compete for the GIL with the caller's own work and
        reach the peer later."""
        what = f"Remote.UpdateMany of {len(ends)} link end(s)"
        answer: Future[list[KubedtnError | None]] = Future()
        if node_ip in self._one_by_one:
            answer.set_result(self._update_each(ends))
            return answer
        request = remotes_to_pb(ends)
        call = self._stub(node_ip).UpdateMany.future(request, timeout=self.timeout)

        def done(call: Any) -> None:
            try:
                answer.set_result(self._per_end(call.result(), node_ip, ends, what=what))
            except grpc.RpcError as e:
                if self._lacks_update_many(e, node_ip):
                    # (gRPC's callback thread: a few Update calls, as kube-dtn's own daemon makes)
                    answer.set_result(self._update_each(ends))
                else:
                    answer.set_result([self._error(e, node_ip, what=what)] * len(ends))

        call.add_done_callback(done)
        return answer

    def delete_many(self, node_ip: str, ends: Sequence[RemoteEnd]) -> list[KubedtnError | None]:
        return self._many(node_ip, "DeleteMany", ends)

    def _many(self, node_ip: str, method: str, ends: Sequence[RemoteEnd]) -> list[KubedtnError | None]:
        """One call for every end; an error per end (the same one for all when the call fails)."""
        what = f"Remote.{method} of {len(ends)} link end(s)"
        request = remotes_to_pb(ends)
        try:
            reply = getattr(self._stub(node_ip), method)(request, timeout=self.timeout)
        except grpc.RpcError as e:
            if method == "UpdateMany" and self._lacks_update_many(e, node_ip):
                return self._update_each(ends)
            return [self._error(e, node_ip, what=what)] * len(ends)
        return self._per_end(reply, node_ip, ends, what=what)

    @staticmethod
    def _per_end(
        reply: pb.RemoteResults, node_ip: str, ends: Sequence[RemoteEnd], *, what: str
    ) -> list[KubedtnError | None]:
        errors = list(reply.errors)
        if len(errors) != len(ends):
            broken = KubedtnError(f"{what} on {node_ip}: {len(errors)} results for {len(ends)} ends")
            return [broken] * len(ends)
        return [
            None
            if not text
            else KubedtnError(f"link {end.uid} of {end.kube_ns}/{end.pod} on {node_ip}: {text}")
            for end, text in zip(ends, errors, strict=True)
        ]

    def close(self) -> None:
        with self._lock:
            channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            channel.close()
