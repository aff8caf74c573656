"""The client of peer daemons' ``Remote.Update``: the far end of a cross-node link.

Every daemon listens on the same GRPC_PORT, so a peer is found by its node IP (the
``src_ip`` its pods record). Channels are kept per peer and closed with the client.
"""

from __future__ import annotations

import threading

import grpc

from kubedtn.daemon.convert import remote_to_pb
from kubedtn.daemon.plan import RemoteEnd
from kubedtn.errors import KubedtnError, TemporaryError, ValidationError
from kubedtn.proto.v1 import kube_dtn_pb2_grpc as pb_grpc

_PERMANENT = (grpc.StatusCode.INVALID_ARGUMENT,)


class GrpcRemote:
    """:class:`~kubedtn.daemon.manager.RemoteUpdater` over gRPC (insecure, as kube-dtn)."""

    def __init__(self, *, port: int, timeout: float = 10.0) -> None:
        self.port = port
        self.timeout = timeout
        self._channels: dict[str, grpc.Channel] = {}
        self._lock = threading.Lock()

    def _stub(self, node_ip: str) -> pb_grpc.RemoteStub:
        with self._lock:
            channel = self._channels.get(node_ip)
            if channel is None:
                host = f"[{node_ip}]" if ":" in node_ip else node_ip
                channel = self._channels[node_ip] = grpc.insecure_channel(f"{host}:{self.port}")
        return pb_grpc.RemoteStub(channel)  # type: ignore[no-untyped-call]

    def update(self, end: RemoteEnd) -> None:
        target = f"{end.node_ip}:{self.port}"
        where = f"link {end.uid}: Remote.Update of {end.kube_ns}/{end.pod} on the daemon at {target}"
        try:
            reply = self._stub(end.node_ip).Update(remote_to_pb(end), timeout=self.timeout)
        except grpc.RpcError as e:
            code = e.code() if isinstance(e, grpc.Call) else grpc.StatusCode.UNKNOWN
            detail = e.details() if isinstance(e, grpc.Call) else str(e)
            if code in _PERMANENT:
                raise ValidationError(f"{where}: {detail}") from None
            if code == grpc.StatusCode.UNAVAILABLE:
                raise TemporaryError(f"{where}: the daemon does not answer ({detail})", delay=1.0) from None
            raise KubedtnError(f"{where}: {code.name}: {detail}") from None
        if not reply.response:
            raise KubedtnError(f"{where}: the peer daemon answered false")

    def close(self) -> None:
        with self._lock:
            channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            channel.close()
