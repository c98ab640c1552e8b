"""The HTTP server of ``convmath serve``: the page's files and its JSON API.

The standard library's threaded HTTP server, one thread per request. Bad
requests get a 4xx with ``{"error": ...}`` and the server goes on; static
files are served only from the package's asset folder, by name.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import socket
import threading
import traceback
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from convmath import strict_json
from convmath.errors import ConvMathError, DataError
from convmath.schema import shown
from convmath.serve.app import App, get_routes, post_routes
from convmath.serve.arrays import jsonable
from convmath.serve.live_training import RunStateError

MAX_BODY = 4 << 20
MAX_ERROR = 500  # characters of an error message sent back
MAX_CONNECTIONS = 64  # connections served at once; more are closed at once
REQUEST_SECONDS = 60  # a request (line, headers and body) must arrive within this
ASSETS = resources.files("convmath.serve") / "assets"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}


class Handler(BaseHTTPRequestHandler):
    """One request: a static file, or an API call answered in JSON."""

    app: App  # set on the subclass that make_server builds
    hosts: frozenset[str] | None = None  # the Host headers accepted; None: any
    server_version = "convmath"
    protocol_version = "HTTP/1.1"
    timeout = REQUEST_SECONDS  # an idle connection is closed, never kept forever

    def do_GET(self) -> None:
        self._arrived()
        if not self._host_allowed():
            return
        path = urlsplit(self.path).path
        if path.startswith("/api/"):
            route = get_routes(self.app).get(path)
            if route is None:
                self._error(HTTPStatus.NOT_FOUND, f"no GET {path}")
                return
            self._answer(route)
            return
        self._static(path)

    def do_POST(self) -> None:
        if not self._host_allowed():
            return
        path = urlsplit(self.path).path
        route = post_routes(self.app).get(path)
        if route is None:
            self._discard_body()
            self._error(HTTPStatus.NOT_FOUND, f"no POST {path}")
            return
        kind = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if kind != "application/json":
            # a form or text/plain POST is what another site's page can send unasked (CSRF);
            # application/json from elsewhere needs a CORS preflight, which is never granted
            self._discard_body()
            self._error(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                f"POST {path} takes Content-Type application/json, got {kind or 'none'!r}",
            )
            return
        body = self._body()
        if body is not None:
            self._answer(lambda: route(body))

    # ------------------------------------------------------------ helpers
    def _host_allowed(self) -> bool:
        """On loopback, only requests addressed to it: a rebinding site's name is refused."""
        hosts = self.headers.get_all("Host") or [""]
        if self.hosts is None or (len(hosts) == 1 and hosts[0].lower() in self.hosts):
            return True
        self.close_connection = True
        self._error(HTTPStatus.FORBIDDEN, f"Host {shown(hosts)} is not this server's address")
        return False

    def _content_length(self) -> int | None:
        """The body's declared size, or None if it is missing or not a plain decimal number."""
        text = self.headers.get("Content-Length")
        if text is None or not (text.isascii() and text.isdigit() and len(text) <= 12):
            return None
        return int(text)

    def _body(self) -> dict[str, Any] | None:
        length = self._content_length()
        if length is None or self.headers.get("Transfer-Encoding"):
            self.close_connection = True  # an unread body must never be taken for a request
            self._error(HTTPStatus.LENGTH_REQUIRED, "a POST needs a Content-Length (in bytes)")
            return None
        if length > MAX_BODY:
            self.close_connection = True  # the body is not read: the connection cannot go on
            self._error(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"the request body is {length:,} bytes, over the {MAX_BODY:,}-byte limit",
            )
            return None
        raw = self.rfile.read(length)
        self._arrived()
        if len(raw) != length:
            self.close_connection = True
            self._error(
                HTTPStatus.BAD_REQUEST, f"the body ended after {len(raw)} of {length} bytes"
            )
            return None
        try:
            body = strict_json.loads(raw or b"{}", "the request body", max_bytes=MAX_BODY)
        except DataError as error:
            self._error(HTTPStatus.BAD_REQUEST, str(error))
            return None
        if not isinstance(body, dict):
            self._error(HTTPStatus.BAD_REQUEST, "the request body must be a JSON object")
            return None
        return body

    def _discard_body(self) -> None:
        length = self._content_length() if "Content-Length" in self.headers else 0
        if length is not None and length <= MAX_BODY and not self.headers.get("Transfer-Encoding"):
            self.rfile.read(length)
        else:
            self.close_connection = True

    def _answer(self, compute: Any) -> None:
        try:
            answer = jsonable(compute())
        except RunStateError as error:
            self._error(HTTPStatus.CONFLICT, str(error))
            return
        except ConvMathError as error:
            self._error(HTTPStatus.BAD_REQUEST, str(error))
            return
        except Exception as error:  # a bug: said to the page in JSON, shown here, served on
            traceback.print_exc()
            self._error(
                HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error ({type(error).__name__})"
            )
            return
        try:
            text = json.dumps(answer, allow_nan=False)
        except ValueError:
            self._error(
                HTTPStatus.UNPROCESSABLE_ENTITY,
                "the answer holds an infinity or a NaN (the model overflows on this input)",
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
        asset = ASSETS / name
        if not asset.is_file():
            self._error(HTTPStatus.NOT_FOUND, f"no file {path}")
            return
        self._send(HTTPStatus.OK, asset.read_bytes(), Path(name).suffix)

    def _error(self, status: HTTPStatus, message: str) -> None:
        line = " ".join(message.split())
        body = json.dumps({"error": line if len(line) <= MAX_ERROR else line[:MAX_ERROR] + "..."})
        self._send(status, body.encode(), ".json")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own refusals (a malformed request line, an unknown method) in JSON."""
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # an unreadable request line: answer as 1.0
            self.request_version = "HTTP/1.0"
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
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the client left: nobody to tell
            self.close_connection = True

    def handle_one_request(self) -> None:
        """A request must arrive whole within ``timeout`` seconds, however slowly it is sent;
        computing its answer is not limited (the timer stops once the request is read)."""
        self._deadline = threading.Timer(self.timeout, self._cut)
        self._deadline.daemon = True
        self._deadline.start()
        try:
            super().handle_one_request()
        except OSError:  # the deadline shut the socket, or the client vanished
            self.close_connection = True
        finally:
            self._deadline.cancel()

    def _arrived(self) -> None:
        """The request is read: its answer may take the time it needs."""
        self._deadline.cancel()

    def _cut(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the command prints its own lines; a request log would bury them


def _safe_name(name: str) -> bool:
    """A plain file name of the asset folder: no folders, no dots first, no odd characters."""
    return (
        0 < len(name) <= 64
        and not name.startswith(".")
        and all(c.isalnum() or c in "-_." for c in name)
        and Path(name).suffix in CONTENT_TYPES
    )


class Server(ThreadingHTTPServer):
    daemon_threads = True  # a hanging browser connection never keeps the process alive
    request_queue_size = 128  # a burst of connections from several tabs waits in the kernel

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

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
