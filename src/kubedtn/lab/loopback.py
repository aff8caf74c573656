"""Bring ``lo`` up in fresh lab namespaces, as a container runtime does for every sandbox
(without it a pod cannot reach its own addresses).

One ioctl per namespace on a socket opened inside it (a socket stays in the namespace it
was created in), so no netlink and no process per namespace.
"""

from __future__ import annotations

import fcntl
import os
import socket
import struct
from collections.abc import Iterable
from typing import Final

from kubedtn.dataplane.netns import entered, open_netns
from kubedtn.errors import DataplaneError

SIOCGIFFLAGS: Final = 0x8913
SIOCSIFFLAGS: Final = 0x8914
IFF_UP: Final = 0x1
_IFREQ: Final = struct.Struct("16sH22x")  # struct ifreq: name, then ifr_flags (40 bytes on 64-bit)


def loopback_up(netns_paths: Iterable[str]) -> None:
    for path in netns_paths:
        fd = open_netns(path)
        try:
            with entered(fd):
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        finally:
            os.close(fd)
        try:
            name = b"lo"
            _, flags = _IFREQ.unpack(fcntl.ioctl(sock, SIOCGIFFLAGS, _IFREQ.pack(name, 0)))
            if not flags & IFF_UP:
                fcntl.ioctl(sock, SIOCSIFFLAGS, _IFREQ.pack(name, flags | IFF_UP))
        except OSError as e:
            raise DataplaneError(f"cannot bring lo up in {path}: {e.strerror}") from e
        finally:
            sock.close()
