"""Outages injected for real: a TCP relay in front of a server that a test takes down (the
listening socket closes, open connections are cut, new ones are refused) and brings back on the
same port. Nothing of the client is replaced: boto3 sees what it would see of a dead S3."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable


class TcpRelay:
    """`with TcpRelay(("127.0.0.1", moto_port)) as relay:` - forwards 127.0.0.1:relay.port to
    the upstream until `down()`, and again after `up()`."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0
        self.connections = 0  # accepted while up
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> TcpRelay:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        self.down()

    def up(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        """Stop listening and cut every open connection."""
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed: down()
            try:
                server = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    server.close()
                    return
                self.connections += 1
                self._open.update((client, server))
            for src, dst in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._open.discard(src)
                self._open.discard(dst)


class Outage(threading.Thread):
    """Once `when()` is true, call `stop()`, wait `seconds`, call `start()`. Records when."""

    def __init__(
        self,
        when: Callable[[], bool],
        stop: Callable[[], None],
        start: Callable[[], None],
        seconds: float,
    ) -> None:
        super().__init__(daemon=True)
        self.when, self.stop_fn, self.start_fn, self.seconds = when, stop, start, seconds
        self.began: float | None = None
        self.ended: float | None = None
        self.error: BaseException | None = None
        self._cancel = threading.Event()

    def run(self) -> None:
        try:
            while not self.when():
                if self._cancel.wait(0.05):
                    return
            self.began = time.monotonic()
            self.stop_fn()
            time.sleep(self.seconds)
            self.start_fn()
            self.ended = time.monotonic()
        except BaseException as exc:  # reported by the test, not swallowed
            self.error = exc

    def cancel(self) -> None:
        self._cancel.set()
