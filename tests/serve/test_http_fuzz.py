"""The HTTP request reader under random bytes: a 4xx (or 501, 505) in JSON or a valid answer,
never a 500, a traceback or a hang; the server answers a normal request after."""

import io
import json
import socket
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_api_hostile import alive
from test_http_hostile import answers

from convmath.serve.reader import RequestHead, RequestRefusedError, read_head
from convmath.serve.server import BODY_METHODS, MAX_BODY, METHODS

BODY = b'{"image": {"sample": 0}}'
TEMPLATES = [
    b"GET /api/model HTTP/1.1\r\nHost: {me}\r\n\r\n",
    b"GET /api/train/status HTTP/1.1\r\nHost: {me}\r\nConnection: close\r\n\r\n",
    b"GET / HTTP/1.0\r\nHost: {me}\r\n\r\n",
    b"GET http://{me}/api/samples HTTP/1.1\r\nHost: {me}\r\n\r\n",
    b"POST /api/forward HTTP/1.1\r\nHost: {me}\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n" % len(BODY) + BODY,
    b"POST /api/explain HTTP/1.1\r\nHost: {me}\r\nContent-Type: application/json\r\n"
    b"Content-Length: 2\r\nExpect: 100-continue\r\n\r\n{}",
    b"GET /api/model HTTP/1.1\r\nHost: {me}\r\n\r\nGET /api/model HTTP/1.1\r\nHost: {me}\r\n\r\n",
]
PIECES = [
    b"\r\n",
    b"\n",
    b"\r",
    b" ",
    b"\t",
    b":",
    b"\x00",
    b"Content-Length: 5\r\n",
    b"Content-Length: 99999999999\r\n",
    b"Transfer-Encoding: chunked\r\n",
    b"Host: evil.example\r\n",
    b"Expect: 100-continue\r\n",
    b"Connection: close\r\n",
    b"http://evil.example",
    b"\xff",
    b"HTTP/1.1",
]


@st.composite
def mutated(draw):
    """A request of TEMPLATES with a few bytes flipped, cut, inserted or deleted."""
    data = bytearray(draw(st.sampled_from(TEMPLATES)))
    for _ in range(draw(st.integers(0, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "piece", "delete"]))
        where = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[where] ^= draw(st.integers(1, 255))
        elif kind == "truncate":
            del data[where:]
        elif kind == "insert":
            data[where:where] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "piece":
            data[where:where] = draw(st.sampled_from(PIECES))
        elif data:
            del data[where]
    return bytes(data)


REQUESTS = st.one_of(mutated(), st.binary(max_size=300))


@settings(max_examples=400, deadline=None)
@given(REQUESTS)
def test_the_reader_reads_or_refuses_with_a_client_status(data):
    data = data.replace(b"{me}", b"127.0.0.1:8000")
    rfile = io.BufferedReader(io.BytesIO(data))  # type: ignore[arg-type]
    try:
        head = read_head(rfile, methods=METHODS, body_methods=BODY_METHODS, max_body=MAX_BODY)
    except RequestRefusedError as error:
        refusal = error
    else:
        refusal = None
    if refusal is not None:
        assert 400 <= refusal.status < 500 or refusal.status in (501, 505), refusal.status
        assert refusal.message
        assert 0 <= refusal.drain <= MAX_BODY
        return
    if head is None:
        assert data.strip(b"\r\n") == b"" or not data
        return
    assert isinstance(head, RequestHead)
    assert head.method in METHODS
    assert head.target.startswith("/")
    assert head.version in ("HTTP/1.1", "HTTP/1.0")
    assert 0 <= head.length <= MAX_BODY
    assert head.length == 0 or head.method in BODY_METHODS
    assert len(head.get_all("Content-Length")) <= 1
    assert not head.get_all("Transfer-Encoding")


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(REQUESTS)
def test_the_server_answers_random_requests_in_json_and_never_500(served, data):
    host, port = served.server.server_address[:2]
    data = data.replace(b"{me}", f"{host}:{port}".encode())
    started = time.monotonic()
    with socket.create_connection((host, port), timeout=10) as connection:
        try:
            connection.sendall(data)
            connection.shutdown(socket.SHUT_WR)  # the end of the stream: no hang on a half
            reply = b""
            while chunk := connection.recv(65536):
                reply += chunk
        except (ConnectionResetError, BrokenPipeError):
            reply = b""
    assert time.monotonic() - started < 10
    for status, body in answers(reply):
        assert status != 500
        assert status < 500 or status in (501, 503, 505), status
        if status >= 400:
            assert "error" in json.loads(body)
    assert alive(served)
