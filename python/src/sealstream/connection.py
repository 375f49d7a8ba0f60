"""One TCP connection to the host (docs/PROTOCOL.md §1): frames out, replies back in
request order, pushed `SealedEvent`s and `Notice`s kept apart. A reader thread owns the
socket's receiving side; callers wait on a queue."""

from __future__ import annotations

import queue
import socket
import threading

from . import wire
from .errors import ConnectionClosed, EnclaveRestarted, HostError, ReplyTimeout, WireError

_CLOSED = object()


class Connection:
    """Frames to and from `host:port`. `request()` sends one frame and returns the reply
    to it (replies come in request order, §1.1); `events` holds pushed sealed events."""

    def __init__(self, host: str, port: int, timeout: float = 10.0):
        self.timeout = timeout
        self._sock = socket.create_connection((host, port), timeout=timeout)
        self._sock.settimeout(None)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._replies: queue.Queue = queue.Queue()
        self._lock = threading.Lock()
        self.events: list[wire.SealedFrame] = []
        self.notices: list[wire.Notice] = []
        self._event_signal = threading.Condition(self._lock)
        self._reader = threading.Thread(target=self._read_loop, name="sealstream-reader", daemon=True)
        self._reader.start()

    @classmethod
    def to(cls, address: str, timeout: float = 10.0) -> "Connection":
        host, _, port = address.rpartition(":")
        return cls(host, int(port), timeout)

    def _read_loop(self) -> None:
        decoder = wire.FrameDecoder()
        try:
            while True:
                data = self._sock.recv(65536)
                if not data:
                    break
                for frame in decoder.feed(data):
                    if frame.type == wire.SEALED_EVENT:
                        with self._lock:
                            self.events.append(wire.decode_sealed(wire.SEALED_EVENT, frame.body))
                            self._event_signal.notify_all()
                    elif frame.type == wire.NOTICE:
                        notice = wire.decode_notice(frame.body)
                        with self._lock:
                            self.notices.append(notice)
                        if notice.code == wire.NOTICE_ENCLAVE_RESTARTED:
                            self._replies.put(EnclaveRestarted(notice.value))
                    elif frame.type < 0x80:
                        self._replies.put(WireError(f"host sent a request type 0x{frame.type:02x}", "type"))
                        break
                    else:
                        self._replies.put(frame)
        except WireError as e:
            self._replies.put(e)
        except OSError:
            pass
        finally:
            self._replies.put(_CLOSED)
            with self._lock:
                self._event_signal.notify_all()

    def send(self, frame_type: int, body: bytes) -> None:
        """Write one frame (its reply is taken later with `next_reply`)."""
        try:
            self._sock.sendall(wire.encode_frame(frame_type, body))
        except OSError as e:
            raise ConnectionClosed(f"send failed: {e}") from None

    def next_reply(self, timeout: float | None = None) -> wire.Frame:
        """The next reply frame in request order. Raises HostError on an `Error` frame,
        EnclaveRestarted on that notice, ConnectionClosed, ReplyTimeout."""
        try:
            item = self._replies.get(timeout=self.timeout if timeout is None else timeout)
        except queue.Empty:
            raise ReplyTimeout("no reply in time") from None
        if item is _CLOSED:
            self._replies.put(_CLOSED)
            raise ConnectionClosed("the host closed the connection")
        if isinstance(item, Exception):
            raise item
        if item.type == wire.ERROR:
            err = wire.decode_error(item.body)
            raise HostError(err.code, wire.ERROR_LABELS.get(err.code, err.message))
        return item

    def request(self, frame_type: int, body: bytes, timeout: float | None = None) -> wire.Frame:
        self.send(frame_type, body)
        return self.next_reply(timeout)

    def take_events(self, session_id: int | None = None) -> list[wire.SealedFrame]:
        """Remove and return the pushed events (of one session, or all)."""
        with self._lock:
            taken = [e for e in self.events if session_id is None or e.session_id == session_id]
            self.events = [e for e in self.events if e not in taken]
        return taken

    def wait_events(self, count: int, timeout: float) -> bool:
        """Wait until at least `count` events are held; False on timeout or close."""
        with self._lock:
            return self._event_signal.wait_for(lambda: len(self.events) >= count or not self._reader.is_alive(), timeout) \
                and len(self.events) >= count

    def half_close(self) -> None:
        """Shut down the sending side: the host answers what it holds, then closes (§1.1 case 2)."""
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        self._reader.join(timeout=2)

    def __enter__(self) -> "Connection":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
