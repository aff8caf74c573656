"""The client of peer daemons' ``Remote`` service: the far ends of cross-node links.

Every daemon listens on the same GRPC_PORT, so a peer is found by its node IP (the
``src_ip`` its pods record). Channels are kept per peer (``PeerChannels``): one unused for
``limits.PEER_IDLE_S`` is closed, and beyond ``limits.MAX_PEER_CHANNELS`` the least
recently used are, so a cluster whose nodes come and go does not keep them all. Lists of
ends longer than a peer accepts in one request (``limits.MAX_BATCH``) go in several.

A peer that answers ``UpdateMany`` with UNIMPLEMENTED is a kube-dtn daemon (its Remote
service has ``Update`` only): its ends are then asked for one ``Update`` each, now and
from then on, so a cluster can move from kube-dtn to kubedtn node by node.

With the node's certificate (``pem``), every channel is mutual TLS: this node shows its
certificate, and the peer's must be signed by the cluster CA and name the peer's IP.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any

import grpc

from kubedtn.daemon.convert import remote_to_pb, remotes_to_pb
from kubedtn.daemon.limits import MAX_PEER_CHANNELS, PEER_IDLE_S, channel_options, chunks
from kubedtn.daemon.plan import RemoteEnd
from kubedtn.daemon.tls import Pem, channel_credentials
from kubedtn.errors import KubedtnError, TemporaryError, ValidationError
from kubedtn.proto.v1 import kube_dtn_pb2 as pb
from kubedtn.proto.v1 import kube_dtn_pb2_grpc as pb_grpc

_PERMANENT = (grpc.StatusCode.INVALID_ARGUMENT,)
# The peer daemon is down or restarting (or its node unreachable): retrying may help.
_TEMPORARY = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


Answers = list[KubedtnError | None]


class PeerChannels:
    """A channel per peer address, made on first use; ``get`` closes the ones unused for
    ``idle_s``, and the least recently used beyond ``limit`` — but never one used within
    ``busy_s`` (a call on it may still be running: closing would cancel it)."""

    def __init__(
        self,
        make: Callable[[str], grpc.Channel],
        *,
        idle_s: float = PEER_IDLE_S,
        limit: int = MAX_PEER_CHANNELS,
        busy_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._make = make
        self.idle_s = idle_s
        self.limit = limit
        self.busy_s = busy_s
        self._clock = clock
        self._lock = threading.Lock()
        self._channels: OrderedDict[str, tuple[grpc.Channel, float]] = OrderedDict()  # oldest use first
        self.closed = 0  # channels evicted (for tests and logs)

    def get(self, address: str) -> grpc.Channel:
        now = self._clock()
        with self._lock:
            entry = self._channels.pop(address, None)
            channel = self._make(address) if entry is None else entry[0]
            self._channels[address] = (channel, now)
            stale = self._evict(now)
        for old in stale:
            old.close()
        return channel

    def _evict(self, now: float) -> list[grpc.Channel]:
        stale: list[grpc.Channel] = []
        while self._channels:
            address, (channel, used) = next(iter(self._channels.items()))
            idle = now - used
            if idle < self.idle_s and (len(self._channels) <= self.limit or idle < self.busy_s):
                break
            del self._channels[address]
            stale.append(channel)
        self.closed += len(stale)
        return stale

    def __len__(self) -> int:
        with self._lock:
            return len(self._channels)

    def close(self) -> None:
        with self._lock:
            channels = [channel for channel, _ in self._channels.values()]
            self._channels.clear()
        for channel in channels:
            channel.close()


def _joined(parts: Sequence[Future[Answers]]) -> Future[Answers]:
    """One future of the answers of ``parts``, in order, once all are done."""
    if len(parts) == 1:
        return parts[0]
    whole: Future[Answers] = Future()
    left = [len(parts)]
    lock = threading.Lock()

    def done(_: Future[Answers]) -> None:
        with lock:
            left[0] -= 1
            if left[0]:
                return
        whole.set_result([answer for part in parts for answer in part.result()])

    for part in parts:
        part.add_done_callback(done)
    return whole


class GrpcRemote:
    """:class:`~kubedtn.daemon.crossnode.RemoteUpdater` over gRPC: mutual TLS with ``pem``,
    else without authentication (as kube-dtn)."""

    def __init__(self, *, port: int, timeout: float = 10.0, pem: Pem | None = None) -> None:
        self.port = port
        self.timeout = timeout
        self._credentials = None if pem is None else channel_credentials(pem)
        self.channels = PeerChannels(self._channel, busy_s=timeout)
        self._lock = threading.Lock()
        self._one_by_one: set[str] = set()  # peers without UpdateMany (kube-dtn daemons)

    def _channel(self, node_ip: str) -> grpc.Channel:
        host = f"[{node_ip}]" if ":" in node_ip else node_ip
        target = f"{host}:{self.port}"
        if self._credentials is None:
            return grpc.insecure_channel(target, options=channel_options())
        return grpc.secure_channel(target, self._credentials, options=channel_options())

    def _stub(self, node_ip: str) -> pb_grpc.RemoteStub:
        return pb_grpc.RemoteStub(self.channels.get(node_ip))  # type: ignore[no-untyped-call]

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
        return _joined([self._start_update_many(node_ip, ends[part]) for part in chunks(len(ends))])

    def _start_update_many(self, node_ip: str, ends: Sequence[RemoteEnd]) -> Future[Answers]:
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

    def _many(self, node_ip: str, method: str, ends: Sequence[RemoteEnd]) -> Answers:
        """One call per ``MAX_BATCH`` ends; an error per end (the same one for all the ends of
        a call that fails)."""
        parts = chunks(len(ends))
        return [answer for part in parts for answer in self._call_many(node_ip, method, ends[part])]

    def _call_many(self, node_ip: str, method: str, ends: Sequence[RemoteEnd]) -> Answers:
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
        self.channels.close()
