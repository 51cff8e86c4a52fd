"""Messages between a worker and its reaper: a 4-byte length, then JSON; a file descriptor may ride along.

Standard library only: reaper.py, run with -I, imports it by path.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

HEADER = struct.Struct("!I")


def send(sock: socket.socket, message: dict[str, Any], fd: int | None = None) -> None:
    """Send one message; `fd` (e.g. a pipe's write end) travels with its first bytes (SCM_RIGHTS)."""
    data = json.dumps(message).encode()
    frame = HEADER.pack(len(data)) + data
    sent = socket.send_fds(sock, [frame], [fd]) if fd is not None else 0
    sock.sendall(frame[sent:])


def receive(sock: socket.socket, with_fd: bool = False) -> Any:
    """The next message (with its file descriptor: (message, fd)); None once the other end is closed."""
    fd = None
    if with_fd:
        head, fds, _, _ = socket.recv_fds(sock, HEADER.size, 1)
        fd = fds[0] if fds else None
    else:
        head = sock.recv(HEADER.size)
    if not head:
        return None
    head += _exactly(sock, HEADER.size - len(head))
    (size,) = HEADER.unpack(head)
    message = json.loads(_exactly(sock, size))
    if not with_fd:
        return message
    if fd is None:
        raise ConnectionError("a message came without its file descriptor")
    return message, fd


def _exactly(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        chunk = sock.recv(min(size, 1 << 16))
        if not chunk:
            raise ConnectionError("the other end closed the socket mid-message")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)
