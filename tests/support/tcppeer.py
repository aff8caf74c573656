"""A TCP server or client for the bypass tests, run as a script inside a namespace.

    tcppeer.py serve ADDRESS PORT          accept one connection, read to EOF, print
                                           "<bytes> <sha256>" and exit
    tcppeer.py send SRC SPORT DST DPORT LABEL MEGABYTES [--hold]
                                           connect from SRC:SPORT (a fixed 4-tuple), print
                                           "connected"; with --hold wait for a line on stdin;
                                           send LABEL repeated, close, print "<bytes> <sha256>"

Standard library only: it runs with the test's interpreter in a namespace and a cgroup.
"""

from __future__ import annotations

import hashlib
import select
import socket
import sys

CHUNK = 64 * 1024


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def serve(address: str, port: int) -> None:
    with socket.socket(_family(address), socket.SOCK_STREAM) as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((address, port))
        listener.listen(1)
        print("listening", flush=True)
        conn, _ = listener.accept()
        digest = hashlib.sha256()
        with conn:
            total = _read_to_eof(conn, digest)
        print(total, digest.hexdigest(), flush=True)


def _read_to_eof(conn: socket.socket, digest: hashlib._Hash | None = None) -> int:
    """Read until the peer closes (hashing what came); the bytes read.

    A socket in a sockmap (bypassed) may answer a blocking recv with EAGAIN when woken
    by its own state change (our FIN acknowledged): the kernel's tcp_bpf_recvmsg on 6.18.
    Wait until readable and read again, as an event loop would."""
    total = 0
    while True:
        try:
            data = conn.recv(CHUNK)
        except BlockingIOError:
            select.select([conn], [], [], 5)
            continue
        if not data:
            return total
        total += len(data)
        if digest is not None:
            digest.update(data)


def send(  # noqa: PLR0917 (the command line's arguments, in order)
    source: str, sport: int, dest: str, dport: int, label: str, megabytes: int, *, hold: bool
) -> None:
    block = (label.encode() * (CHUNK // len(label) + 1))[:CHUNK]
    digest, total = hashlib.sha256(), 0
    with socket.socket(_family(dest), socket.SOCK_STREAM) as conn:
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        conn.bind((source, sport))
        conn.connect((dest, dport))
        print("connected", flush=True)
        if hold:
            sys.stdin.readline()
        for _ in range(megabytes * 2**20 // CHUNK):
            conn.sendall(block)
            digest.update(block)
            total += len(block)
        conn.shutdown(socket.SHUT_WR)
        _read_to_eof(conn)
    print(total, digest.hexdigest(), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        send(
            sys.argv[2],
            int(sys.argv[3]),
            sys.argv[4],
            int(sys.argv[5]),
            sys.argv[6],
            int(sys.argv[7]),
            hold="--hold" in sys.argv,
        )
