from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Pod(_message.Message):
    __slots__ = ("name", "src_ip", "net_ns", "kube_ns", "links", "safe")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SRC_IP_FIELD_NUMBER: _ClassVar[int]
    NET_NS_FIELD_NUMBER: _ClassVar[int]
    KUBE_NS_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    SAFE_FIELD_NUMBER: _ClassVar[int]
    name: str
    src_ip: str
    net_ns: str
    kube_ns: str
    links: _containers.RepeatedCompositeFieldContainer[Link]
    safe: bool
    def __init__(self, name: _Optional[str] = ..., src_ip: _Optional[str] = ..., net_ns: _Optional[str] = ..., kube_ns: _Optional[str] = ..., links: _Optional[_Iterable[_Union[Link, _Mapping]]] = ..., safe: _Optional[bool] = ...) -> None: ...

class Link(_message.Message):
    __slots__ = ("peer_pod", "local_intf", "peer_intf", "local_ip", "peer_ip", "uid", "properties", "local_mac", "peer_mac", "detect", "mtu", "local_ips", "peer_ips", "no_bypass")
    PEER_POD_FIELD_NUMBER: _ClassVar[int]
    LOCAL_INTF_FIELD_NUMBER: _ClassVar[int]
    PEER_INTF_FIELD_NUMBER: _ClassVar[int]
    LOCAL_IP_FIELD_NUMBER: _ClassVar[int]
    PEER_IP_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    LOCAL_MAC_FIELD_NUMBER: _ClassVar[int]
    PEER_MAC_FIELD_NUMBER: _ClassVar[int]
    DETECT_FIELD_NUMBER: _ClassVar[int]
    MTU_FIELD_NUMBER: _ClassVar[int]
    LOCAL_IPS_FIELD_NUMBER: _ClassVar[int]
    PEER_IPS_FIELD_NUMBER: _ClassVar[int]
    NO_BYPASS_FIELD_NUMBER: _ClassVar[int]
    peer_pod: str
    local_intf: str
    peer_intf: str
    local_ip: str
    peer_ip: str
    uid: int
    properties: LinkProperties
    local_mac: str
    peer_mac: str
    detect: bool
    mtu: int
    local_ips: _containers.RepeatedScalarFieldContainer[str]
    peer_ips: _containers.RepeatedScalarFieldContainer[str]
    no_bypass: bool
    def __init__(self, peer_pod: _Optional[str] = ..., local_intf: _Optional[str] = ..., peer_intf: _Optional[str] = ..., local_ip: _Optional[str] = ..., peer_ip: _Optional[str] = ..., uid: _Optional[int] = ..., properties: _Optional[_Union[LinkProperties, _Mapping]] = ..., local_mac: _Optional[str] = ..., peer_mac: _Optional[str] = ..., detect: _Optional[bool] = ..., mtu: _Optional[int] = ..., local_ips: _Optional[_Iterable[str]] = ..., peer_ips: _Optional[_Iterable[str]] = ..., no_bypass: _Optional[bool] = ...) -> None: ...

class LinkProperties(_message.Message):
    __slots__ = ("latency", "latency_corr", "jitter", "loss", "loss_corr", "rate", "gap", "duplicate", "duplicate_corr", "reorder_prob", "reorder_corr", "corrupt_prob", "corrupt_corr")
    LATENCY_FIELD_NUMBER: _ClassVar[int]
    LATENCY_CORR_FIELD_NUMBER: _ClassVar[int]
    JITTER_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    LOSS_CORR_FIELD_NUMBER: _ClassVar[int]
    RATE_FIELD_NUMBER: _ClassVar[int]
    GAP_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_CORR_FIELD_NUMBER: _ClassVar[int]
    REORDER_PROB_FIELD_NUMBER: _ClassVar[int]
    REORDER_CORR_FIELD_NUMBER: _ClassVar[int]
    CORRUPT_PROB_FIELD_NUMBER: _ClassVar[int]
    CORRUPT_CORR_FIELD_NUMBER: _ClassVar[int]
    latency: str
    latency_corr: str
    jitter: str
    loss: str
    loss_corr: str
    rate: str
    gap: int
    duplicate: str
    duplicate_corr: str
    reorder_prob: str
    reorder_corr: str
    corrupt_prob: str
    corrupt_corr: str
    def __init__(self, latency: _Optional[str] = ..., latency_corr: _Optional[str] = ..., jitter: _Optional[str] = ..., loss: _Optional[str] = ..., loss_corr: _Optional[str] = ..., rate: _Optional[str] = ..., gap: _Optional[int] = ..., duplicate: _Optional[str] = ..., duplicate_corr: _Optional[str] = ..., reorder_prob: _Optional[str] = ..., reorder_corr: _Optional[str] = ..., corrupt_prob: _Optional[str] = ..., corrupt_corr: _Optional[str] = ...) -> None: ...

class PodQuery(_message.Message):
    __slots__ = ("name", "kube_ns", "net_ns", "container_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KUBE_NS_FIELD_NUMBER: _ClassVar[int]
    NET_NS_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    kube_ns: str
    net_ns: str
    container_id: str
    def __init__(self, name: _Optional[str] = ..., kube_ns: _Optional[str] = ..., net_ns: _Optional[str] = ..., container_id: _Optional[str] = ...) -> None: ...

class LinksBatchQuery(_message.Message):
    __slots__ = ("local_pod", "links")
    LOCAL_POD_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    local_pod: Pod
    links: _containers.RepeatedCompositeFieldContainer[Link]
    def __init__(self, local_pod: _Optional[_Union[Pod, _Mapping]] = ..., links: _Optional[_Iterable[_Union[Link, _Mapping]]] = ...) -> None: ...

class SetupPodQuery(_message.Message):
    __slots__ = ("name", "kube_ns", "net_ns", "container_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KUBE_NS_FIELD_NUMBER: _ClassVar[int]
    NET_NS_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    kube_ns: str
    net_ns: str
    container_id: str
    def __init__(self, name: _Optional[str] = ..., kube_ns: _Optional[str] = ..., net_ns: _Optional[str] = ..., container_id: _Optional[str] = ...) -> None: ...

class BoolResponse(_message.Message):
    __slots__ = ("response",)
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    response: bool
    def __init__(self, response: _Optional[bool] = ...) -> None: ...

class RemotePod(_message.Message):
    __slots__ = ("net_ns", "intf_name", "intf_ip", "peer_vtep", "kube_ns", "vni", "properties", "name", "mtu", "intf_ips", "intf_mac", "link_uid")
    NET_NS_FIELD_NUMBER: _ClassVar[int]
    INTF_NAME_FIELD_NUMBER: _ClassVar[int]
    INTF_IP_FIELD_NUMBER: _ClassVar[int]
    PEER_VTEP_FIELD_NUMBER: _ClassVar[int]
    KUBE_NS_FIELD_NUMBER: _ClassVar[int]
    VNI_FIELD_NUMBER: _ClassVar[int]
    PROPERTIES_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    MTU_FIELD_NUMBER: _ClassVar[int]
    INTF_IPS_FIELD_NUMBER: _ClassVar[int]
    INTF_MAC_FIELD_NUMBER: _ClassVar[int]
    LINK_UID_FIELD_NUMBER: _ClassVar[int]
    net_ns: str
    intf_name: str
    intf_ip: str
    peer_vtep: str
    kube_ns: str
    vni: int
    properties: LinkProperties
    name: str
    mtu: int
    intf_ips: _containers.RepeatedScalarFieldContainer[str]
    intf_mac: str
    link_uid: int
    def __init__(self, net_ns: _Optional[str] = ..., intf_name: _Optional[str] = ..., intf_ip: _Optional[str] = ..., peer_vtep: _Optional[str] = ..., kube_ns: _Optional[str] = ..., vni: _Optional[int] = ..., properties: _Optional[_Union[LinkProperties, _Mapping]] = ..., name: _Optional[str] = ..., mtu: _Optional[int] = ..., intf_ips: _Optional[_Iterable[str]] = ..., intf_mac: _Optional[str] = ..., link_uid: _Optional[int] = ...) -> None: ...

class SetupPodsQuery(_message.Message):
    __slots__ = ("pods",)
    PODS_FIELD_NUMBER: _ClassVar[int]
    pods: _containers.RepeatedCompositeFieldContainer[SetupPodQuery]
    def __init__(self, pods: _Optional[_Iterable[_Union[SetupPodQuery, _Mapping]]] = ...) -> None: ...

class PodsQuery(_message.Message):
    __slots__ = ("pods",)
    PODS_FIELD_NUMBER: _ClassVar[int]
    pods: _containers.RepeatedCompositeFieldContainer[PodQuery]
    def __init__(self, pods: _Optional[_Iterable[_Union[PodQuery, _Mapping]]] = ...) -> None: ...

class PodResult(_message.Message):
    __slots__ = ("name", "kube_ns", "ok", "error")
    NAME_FIELD_NUMBER: _ClassVar[int]
    KUBE_NS_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    name: str
    kube_ns: str
    ok: bool
    error: str
    def __init__(self, name: _Optional[str] = ..., kube_ns: _Optional[str] = ..., ok: _Optional[bool] = ..., error: _Optional[str] = ...) -> None: ...

class PodsResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[PodResult]
    def __init__(self, results: _Optional[_Iterable[_Union[PodResult, _Mapping]]] = ...) -> None: ...

class CheckPodResponse(_message.Message):
    __slots__ = ("ok", "problems", "in_topology")
    OK_FIELD_NUMBER: _ClassVar[int]
    PROBLEMS_FIELD_NUMBER: _ClassVar[int]
    IN_TOPOLOGY_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    problems: _containers.RepeatedScalarFieldContainer[str]
    in_topology: bool
    def __init__(self, ok: _Optional[bool] = ..., problems: _Optional[_Iterable[str]] = ..., in_topology: _Optional[bool] = ...) -> None: ...

class StatusQuery(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DaemonStatus(_message.Message):
    __slots__ = ("version", "node_ip", "pods_alive", "links", "store", "jobs")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    NODE_IP_FIELD_NUMBER: _ClassVar[int]
    PODS_ALIVE_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    JOBS_FIELD_NUMBER: _ClassVar[int]
    version: str
    node_ip: str
    pods_alive: int
    links: int
    store: str
    jobs: _containers.RepeatedCompositeFieldContainer[JobHealth]
    def __init__(self, version: _Optional[str] = ..., node_ip: _Optional[str] = ..., pods_alive: _Optional[int] = ..., links: _Optional[int] = ..., store: _Optional[str] = ..., jobs: _Optional[_Iterable[_Union[JobHealth, _Mapping]]] = ...) -> None: ...

class JobHealth(_message.Message):
    __slots__ = ("name", "state", "last_error", "failures")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: str
    last_error: str
    failures: int
    def __init__(self, name: _Optional[str] = ..., state: _Optional[str] = ..., last_error: _Optional[str] = ..., failures: _Optional[int] = ...) -> None: ...

class RemotePods(_message.Message):
    __slots__ = ("pods",)
    PODS_FIELD_NUMBER: _ClassVar[int]
    pods: _containers.RepeatedCompositeFieldContainer[RemotePod]
    def __init__(self, pods: _Optional[_Iterable[_Union[RemotePod, _Mapping]]] = ...) -> None: ...

class RemoteResults(_message.Message):
    __slots__ = ("errors",)
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    errors: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, errors: _Optional[_Iterable[str]] = ...) -> None: ...
