"""The strict HTTP/1.1 request reader of ``convmath serve``.

http.server's own reader is lenient where leniency lets one request hide
another (request smuggling): it ignores a GET's ``Content-Length``, so the
body is read as the next request on the connection; of two
``Content-Length`` headers it takes the first; it splits the request line
at any whitespace, stops reading headers at a line without a colon (the
rest becomes an unread "body"), accepts folded lines, and answers an
absolute-form target (``GET http://evil.example/api/model``) without a look
at its host.

:func:`read_head` reads the request line and the header lines exactly as
RFC 9112 writes them (CRLF line ends, tokens, no control characters, bounded
lengths) and decides how the body is framed before anything else is read.
A request either gets one reading (:class:`RequestHead`) or a
:class:`RequestRefusedError` with its status and message; after a refusal the
server answers and closes the connection, so no byte after it is ever taken
for a request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from http import HTTPStatus
from typing import BinaryIO

from convmath.schema import shown

MAX_REQUEST_LINE = 8 << 10  # bytes of the request line, CRLF included (else 414)
MAX_HEADER_LINE = 16 << 10  # bytes of one header line (else 431)
MAX_HEADERS = 100  # header lines (else 431)
MAX_HEAD = 64 << 10  # bytes of all the header lines together (else 431)
MAX_EMPTY_LINES = 8  # CRLFs tolerated before a request line (RFC 9112 2.2)
MAX_LENGTH_DIGITS = 12

_TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
_REQUEST_LINE = re.compile(rf"({_TOKEN}) ([\x21-\x7e]+) (HTTP/[0-9]\.[0-9])\r\n")
_NAME = re.compile(_TOKEN)
_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
_ABSOLUTE = re.compile(r"(?i:http)://([^/?#]*)([/?].*)?")
_AUTHORITY = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=]+(?::[0-9]*)?|\[[0-9A-Fa-f:.]+\](?::[0-9]*)?")
VERSIONS = ("HTTP/1.1", "HTTP/1.0")


class RequestRefusedError(Exception):
    """A request that is not answered, but refused with ``status``; ``drain`` bytes of its
    declared body may be read and thrown away before the answer (never parsed)."""

    def __init__(self, status: HTTPStatus, message: str, *, drain: int = 0) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.drain = drain


@dataclass(frozen=True)
class RequestHead:
    """A request line and its headers, read strictly: what the handler may rely on."""

    method: str
    target: str  # origin-form: the path and the query, "/..." always
    version: str  # "HTTP/1.1" or "HTTP/1.0"
    fields: tuple[tuple[str, str], ...]  # (lower-case name, value), in order
    authority: str | None  # the host of an absolute-form target, lower case
    length: int  # the body's bytes (0: none)
    keep_alive: bool  # whether another request may follow on the connection
    expect_continue: bool  # the client waits for "100 Continue" before it sends the body

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of the header ``name`` (any case), else ``default``."""
        found = self.get_all(name)
        return found[0] if found else default

    def get_all(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.fields if key == name]


def read_head(
    rfile: BinaryIO, *, methods: frozenset[str], body_methods: frozenset[str], max_body: int
) -> RequestHead | None:
    """The next request's head from ``rfile``; None if the connection ended before it began.

    ``methods`` are answered (else 501); only ``body_methods`` may carry a body, of at most
    ``max_body`` bytes, framed by exactly one plain decimal ``Content-Length``.
    """
    line = b""
    for _ in range(MAX_EMPTY_LINES + 1):
        line = _line(rfile, MAX_REQUEST_LINE, HTTPStatus.REQUEST_URI_TOO_LONG, "the request line")
        if not line:
            return None
        if line != b"\r\n":
            break
    else:
        raise RequestRefusedError(
            HTTPStatus.BAD_REQUEST, "empty lines where a request line belongs"
        )
    method, target, version = _request_line(line.decode("latin-1"))
    fields = _fields(rfile)
    if method not in methods:
        raise RequestRefusedError(
            HTTPStatus.NOT_IMPLEMENTED, f"method {shown(method)} is not served (GET and POST are)"
        )
    target, authority = _target(target)
    expect = [value.strip().lower() for key, value in fields if key == "expect"]
    try:
        length = _body_length(method, fields, body_methods, max_body)
    except RequestRefusedError as refusal:
        if expect:  # the client waits for a go before it sends the body: none to drain
            refusal.drain = 0
        raise
    connection = {
        token.strip().lower()
        for key, value in fields
        if key == "connection"
        for token in value.split(",")
    }
    if expect and (expect != ["100-continue"] or version != "HTTP/1.1"):
        raise RequestRefusedError(
            HTTPStatus.EXPECTATION_FAILED, f"Expect {shown(expect)} is not met"
        )
    return RequestHead(
        method=method,
        target=target,
        version=version,
        fields=fields,
        authority=authority,
        length=length,
        keep_alive=version == "HTTP/1.1" and "close" not in connection,
        expect_continue=bool(expect) and length > 0,
    )


def _line(rfile: BinaryIO, limit: int, too_long: HTTPStatus, what: str) -> bytes:
    """One CRLF-ended line of at most ``limit`` bytes; b"" at the end of the stream."""
    line = rfile.readline(limit + 1)
    if len(line) > limit:
        raise RequestRefusedError(too_long, f"{what} is longer than {limit:,} bytes")
    if line and not line.endswith(b"\n"):
        raise RequestRefusedError(HTTPStatus.BAD_REQUEST, f"the request ended inside {what}")
    if line and not line.endswith(b"\r\n"):
        raise RequestRefusedError(HTTPStatus.BAD_REQUEST, f"{what} does not end in CRLF")
    return line


def _request_line(text: str) -> tuple[str, str, str]:
    matched = _REQUEST_LINE.fullmatch(text)
    if matched is None:
        raise RequestRefusedError(
            HTTPStatus.BAD_REQUEST,
            f"malformed request line {shown(text.rstrip())} (expected METHOD TARGET HTTP/1.1)",
        )
    method, target, version = matched.groups()
    if version not in VERSIONS:
        raise RequestRefusedError(
            HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, f"{version} is not served (HTTP/1.1 is)"
        )
    return method, target, version


def _fields(rfile: BinaryIO) -> tuple[tuple[str, str], ...]:
    fields: list[tuple[str, str]] = []
    size = 0
    while True:
        line = _line(rfile, MAX_HEADER_LINE, HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "a header")
        if not line:
            raise RequestRefusedError(
                HTTPStatus.BAD_REQUEST, "the request ended inside its headers"
            )
        if line == b"\r\n":
            return tuple(fields)
        size += len(line)
        if len(fields) == MAX_HEADERS or size > MAX_HEAD:
            raise RequestRefusedError(
                HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
                f"more than {MAX_HEADERS} header lines or {MAX_HEAD:,} bytes of them",
            )
        text = line[:-2].decode("latin-1")
        name, colon, value = text.partition(":")
        if not colon or _NAME.fullmatch(name) is None:
            why = "a folded line" if text[:1] in (" ", "\t") else "not NAME: VALUE"
            raise RequestRefusedError(
                HTTPStatus.BAD_REQUEST, f"the header line {shown(text)} is {why}"
            )
        value = value.strip(" \t")
        if _VALUE.fullmatch(value) is None:
            raise RequestRefusedError(
                HTTPStatus.BAD_REQUEST, f"the header {shown(name)} holds a control character"
            )
        fields.append((name.lower(), value))


def _target(target: str) -> tuple[str, str | None]:
    """(origin-form target, the authority of an absolute-form one, or None)."""
    if "#" in target:
        raise RequestRefusedError(
            HTTPStatus.BAD_REQUEST, f"the target {shown(target)} has a fragment"
        )
    if target.startswith("/"):
        return target, None
    absolute = _ABSOLUTE.fullmatch(target)
    if absolute is None or _AUTHORITY.fullmatch(absolute.group(1)) is None:
        raise RequestRefusedError(
            HTTPStatus.BAD_REQUEST,
            f"the target {shown(target)} is neither /PATH nor http://HOST/PATH",
        )
    return absolute.group(2) or "/", absolute.group(1).lower()


def _body_length(
    method: str,
    fields: tuple[tuple[str, str], ...],
    body_methods: frozenset[str],
    max_body: int,
) -> int:
    """The body's size, from exactly one plain Content-Length; any other framing refused."""
    if any(key == "transfer-encoding" for key, _ in fields):
        raise RequestRefusedError(
            HTTPStatus.NOT_IMPLEMENTED,
            "Transfer-Encoding is not supported: send the body with one Content-Length",
        )
    lengths = [value for key, value in fields if key == "content-length"]
    if len(lengths) > 1:
        raise RequestRefusedError(
            HTTPStatus.BAD_REQUEST,
            f"Content-Length given {len(lengths)} times ({shown(lengths)}): it must be one",
        )
    text = lengths[0] if lengths else None
    plain = text is not None and text.isascii() and text.isdigit()
    plain = plain and len(text) <= MAX_LENGTH_DIGITS  # type: ignore[arg-type]
    length = int(text) if plain else 0  # type: ignore[arg-type]
    if method not in body_methods:
        if text is not None and not plain:
            raise RequestRefusedError(
                HTTPStatus.BAD_REQUEST, f"Content-Length {shown(text)} is not a number of bytes"
            )
        if length:
            raise RequestRefusedError(
                HTTPStatus.BAD_REQUEST,
                f"a {method} carries no body (Content-Length {length:,})",
                drain=length if length <= max_body else 0,
            )
        return 0
    if not plain:
        raise RequestRefusedError(
            HTTPStatus.LENGTH_REQUIRED, f"a {method} needs a Content-Length (in bytes)"
        )
    if length > max_body:
        raise RequestRefusedError(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"the request body is {length:,} bytes, over the {max_body:,}-byte limit",
        )
    return length
