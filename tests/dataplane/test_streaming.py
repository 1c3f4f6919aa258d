"""A streamed invocation against instances that misbehave on purpose: InvocationTimeoutSeconds bounds the whole
exchange, however the instance spreads its reading or its answer, and a reply cut short is no success."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from homeport.dataplane.connection import InstanceDropped, InstanceTimeout
from homeport.dataplane.streaming import invoke_streaming
from homeport.runtime.address import Address

MiB = 1 << 20
PIECE_S = 0.05  # how often a trickling instance reads or sends its next piece


class FakeInstance:
    """An instance on a Unix socket that takes one request and deals with it as `act(connection)` says; `done` is
    set once it has acted to the end."""

    def __init__(self, path: Path, act: Callable[[socket.socket], None]) -> None:
        self.path = str(path)
        self.act = act
        self.done = threading.Event()
        self.progress = 0  # pieces read or sent so far, for `act` to count
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(self.path)
        self.listener.listen(1)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        try:
            self.act(conn)
            self.done.set()
        except OSError:  # the client hung up: what the timeout tests expect
            pass
        finally:
            conn.close()
            self.listener.close()


def read_request(
    conn: socket.socket, instance: FakeInstance | None = None, piece: int = 1 << 17, every_s: float = 0.0
) -> int:
    """Read one request's head and its Content-Length body, `piece` bytes at a time; its body size."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(4096)
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    got = len(rest)
    while got < length:
        if every_s:
            time.sleep(every_s)
        chunk = conn.recv(min(piece, length - got))
        if not chunk:
            raise OSError("the client went away")
        got += len(chunk)
        if instance is not None:
            instance.progress += 1
    return length


def reply_head(conn: socket.socket, length: int) -> None:
    conn.sendall(f"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: {length}\r\n\r\n".encode())


def invoke(instance: FakeInstance, payload: bytes, timeout: float) -> bytes:
    received: list[bytes] = []

    def sink(chunks: Iterator[bytes], _content_type: str) -> None:
        received.extend(chunks)

    reply = invoke_streaming(
        Address.unix(instance.path), [("Content-Type", "text/csv")], io.BytesIO(payload), len(payload), timeout, sink
    )
    assert reply.status == 200
    return b"".join(received)


def test_a_reply_in_one_piece_arrives_whole(tmp_path: Path) -> None:
    def act(conn: socket.socket) -> None:
        size = read_request(conn)
        body = str(size).encode() * 1000
        reply_head(conn, len(body))
        conn.sendall(body)

    instance = FakeInstance(tmp_path / "i.sock", act)
    assert invoke(instance, b"x" * (3 * MiB), timeout=30) == str(3 * MiB).encode() * 1000


def test_an_answer_trickled_past_the_timeout_fails_as_a_timeout(tmp_path: Path) -> None:
    pieces = 200  # 10 s of trickle against a 0.5 s timeout

    def act(conn: socket.socket) -> None:
        read_request(conn)
        reply_head(conn, pieces)
        for _ in range(pieces):  # each piece comes well within the timeout; all of them do not
            time.sleep(PIECE_S)
            conn.sendall(b"x")
            instance.progress += 1

    instance = FakeInstance(tmp_path / "i.sock", act)
    with pytest.raises(InstanceTimeout):
        invoke(instance, b"1,2\n", timeout=0.5)
    assert instance.progress < pieces // 2  # given up on, not waited out


def test_a_payload_read_slowly_past_the_timeout_fails_as_a_timeout(tmp_path: Path) -> None:
    size = 16 * MiB  # at 128 KiB per piece: ~6 s of reading against a 1 s timeout, each 1 MiB block in ~0.4 s

    def act(conn: socket.socket) -> None:
        read_request(conn, instance, every_s=PIECE_S)
        reply_head(conn, 2)
        conn.sendall(b"ok")

    instance = FakeInstance(tmp_path / "i.sock", act)
    with pytest.raises(InstanceTimeout):
        invoke(instance, b"x" * size, timeout=1.0)
    assert instance.progress < size // (1 << 17) // 2


def test_a_reply_cut_short_is_a_dropped_instance_not_a_short_result(tmp_path: Path) -> None:
    def act(conn: socket.socket) -> None:
        read_request(conn)
        reply_head(conn, 1000)
        conn.sendall(b"y" * 10)

    instance = FakeInstance(tmp_path / "i.sock", act)
    with pytest.raises(InstanceDropped):
        invoke(instance, b"1,2\n", timeout=30)
