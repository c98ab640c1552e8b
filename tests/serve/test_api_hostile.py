"""Hostile and careless requests against ``convmath serve``: every promise of docs/SERVE.md.

Raw sockets where urllib is too polite. A test here either pins a promise
that holds (so it stays held) or reproduces a way it was found broken.
"""

import base64
import io
import itertools
import json
import socket
import struct
import threading
import time
import typing
import zlib

import numpy as np
import pytest
from api_client import call

from convmath.nn import (
    AvgPool2D,
    BatchNorm2D,
    Conv2D,
    Dense,
    GlobalAvgPool2D,
    InceptionModule,
    LeakyReLU,
    MaxPool2D,
    ResidualBlock,
    Sequential,
    Sigmoid,
    Tanh,
)
from convmath.run import load_trained
from convmath.serve.app import App
from convmath.serve.live_training import LiveTraining
from convmath.serve.served import ServedModel
from convmath.serve.server import start


def exchange(served, data: bytes, *, timeout: float = 10) -> bytes:
    """Send ``data`` on a fresh connection to the test server (loopback) and read until it
    closes. Names such as evil.example below are only bytes of these requests: nothing looks
    them up or connects to them."""
    host, port = served.server.server_address[:2]
    reply = b""
    with socket.create_connection((host, port), timeout=timeout) as connection:
        connection.sendall(data)
        try:
            while chunk := connection.recv(65536):
                reply += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    return reply


def post(served, path: str, body: bytes, **headers: str) -> bytes:
    """A raw POST, headers as given (``Content_Type`` for Content-Type), closing after."""
    host, port = served.server.server_address[:2]
    fields = {
        "Host": f"{host}:{port}",
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        "Connection": "close",
    }
    fields.update({name.replace("_", "-"): value for name, value in headers.items()})
    head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items())
    return exchange(served, (head + "\r\n").encode("latin-1") + body)


def status_of(reply: bytes) -> int:
    assert reply.startswith(b"HTTP/1."), reply[:200]
    return int(reply[9:12])


def json_of(reply: bytes) -> dict:
    head, _, body = reply.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), head
    return json.loads(body)


def alive(served) -> bool:
    return call(served.url, "/api/model")[0] == 200


# ------------------------------------------------------------ bugs found


@pytest.mark.parametrize("layer", [["conv1"], {"conv1": 1}, [1, 2]])
def test_a_backward_layer_that_is_not_a_name_is_400_naming_layer(served, layer):
    """An unhashable layer once raised TypeError inside the handler: no answer at all."""
    body = {"image": {"sample": 0}, "target": 1, "layer": layer}
    reply = post(served, "/api/backward", json.dumps(body).encode())
    assert reply, "the server dropped the connection without an answer"
    assert status_of(reply) == 400
    assert "layer" in json_of(reply)["error"]
    assert alive(served)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/forward", "application/json"),  # _body
        ("/api/forward", "text/plain"),  # _discard_body before the 415
        ("/api/nothing", "application/json"),  # _discard_body before the 404
    ],
)
@pytest.mark.parametrize("length", ["\xb2", "\xb9", "0" * 5000 + "2"])
def test_a_content_length_that_isdigit_but_not_int_gets_an_answer(
    served, path, content_type, length
):
    """'²'.isdigit() is True but int('²') fails, as does int() of over 4300 digits: such a
    length is refused as no length at all."""
    reply = post(served, path, b"{}", Content_Type=content_type, Content_Length=length)
    assert reply, "the server dropped the connection without an answer"
    assert 400 <= status_of(reply) < 500
    assert "error" in json_of(reply)
    assert alive(served)


@pytest.mark.parametrize("layer", ["conv1.", "conv1.zzz", "conv1.W", "fc2.bias.x", "relu1.."])
def test_explain_refuses_a_name_below_a_layer(served, layer):
    """Only a block's joining row (add, concat) stands for its parent: 'conv1.zzz' is no row."""
    body = {"image": {"sample": 0}, "layer": layer, "position": [0, 0, 0]}
    got, answer = call(served.url, "/api/explain", body)
    assert got in (400, 404), answer
    assert layer in answer["error"]


def test_an_internal_error_is_a_500_in_json_and_the_server_goes_on(tmp_path):
    """SERVE.md: '500 for a bug' with {"error": ...}, and the server goes on."""

    class Broken:
        work_bytes = 0
        config: typing.ClassVar[dict] = {}  # what a live run would train: the default, then

        def forward(self, image):
            raise RuntimeError("a bug inside the model code")

        def describe(self):
            return {"title": "broken"}

    running = start(App(Broken(), LiveTraining(tmp_path)))  # type: ignore[arg-type]
    try:
        reply = post(running, "/api/forward", b'{"image": {"sample": 0}}')
        assert reply, "the server dropped the connection without an answer"
        assert status_of(reply) == 500
        assert "error" in json_of(reply)
        assert call(running.url, "/api/model")[0] == 200
    finally:
        running.close()


def _png(width: int, height: int, *, pixels: bool = True) -> bytes:
    """A grayscale PNG of zeros, written by hand: tiny on the wire, any size once decoded."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress(bytes((width + 1) * height), 9) if pixels else b""
    chunks = chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def test_a_small_png_that_decodes_huge_is_refused_before_decoding(served):
    """A 36 KB request would decode to 36 million pixels (about 200 MB and a second of CPU
    each) to feed an 8x8 model: it is refused by its header."""
    picture = _png(6000, 6000)
    assert len(picture) < 64 << 10
    body = {"image": {"png": base64.b64encode(picture).decode()}}
    got, answer = call(served.url, "/api/forward", body)
    assert got == 400, "a 6000 x 6000 picture was decoded for an 8x8 model"
    assert "image.png" in answer["error"]


def test_a_trickling_client_is_closed_after_the_timeout(digits_checkpoint, tmp_path):
    """A timeout per recv() alone would let one byte every 59 s hold a thread for ever: the
    whole request has the handler's timeout (1 s here), so a byte per 0.3 s is cut off."""
    running = start(App(ServedModel.load(digits_checkpoint), LiveTraining(tmp_path)))
    running.server.RequestHandlerClass.timeout = 1
    host, port = running.server.server_address[:2]
    closed = False
    try:
        with socket.create_connection((host, port), timeout=5) as connection:
            request = f"GET /api/model HTTP/1.1\r\nHost: {host}:{port}\r\nX-Pad: ".encode()
            started = time.monotonic()
            for byte in itertools.cycle(request + b"a" * 64):
                try:
                    connection.send(bytes([byte]))
                except OSError:
                    closed = True
                    break
                time.sleep(0.3)
                if time.monotonic() - started > 4:
                    break
            if not closed:
                connection.settimeout(0.5)
                try:
                    closed = connection.recv(65536) is not None  # b"" or an answer: closed
                except TimeoutError:
                    closed = False
                except ConnectionResetError:
                    closed = True
    finally:
        running.close()
    assert closed, "a connection trickling one byte at a time was never closed"


def test_after_a_411_the_rest_of_the_connection_is_not_run_as_a_request(served):
    """The unread body of a refused POST is never parsed as the next request: it closes."""
    host, port = served.server.server_address[:2]
    hidden = f"GET /api/train/status HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    head = (
        f"POST /api/forward HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/json\r\nContent-Length: 1e3\r\n\r\n"
    )
    reply = exchange(served, head.encode() + hidden.encode())
    assert status_of(reply) == 411
    assert reply.count(b"HTTP/1.1 ") == 1, "the body was answered as a second request"


@pytest.mark.parametrize(
    "request_bytes",
    [b"GARBAGE\r\n\r\n", b"PUT /api/model HTTP/1.1\r\nHost: {host}\r\n\r\n"],
)
def test_every_answer_is_json_even_for_a_malformed_request(served, request_bytes):
    """SERVE.md: 'Every answer is JSON', http.server's own refusals (send_error) included."""
    host, port = served.server.server_address[:2]
    reply = exchange(served, request_bytes.replace(b"{host}", f"{host}:{port}".encode()))
    assert 400 <= status_of(reply) < 600
    assert "error" in json_of(reply)


# ------------------------------------------------------------ promises that hold


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"[" * 200_000, "too deep"),
        (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "too deep"),
        (b'{"image":' + b"[" * 40 + b"]" * 40 + b"}", "deep"),
        (b"\xef\xbb\xbf{}", "BOM"),
        ('{"image": 1}'.encode("utf-16"), "utf-8"),
        (b'{"image": {"pixels": [[[1e400]]]}}', "not finite"),
        (b'{"image": {"sample": 1' + b"0" * 100 + b"}}", "digits"),
        (b'{"image": {"sample": 0}}' + b" " * 10 + b"x", "not valid JSON"),
    ],
)
def test_hostile_json_is_400(served, raw, message):
    reply = post(served, "/api/forward", raw)
    assert status_of(reply) == 400
    assert message.lower() in json_of(reply)["error"].lower()


@pytest.mark.parametrize(
    ("image", "message"),
    [
        ({"sample": 10**60}, "image.sample"),
        ({"sample": True}, "image.sample"),
        ({"sample": 0, "png": ""}, "one of"),
        ({"pixels": [[[2**60]] * 8] * 8}, "[0, 1]"),
        ({"pixels": [[[0.5]] * 8] * 7}, "shape"),
        ({"pixels": [[[0.5, 0.5]] * 8] * 8}, "shape"),
        ({"pixels": [[["0.5"]] * 8] * 8}, "not a number"),
        ({"pixels": [[[None]] * 8] * 8}, "not a number"),
        ({"pixels": {"shape": [8, 8, 1], "base64": "AAAA"}}, "bytes"),
        ({"pixels": {"shape": [8, 8, 1], "base64": "!!!!"}}, "base64"),
        ({"pixels": {"shape": [8, 8, 1], "base64": "A" * 10**6}}, "base64"),
        ({"pixels": {"shape": [8, 8, 1], "base64": "", "x": 1}}, "shape"),
        ({"pixels": {"shape": {"a": 1}, "base64": ""}}, "shape"),
        ({"png": "not base64!"}, "base64"),
        ({"png": base64.b64encode(b"GIF89a" + bytes(100)).decode()}, "image.png"),
        ({"png": base64.b64encode(_png(7000, 7000, pixels=False)).decode()}, "pixel"),
        ({"png": base64.b64encode(_png(8, 8)[:40]).decode()}, "image.png"),
    ],
)
def test_hostile_images_are_400_naming_the_field(served, image, message):
    got, answer = call(served.url, "/api/forward", {"image": image})
    assert got == 400, answer
    assert message in answer["error"]


def test_nan_and_infinity_as_base64_pixels_are_refused(served):
    for bad in (np.nan, np.inf, -np.inf):
        values = np.full((8, 8, 1), 0.5, dtype="<f4")
        values[7, 7, 0] = bad
        pixels = {"shape": [8, 8, 1], "base64": base64.b64encode(values.tobytes()).decode()}
        got, answer = call(served.url, "/api/forward", {"image": {"pixels": pixels}})
        assert got == 400
        assert "NaN or an infinity" in answer["error"]


@pytest.mark.parametrize(
    ("layer", "position"),
    [
        ("", [0]),
        (".", [0]),
        ("..", [0]),
        ("__class__", [0]),
        ("__init__", [0]),
        ("layers", [0]),
        ("Sequential", [0]),
        ("softmax", [10]),
        ("softmax", [-1]),
        ("softmax", [True]),
        ("softmax", [0, 0]),
        ("softmax", "0"),
        ("softmax", None),
        ("conv1", [8, 0, 0]),
        ("conv1", [0, 8, 0]),
        ("conv1", [0, 0, 16]),
        ("conv1", [-1, 0, 0]),
        ("conv1", [0.0, 0, 0]),
        ("conv1", [10**60, 0, 0]),
        ("pool", [4, 0, 0]),
        ("fc2", [10]),
        (None, [0]),
        (["conv1"], [0, 0, 0]),
    ],
)
def test_explain_edge_requests_are_4xx_and_the_server_goes_on(served, layer, position):
    body = {"image": {"sample": 0}, "layer": layer, "position": position}
    reply = post(served, "/api/explain", json.dumps(body).encode())
    assert reply, "the server dropped the connection"
    assert status_of(reply) in (400, 404)
    assert "error" in json_of(reply)
    assert alive(served)


def test_explain_at_the_last_row_column_and_channel(served):
    for layer, position in [
        ("conv1", [7, 7, 15]),
        ("conv2", [7, 0, 31]),
        ("pool", [3, 3, 31]),
        ("flatten", [511]),
        ("fc2", [9]),
        ("softmax", [9]),
        ("softmax", [0]),
    ]:
        body = {"image": {"sample": 3}, "layer": layer, "position": position}
        got, answer = call(served.url, "/api/explain", body)
        assert got == 200, (layer, answer)
        assert answer["position"] == position


def _edge_model(digits_checkpoint):
    """Strides, 'same' padding of an even filter, dilation, groups, padded pools, both
    residual shortcuts, an Inception module: a served model of the 8x8 digits' input."""
    _, preprocessing, config = load_trained(digits_checkpoint)
    rng = np.random.default_rng(7)
    model = Sequential(
        {
            "c_s2": Conv2D(1, 4, 3, stride=2, padding="same", rng=rng),
            "bn": BatchNorm2D(4),
            "lrelu": LeakyReLU(),
            "c_dil": Conv2D(4, 4, 3, padding=2, dilation=2, groups=2, rng=rng),
            "tanh": Tanh(),
            "mp": MaxPool2D(3, 2, padding=1),
            "ap": AvgPool2D(3, 1, padding=1, count_include_pad=False),
            "ap2": AvgPool2D(3, 1, padding=1),
            "res": ResidualBlock(4, 8, 2, rng=rng, shortcut="pad"),
            "res2": ResidualBlock(8, 6, 1, rng=rng),
            "inc": InceptionModule(6, 2, 2, 2, 2, 2, 2, rng=rng),
            "c_even": Conv2D(8, 3, 2, padding="same", rng=rng),
            "sig": Sigmoid(),
            "gap": GlobalAvgPool2D(),
            "fc": Dense(3, 10, rng=rng),
        }
    )
    model.name_modules()
    for _, module in model.named_modules():
        if isinstance(module, BatchNorm2D):
            module.running_mean[...] = rng.normal(size=module.running_mean.shape)
            module.running_var[...] = rng.uniform(0.5, 2, size=module.running_var.shape)
            module.gamma.data[...] = rng.normal(size=module.gamma.data.shape)
    model.eval()
    return ServedModel(model, preprocessing, config, "edges", [])


def _recomputed(answer: dict) -> float | None:
    kind = answer["kind"]
    if kind == "conv":
        window = _array(answer["window"])
        products = window.astype(np.float64) * _array(answer["filter"])
        np.testing.assert_allclose(_array(answer["products"]), products, rtol=1e-5, atol=1e-6)
        padded = np.array(answer["padded"])
        assert not window[padded].any(), "a padded place of the window is not zero"
        return float(products.sum()) + answer["bias"]
    if kind == "max":
        values = np.where(answer["padded"], -np.inf, _array(answer["window"]))
        return float(values.max())
    if kind == "activation":
        return answer["a"]
    if kind in ("batch_norm", "layer_norm"):
        x, mu, sigma = answer["x"], answer["mu"], answer["sigma"]
        return answer["gamma"] * (x - mu) / sigma + answer["beta"]
    if kind == "dense":
        return answer["z"]
    if kind == "residual_add":
        return max(answer["main"] + answer["shortcut"], 0.0)
    return None


def _array(value) -> np.ndarray:
    raw = base64.b64decode(value["base64"])
    return np.frombuffer(raw, dtype="<f4").reshape(value["shape"])


def test_explain_at_the_edges_of_strided_padded_dilated_layers(digits_checkpoint, tmp_path):
    running = start(App(_edge_model(digits_checkpoint), LiveTraining(tmp_path)))
    try:
        pixels = np.random.default_rng(1).uniform(0, 1, size=(8, 8, 1)).tolist()
        layers = call(running.url, "/api/model")[1]["layers"]
        opened = 0
        for row in layers:
            if row["heading"]:
                continue
            assert row["explainable"], row["name"]
            edges = [sorted({0, n - 1}) for n in row["output_shape"]]
            for position in itertools.product(*edges):
                body = {"image": {"pixels": pixels}, "layer": row["name"], "position": position}
                got, answer = call(running.url, "/api/explain", body)
                assert got == 200, (row["name"], position, answer)
                expected = _recomputed(answer)
                if expected is not None:
                    assert expected == pytest.approx(answer["value"], rel=1e-4, abs=1e-5), (
                        row["name"],
                        position,
                        answer["equation"],
                    )
                opened += 1
        assert opened > 100
    finally:
        running.close()


@pytest.mark.parametrize(
    "path",
    [
        "/assets/%2E%2E%2Fserved.py",
        "/assets/%252e%252e%252fserved.py",
        "/assets/..%5cserved.py",
        "/assets/%c0%ae%c0%ae/served.py",
        "/assets/%EF%BC%8E%EF%BC%8E%EF%BC%8Fserved.py",
        "/assets/%00index.html",
        "/assets/index.html%00.js",
        "/assets/..",
        "/assets/.",
        "/assets/",
        "/assets/index.html/..",
        "/%2e%2e/server.py",
        "/assets/~/.bashrc",
        "/assets/index.HTML",
        "/ASSETS/index.html",
        "/assets/app.js;x",
        "http://{host}/assets/../server.py",  # absolute-form, this server's own address
        "/assets/" + "a" * 70 + ".js",
        "/assets/%2F%2Fetc%2Fpasswd",
        "/assets/%5C..%5C__init__.py",
    ],
)
def test_static_files_by_any_encoding_stay_in_the_asset_folder(served, path):
    host, port = served.server.server_address[:2]
    path = path.replace("{host}", f"{host}:{port}")
    request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n"
    reply = exchange(served, request.encode(), timeout=3)
    assert status_of(reply) == 404, reply[:200]
    assert b"def " not in reply


@pytest.mark.parametrize(
    ("head", "status"),
    [
        ("GET /api/model HTTP/1.0\r\n", 403),  # HTTP/1.0, no Host
        ("GET /api/model HTTP/1.1\r\n", 403),  # no Host
        ("GET /api/model HTTP/1.1\r\nHost: 127.0.0.1\r\n", 403),  # no port
        ("GET /api/model HTTP/1.1\r\nHost: 127.0.0.1:0{port}\r\n", 403),
        ("GET /api/model HTTP/1.1\r\nHost: localhost.:{port}\r\n", 403),
        ("GET /api/model HTTP/1.1\r\nHost: evil.example\r\nHost: 127.0.0.1:{port}\r\n", 403),
        ("GET /api/model HTTP/1.1\r\nHost: 127.0.0.1:{port}@evil.example\r\n", 403),
        ("GET /api/model HTTP/1.1\r\nHost: LOCALHOST:{port}\r\n", 200),
        ("GET http://evil.example/api/model HTTP/1.1\r\nHost: evil.example\r\n", 403),
    ],
)
def test_only_requests_for_this_address_are_answered(served, head, status):
    port = served.server.server_address[1]
    reply = exchange(served, (head.format(port=port) + "Connection: close\r\n\r\n").encode())
    assert status_of(reply) == status


@pytest.mark.parametrize(
    ("content_type", "status"),
    [
        ("Application/JSON", 200),
        ("application/json; charset=utf-8", 200),
        ("application/jsonx", 415),
        ("application/json, text/plain", 415),
        ("text/plain; application/json", 415),
        ("multipart/form-data; boundary=x", 415),
        ("", 415),
    ],
)
def test_the_content_type_check(served, content_type, status):
    reply = post(served, "/api/forward", b'{"image": {"sample": 0}}', Content_Type=content_type)
    assert status_of(reply) == status


def test_a_cors_preflight_is_never_granted(served):
    host, port = served.server.server_address[:2]
    reply = exchange(
        served,
        (
            f"OPTIONS /api/train/start HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Origin: http://evil.example\r\nAccess-Control-Request-Method: POST\r\n"
            "Access-Control-Request-Headers: content-type\r\nConnection: close\r\n\r\n"
        ).encode(),
    )
    assert status_of(reply) >= 400
    assert b"access-control-allow" not in reply.lower()


def test_idle_and_stalled_connections_do_not_block_other_clients(served):
    host, port = served.server.server_address[:2]
    held = []
    try:
        for _ in range(5):  # under the listen backlog: see the test below for bursts
            connection = socket.create_connection((host, port), timeout=5)
            connection.sendall(b"GET /api/mo")  # half a request line
            held.append(connection)
        stalled = socket.create_connection((host, port), timeout=5)
        held.append(stalled)
        stalled.sendall(
            f"POST /api/forward HTTP/1.1\r\nHost: {host}:{port}\r\n"
            "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{".encode()
        )
        started = time.monotonic()
        assert alive(served)
        assert time.monotonic() - started < 2
    finally:
        for connection in held:
            connection.close()


def test_a_burst_of_connections_is_accepted_at_once(served):
    """socketserver's default backlog of 5 would make every sixth of a burst of connects (a
    browser opens 6 per host, several tabs more) wait a 1 s SYN retry: the queue holds 128."""
    host, port = served.server.server_address[:2]
    held = []
    try:
        for _ in range(40):
            started = time.monotonic()
            held.append(socket.create_connection((host, port), timeout=5))
            assert time.monotonic() - started < 0.5, f"connect {len(held)} waited for a retry"
    finally:
        for connection in held:
            connection.close()
    assert alive(served)


def test_training_endpoints_in_odd_orders_and_from_many_threads(served):
    for action in ("pause", "resume", "stop"):
        got, answer = call(served.url, f"/api/train/{action}", {})
        assert (got, answer["state"]) == (200, "idle")
    assert call(served.url, "/api/train/serve", {})[0] == 409
    codes: list[int] = []

    def start_run() -> None:
        codes.append(call(served.url, "/api/train/start", {"epochs": 100})[0])

    threads = [threading.Thread(target=start_run) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(codes) == [200] + [409] * 15
    for action, states in [
        ("pause", {"paused", "finished"}),
        ("pause", {"paused", "finished"}),
        ("serve", None),
        ("resume", {"running", "finished"}),
        ("stop", {"stopping", "stopped", "finished"}),
        ("resume", {"stopping", "stopped", "finished"}),
        ("pause", {"stopping", "stopped", "finished"}),
    ]:
        got, answer = call(served.url, f"/api/train/{action}", {})
        if states is None:
            assert got in (200, 409)
        else:
            assert got == 200
            assert answer["state"] in states, (action, answer)
    served.app.training.wait(30)
    state = call(served.url, "/api/train/status")[1]["state"]
    assert state in ("stopped", "finished")
    got, answer = call(served.url, "/api/train/serve", {})
    assert got in (200, 409), answer  # 409 if stopped before the first epoch's checkpoint
    assert alive(served)


def test_a_picture_over_the_pixel_limit_is_refused_from_its_header(served):
    started = time.monotonic()
    body = {"image": {"png": base64.b64encode(_png(20_000, 20_000, pixels=False)).decode()}}
    got, answer = call(served.url, "/api/forward", body)
    assert got == 400
    assert "pixel" in answer["error"]
    assert time.monotonic() - started < 2


def test_a_drawn_png_through_pillow_still_works(served):
    image = pytest.importorskip("PIL.Image")
    buffer = io.BytesIO()
    image.new("L", (64, 64), 255).save(buffer, "PNG")
    body = {"image": {"png": base64.b64encode(buffer.getvalue()).decode()}}
    assert call(served.url, "/api/forward", body)[0] == 200
