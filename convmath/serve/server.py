"""The HTTP server of ``convmath serve``: the page's files and its JSON API.

The standard library's threaded HTTP server, one thread per connection,
with a strict request reader of its own (:mod:`convmath.serve.reader`).
Bad requests get a 4xx with ``{"error": ...}``, the connection is closed
and the server goes on; static files are served only from the package's
asset folder, by name.

Each request has a budget: its head and body must arrive within
``REQUEST_SECONDS``; bodies being read hold at most ``MAX_BODIES`` bytes
together; a body's JSON is bounded in size, values, members and depth
before a value is built; at most ``MAX_BUSY`` requests decode and compute
at once, and the model work they run (the served model's estimate for one
example, :func:`convmath.limits.activation_bytes`) fits the memory limit
together. A request that finds no room within ``WORK_WAIT`` seconds gets a
503, and so does one whose model work runs past ``WORK_SECONDS`` (checked
before each layer and each back-propagation step: ``convmath.time_budget``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import string
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import numpy as np

from convmath import limits, strict_json
from convmath.errors import ConvMathError, DataError, TimeBudgetError
from convmath.schema import shown
from convmath.serve.app import App, get_routes, post_routes
from convmath.serve.arrays import NonFiniteAnswerError, jsonable
from convmath.serve.live_training import RunStateError
from convmath.serve.reader import RequestHead, RequestRefusedError, read_head
from convmath.switchboard import time_budget

MAX_BODY = 4 << 20
MAX_BODIES = 32 << 20  # bytes of request bodies read at once, all connections together
MAX_JSON_VALUES = 1 << 18  # values in one body (nested lists of up to 224 x 224 x 3 fit)
MAX_JSON_MEMBERS = 1 << 10  # object members in one body (a request has about ten)
MAX_BUSY = 4  # requests decoding and computing at once; the others wait for room
WORK_WAIT = 30  # seconds a request waits for room before a 503
WORK_SECONDS = 20  # seconds of model work a request may take, once it has room, before a 503
MAX_ERROR = 500  # characters of an error message sent back
MAX_CONNECTIONS = 64  # connections served at once; more are closed at once
REQUEST_SECONDS = 60  # a request (line, headers and body) must arrive within this
METHODS = frozenset({"GET", "POST"})
BODY_METHODS = frozenset({"POST"})
ASSETS = resources.files("convmath.serve") / "assets"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".woff2": "font/woff2",  # KaTeX's fonts (assets/vendor/katex/fonts)
}
MAX_ASSET_DEPTH = 4  # assets/vendor/katex/fonts/NAME: folders below assets/, at most
SAFE_CHARACTERS = frozenset(string.ascii_letters + string.digits + "-_.")


class Handler(BaseHTTPRequestHandler):
    """One request: a static file, or an API call answered in JSON.

    Requests are read by :func:`convmath.serve.reader.read_head` (strict
    HTTP/1.1), never by http.server's lenient reader; any error answer closes
    the connection, so no byte after a refused request is taken for another.
    """

    app: App  # set on the subclass that make_server builds
    hosts: frozenset[str] | None = None  # the Host headers accepted; None: any
    server: Server
    server_version = "convmath"
    protocol_version = "HTTP/1.1"
    timeout = REQUEST_SECONDS  # an idle connection is closed, never kept forever
    head: RequestHead

    def do_GET(self) -> None:
        path = self.head.path
        if path.startswith("/api/"):
            route = get_routes(self.app).get(path)
            if route is None:
                self._error(HTTPStatus.NOT_FOUND, f"no GET {path}")
                return
            self._answer(route, path)
            return
        self._static(path)

    def do_POST(self) -> None:
        path = self.head.path
        route = post_routes(self.app).get(path)
        if route is None:
            self._discard_body()
            self._error(HTTPStatus.NOT_FOUND, f"no POST {path}")
            return
        kind = (self.head.get("Content-Type") or "").split(";")[0].strip().lower()
        if kind != "application/json":
            # a form or text/plain POST is what another site's page can send unasked (CSRF);
            # application/json from elsewhere needs a CORS preflight, which is never granted
            self._discard_body()
            self._error(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"POST {path} takes Content-Type application/json, got {kind or 'none'!r}",
            )
            return
        length = self.head.length
        if not self.server.bodies.take(length):
            self._error(
                HTTPStatus.SERVICE_UNAVAILABLE,
                f"the server is reading {MAX_BODIES:,} bytes of request bodies already:"
                " try again in a moment",
            )
            return
        try:
            raw = self._read_body()
            if raw is not None:
                self._answer(lambda: route(_decoded(raw)), path)
        finally:
            self.server.bodies.give(length)

    # ------------------------------------------------------------ reading
    def handle_one_request(self) -> None:
        """A request must arrive whole within ``timeout`` seconds, however slowly it is sent;
        computing its answer is not limited by that timer (it stops once the request is
        read), but waits at most ``WORK_WAIT`` seconds for room to start."""
        self._deadline = threading.Timer(self.timeout, self._cut)
        self._deadline.daemon = True
        self._deadline.start()
        try:
            self._one_request()
        except OSError:  # the deadline shut the socket, or the client vanished
            self.close_connection = True
        finally:
            self._deadline.cancel()

    def _one_request(self) -> None:
        self.close_connection = True  # until a request is read and answered in full
        self.request_version, self.command, self.requestline = "HTTP/1.1", "", ""
        try:
            head = read_head(
                self.rfile, methods=METHODS, body_methods=BODY_METHODS, max_body=MAX_BODY
            )
        except RequestRefusedError as refusal:
            self._drain(refusal.drain)
            self._error(refusal.status, refusal.message)
            return
        if head is None:  # the client closed the connection between two requests
            return
        self.head = head
        self.command, self.path, self.request_version = head.method, head.target, head.version
        self.requestline = f"{head.method} {head.target} {head.version}"
        self.close_connection = not head.keep_alive
        if head.method not in BODY_METHODS:
            self._arrived()
        if not self._host_allowed():
            return
        getattr(self, f"do_{head.method}")()
        self.wfile.flush()

    def _host_allowed(self) -> bool:
        """On loopback, only requests addressed to it: a rebinding site's name is refused,
        in the Host header and in an absolute-form target (``GET http://HOST/...``) alike."""
        hosts = self.head.get_all("Host") or [""]
        if self.head.authority is not None:
            hosts = [*hosts, self.head.authority]
        one = len(self.head.get_all("Host")) <= 1
        if one and (self.hosts is None or all(host.lower() in self.hosts for host in hosts)):
            return True
        self._discard_body()
        self._error(HTTPStatus.FORBIDDEN, f"Host {shown(hosts)} is not this server's address")
        return False

    def _read_body(self) -> bytes | None:
        length = self.head.length
        if self.head.expect_continue:  # the client waits for a go before it sends the body
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            self.wfile.flush()
        raw = self.rfile.read(length)
        self._arrived()
        if len(raw) != length:
            self._error(
                HTTPStatus.BAD_REQUEST, f"the body ended after {len(raw)} of {length} bytes"
            )
            return None
        return raw

    def _discard_body(self) -> None:
        """Read and drop the body of a request about to be refused (never parsed), so that
        the answer is not lost to a reset; a client waiting for "100 Continue" sent none."""
        if not self.head.expect_continue:
            self._drain(self.head.length)

    def _drain(self, length: int) -> None:
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 16))
            if not chunk:
                return
            length -= len(chunk)

    # ------------------------------------------------------------ answering
    def _answer(self, compute: Any, path: str) -> None:
        """Compute the answer to ``path`` within the server's work budget; send it as JSON."""
        try:
            with (
                self.server.work.reserve(self.app.work_bytes(path), self.server.work_wait),
                time_budget(self.server.work_seconds),
                np.errstate(all="ignore"),  # an overflow is the 422 below, not a warning
            ):
                text = _json_text(jsonable(compute()))
        except BusyError as error:
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, str(error))
            return
        except TimeBudgetError as error:
            self._error(HTTPStatus.SERVICE_UNAVAILABLE, f"this request's model work {error}")
            return
        except NonFiniteAnswerError:
            self._error(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                "the answer holds an infinity or a NaN (the model overflows on this input)",
            )
            return
        except RunStateError as error:
            self._error(HTTPStatus.CONFLICT, str(error))
            return
        except ConvMathError as error:
            self._error(HTTPStatus.BAD_REQUEST, str(error))
            return
        except MemoryError:  # not a bug: the machine has less memory free than estimated
            self._error(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "the machine ran out of memory for this request: try again in a moment",
            )
            return
        except Exception as error:  # a bug: said to the page in JSON, shown here, served on
            traceback.print_exc()
            self._error(
                HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error ({type(error).__name__})"
            )
            return
        self._send(HTTPStatus.OK, text.encode(), ".json")

    def _static(self, path: str) -> None:
        name = "index.html" if path in ("/", "/index.html") else None
        if path.startswith("/assets/"):
            name = unquote(path[len("/assets/") :])
        if name is None or not _safe_name(name):
            self._error(HTTPStatus.NOT_FOUND, f"no file {path}")
            return
        asset = ASSETS.joinpath(*name.split("/"))
        if not asset.is_file():
            self._error(HTTPStatus.NOT_FOUND, f"no file {path}")
            return
        self._send(HTTPStatus.OK, asset.read_bytes(), Path(name).suffix)

    def _error(self, status: HTTPStatus, message: str) -> None:
        """An error answer in JSON; the connection closes after it, whatever the error."""
        self.close_connection = True
        line = " ".join(message.split())
        body = json.dumps({"error": line if len(line) <= MAX_ERROR else line[:MAX_ERROR] + "..."})
        self._send(status, body.encode(), ".json")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals, should any be made, in JSON."""
        try:
            status = HTTPStatus(code)
        except ValueError:
            status = HTTPStatus.BAD_REQUEST
        self._error(status, message or status.phrase)

    def _send(self, status: HTTPStatus, body: bytes, suffix: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", CONTENT_TYPES.get(suffix, "application/json"))
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Content-Type-Options", "nosniff")
            if status == HTTPStatus.SERVICE_UNAVAILABLE:
                self.send_header("Retry-After", "1")
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client left: nobody to tell
            self.close_connection = True

    def _arrived(self) -> None:
        """The request is read: its answer may take the time it needs."""
        self._deadline.cancel()

    def _cut(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the command prints its own lines; a request log would bury them


def _json_text(answer: Any) -> str:
    try:
        return json.dumps(answer, allow_nan=False)
    except ValueError:  # a NaN or an infinity among the answer's plain numbers
        raise NonFiniteAnswerError("the answer holds a NaN or an infinity") from None


def _decoded(raw: bytes) -> dict[str, Any]:
    """A request body as a JSON object, bounded before a value is built (strict_json)."""
    body = strict_json.loads(
        raw or b"{}",
        "the request body",
        max_bytes=MAX_BODY,
        max_values=MAX_JSON_VALUES,
        max_members=MAX_JSON_MEMBERS,
    )
    if not isinstance(body, dict):
        raise DataError("the request body must be a JSON object")
    return body


def _safe_name(name: str) -> bool:
    """A file of the asset folder or of a folder in it (assets/vendor/katex/fonts/...).

    Each part of the path is a plain name: not empty, no dot first (so no ``..``),
    only ASCII letters, digits, ``-``, ``_`` and ``.``; a few folders deep at most;
    and the file ends in a suffix the server has a content type for.
    """
    parts = name.split("/")
    return (
        0 < len(name) <= 160
        and len(parts) <= MAX_ASSET_DEPTH + 1
        and all(
            0 < len(part) <= 64 and not part.startswith(".") and set(part) <= SAFE_CHARACTERS
            for part in parts
        )
        and Path(name).suffix in CONTENT_TYPES
    )


class BusyError(Exception):
    """No room for a request's work within the wait (HTTP 503)."""


class Reservoir:
    """Bytes taken and given back by many threads, never more than ``limit`` at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.taken = 0
        self._lock = threading.Lock()

    def take(self, n_bytes: int) -> bool:
        with self._lock:
            if self.taken + n_bytes > self.limit:
                return False
            self.taken += n_bytes
            return True

    def give(self, n_bytes: int) -> None:
        with self._lock:
            self.taken -= n_bytes


class WorkPool:
    """At most ``slots`` requests work at once, and the memory their work is estimated to
    take stays within ``memory`` together; a request waits for room at most ``wait`` s."""

    def __init__(self, slots: int, memory: int) -> None:
        self.slots = slots
        self.memory = memory
        self.busy = 0
        self.used = 0
        self._room = threading.Condition()

    @contextlib.contextmanager
    def reserve(self, n_bytes: int, wait: float) -> Iterator[None]:
        if n_bytes > self.memory:
            raise BusyError(
                f"this request needs about {limits.format_bytes(n_bytes)}, over the server's"
                f" {limits.format_bytes(self.memory)} (set CONVMATH_MAX_MEMORY to allow more)"
            )
        with self._room:
            if not self._room.wait_for(
                lambda: self.busy < self.slots and self.used + n_bytes <= self.memory, wait
            ):
                raise BusyError(f"the server stayed busy for {wait:g} s: try again in a moment")
            self.busy += 1
            self.used += n_bytes
        try:
            yield
        finally:
            with self._room:
                self.busy -= 1
                self.used -= n_bytes
                self._room.notify_all()


class Server(ThreadingHTTPServer):
    daemon_threads = True  # a hanging browser connection never keeps the process alive
    request_queue_size = 128  # a burst of connections from several tabs waits in the kernel
    work_wait: float = WORK_WAIT
    work_seconds: float = WORK_SECONDS

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)
        self.bodies = Reservoir(MAX_BODIES)
        self.work = WorkPool(MAX_BUSY, limits.max_memory())

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):  # too many at once: refuse, never pile up
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


class Server6(Server):
    address_family = socket.AF_INET6


@dataclass
class RunningServer:
    """A server answering on its own thread (the tests', and the command's)."""

    server: Server
    app: App
    thread: threading.Thread

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        shown = f"[{host}]" if ":" in str(host) else host
        return f"http://{shown}:{port}"

    def close(self) -> None:
        self.app.training.stop()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)
        self.app.training.wait(30)


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def make_server(app: App, host: str = "127.0.0.1", port: int = 0) -> Server:
    """A server of ``app``; bound to loopback, it answers only requests for its own address."""
    handler = type("BoundHandler", (Handler,), {"app": app})
    family = Server6 if ":" in host else Server
    server = family((host, port), handler)
    if is_loopback(host):
        bound = server.server_address[1]
        names = {*LOOPBACK_NAMES, f"[{host}]" if ":" in host else host}
        suffixes = (f":{bound}", "") if bound == 80 else (f":{bound}",)  # browsers omit :80
        handler.hosts = frozenset(f"{n}{suffix}".lower() for n in names for suffix in suffixes)
    return server


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or an address) is this machine alone."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def start(app: App, host: str = "127.0.0.1", port: int = 0) -> RunningServer:
    """Serve ``app`` on a background thread; ``port=0`` takes a free port."""
    server = make_server(app, host, port)
    thread = threading.Thread(target=server.serve_forever, name="convmath-serve", daemon=True)
    thread.start()
    return RunningServer(server, app, thread)
