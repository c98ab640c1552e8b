"""The JSON API of ``convmath serve``, against a server on a free loopback port.

Every number the page shows is checked against the library's own
computation: the forward of the model, its autograd, ``predict``'s reading
of a picture.
"""

import base64
import io
import json
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
from api_client import call
from loopback import open_local

import convmath as cm
import convmath.functional as F
import convmath.serve
from convmath.data.centering import picture_input
from convmath.inspect import explain
from convmath.nn import Conv2D
from convmath.run import load_trained
from convmath.serve.arrays import encode_array
from convmath.train import predict
from convmath.train.checkpoint import load_checkpoint

Image = pytest.importorskip("PIL.Image")


def array(value) -> np.ndarray:
    raw = base64.b64decode(value["base64"])
    return np.frombuffer(raw, dtype="<f4").reshape(value["shape"])


@pytest.fixture(scope="module")
def trained(digits_checkpoint):
    return load_trained(digits_checkpoint)


def sample_unit(served, k: int) -> np.ndarray:
    return served.app.model().samples[k][0]


def test_the_model_is_described_by_explains_rows(served, trained):
    status, answer = call(served.url, "/api/model")
    assert status == 200
    model, preprocessing, _ = trained
    rows = explain(model, preprocessing.input_shape).rows
    assert [layer["name"] for layer in answer["layers"]] == [row.name for row in rows]
    assert answer["input_shape"] == [8, 8, 1]
    assert answer["classes"] == [str(k) for k in range(10)]
    conv1 = answer["layers"][0]
    assert conv1["kind"] == "Conv2D"
    assert conv1["output_shape"] == [8, 8, 16]
    assert conv1["formulas"]
    assert conv1["backward"]
    assert conv1["explainable"]
    assert all(layer["explainable"] for layer in answer["layers"])
    # Each row names its output as the article does, with l filled into its equations.
    names = {layer["name"]: layer["name_text"] for layer in answer["layers"]}
    assert names["conv1"] == "Z^[1]"
    assert names["relu1"] == "A^[1]"
    assert conv1["name_tex"] == "Z^{[1]}"
    assert conv1["formulas"][0].startswith("Z^[1] = W^[1] * A^[0], then A^[1] = psi(Z^[1])")
    assert "\\sum_{k=1}^{1} W^{[1]}_{i,j,k,c}" in conv1["equations"][1]
    assert any(line.startswith("dW^{[1]}_{i,j,k,c}") for line in conv1["backward_equations"])


def test_samples_are_the_embedded_test_digits(served):
    status, answer = call(served.url, "/api/samples")
    assert status == 200
    images, labels = cm.data.load("digits", "test")
    assert len(answer["samples"]) == 24
    first = answer["samples"][0]
    np.testing.assert_array_equal(array(first["pixels"]), images[0] / 16)
    assert first["label"] == str(labels[0])


def test_forward_gives_the_librarys_prediction_and_every_map(served, trained):
    model, preprocessing, _ = trained
    status, answer = call(served.url, "/api/forward", {"image": {"sample": 5}})
    assert status == 200
    unit = sample_unit(served, 5)
    expected = predict(model, preprocessing, unit[None])[0]
    np.testing.assert_allclose(answer["probabilities"], expected, rtol=1e-5, atol=1e-7)
    assert answer["prediction"] == str(int(np.argmax(expected)))
    assert answer["top"][0] == [answer["prediction"], pytest.approx(float(expected.max()))]
    np.testing.assert_array_equal(array(answer["input"]), unit)
    np.testing.assert_allclose(
        array(answer["normalized"]), preprocessing.normalize(unit[None])[0], rtol=1e-6
    )
    for row in explain(model, preprocessing.input_shape).rows:
        assert list(array(answer["maps"][row.name]).shape) == list(row.output_shape)
    with cm.no_grad():
        logits = model(cm.Tensor(preprocessing.normalize(unit[None]))).data[0]
    np.testing.assert_allclose(array(answer["maps"]["fc2"]), logits, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(answer["logits"], logits, rtol=1e-5, atol=1e-6)


def test_a_drawing_is_read_as_predict_reads_a_file(served, tmp_path):
    picture = Image.new("L", (140, 140), 0)
    picture.paste(255, (60, 20, 80, 120))  # a thick vertical stroke: a 1
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG")
    status, answer = call(
        served.url, "/api/forward", {"image": {"png": base64.b64encode(buffer.getvalue()).decode()}}
    )
    assert status == 200
    (tmp_path / "one.png").write_bytes(buffer.getvalue())
    expected = picture_input(tmp_path / "one.png", (8, 8, 1), invert=False, center=False)
    np.testing.assert_array_equal(array(answer["input"]), expected)


def test_pixels_as_lists_or_base64_give_the_same_answer(served):
    unit = sample_unit(served, 2)
    _, as_lists = call(served.url, "/api/forward", {"image": {"pixels": unit.tolist()}})
    _, as_base64 = call(served.url, "/api/forward", {"image": {"pixels": encode_array(unit)}})
    _, as_sample = call(served.url, "/api/forward", {"image": {"sample": 2}})
    assert as_lists["probabilities"] == as_base64["probabilities"] == as_sample["probabilities"]


def explained(served, layer, position, k=3):
    status, answer = call(
        served.url, "/api/explain", {"image": {"sample": k}, "layer": layer, "position": position}
    )
    assert status == 200, answer
    return answer


def maps_of(served, k=3):
    return {
        name: array(value)
        for name, value in call(served.url, "/api/forward", {"image": {"sample": k}})[1][
            "maps"
        ].items()
    }


def test_a_conv_value_is_its_window_times_the_filter_plus_the_bias(served, trained):
    model = trained[0]
    maps = maps_of(served)
    answer = explained(served, "conv2", [0, 5, 7])  # a corner: the window reaches the padding
    assert answer["kind"] == "conv"
    assert answer["rows"] == [-1, 0, 1]
    assert answer["cols"] == [4, 5, 6]
    assert answer["padded"][0] == [True, True, True]
    assert answer["padded"][1] == [False] * 3
    window, w = array(answer["window"]), array(answer["filter"])
    assert window.shape == (3, 3, 16)
    np.testing.assert_array_equal(window[0], 0)
    np.testing.assert_array_equal(window[1:], maps["relu1"][0:2, 4:7])
    np.testing.assert_array_equal(w, model["conv2"].W.data[:, :, :, 7])
    np.testing.assert_allclose(array(answer["products"]), window * w, rtol=1e-6)
    assert answer["sum"] == pytest.approx(float((window.astype(np.float64) * w).sum()))
    assert answer["z"] == pytest.approx(answer["sum"] + answer["bias"])
    assert answer["z"] == pytest.approx(maps["conv2"][0, 5, 7], rel=1e-5, abs=1e-6)
    assert answer["value"] == pytest.approx(float(maps["conv2"][0, 5, 7]))
    assert answer["activation"] is None  # batch norm comes between conv2 and its ReLU
    # The article's indices count from 1: position [0, 5, 7] is its x = 1, y = 6, filter 8.
    assert answer["equation"].startswith(
        "Z^[2]_(1,6,8) = sum_(i=1..3) sum_(j=1..3) sum_(k=1..16) W^[2]_(i,j,k,8) A^[1]_(i, 5+j, k)"
    )
    assert "\\sum_{k=1}^{16}" in answer["tex"]
    assert answer["name"] == "Z^[2]"


def test_pool_dense_batch_norm_activation_and_softmax_values(served, trained):
    model = trained[0]
    maps = maps_of(served)
    pool = explained(served, "pool", [1, 2, 30])
    np.testing.assert_array_equal(array(pool["window"]), maps["relu2"][2:4, 4:6, 30])
    assert pool["kind"] == "max"
    assert pool["value"] == float(maps["relu2"][2:4, 4:6, 30].max())
    assert array(pool["window"])[tuple(pool["argmax"])] == pool["value"]

    dense = explained(served, "fc2", [4])
    products = maps["relu3"].astype(np.float64) * model["fc2"].W.data[:, 4]
    assert dense["n_in"] == 64
    assert len(dense["contributions"]) == 10
    top = sum(c["product"] for c in dense["contributions"])
    assert top + dense["rest"] == pytest.approx(products.sum(), abs=1e-5)
    assert dense["z"] == pytest.approx(float(maps["fc2"][4]), rel=1e-5, abs=1e-5)

    bn = explained(served, "bn1", [3, 3, 2])
    assert bn["x"] == pytest.approx(float(maps["conv1"][3, 3, 2]))
    assert bn["mu"] == pytest.approx(float(model["bn1"].running_mean[2]))
    assert bn["y"] == pytest.approx(float(maps["bn1"][3, 3, 2]), rel=1e-5, abs=1e-6)

    relu = explained(served, "relu1", [3, 3, 2])
    assert relu["a"] == max(relu["z"], 0.0) == pytest.approx(float(maps["relu1"][3, 3, 2]))

    _, forward = call(served.url, "/api/forward", {"image": {"sample": 3}})
    softmax = explained(served, "softmax", [6])
    assert softmax["sum"] == pytest.approx(float(array(softmax["exps"]).sum()))
    assert softmax["value"] == pytest.approx(forward["probabilities"][6], rel=1e-6)


def test_backward_is_the_librarys_back_propagation(served, trained):
    model, preprocessing, _ = trained
    unit = sample_unit(served, 7)
    status, answer = call(
        served.url,
        "/api/backward",
        {"image": {"sample": 7}, "target": 2, "layer": "conv2", "filter": 3, "learning_rate": 0.5},
    )
    assert status == 200, answer
    p = np.array(answer["probabilities"])
    assert answer["loss"] == pytest.approx(-np.log(p[2]), rel=1e-5)
    np.testing.assert_allclose(answer["dZ"], p - np.eye(10)[2], atol=1e-7)
    np.testing.assert_allclose(array(answer["gradients"]["fc2"]), answer["dZ"], atol=1e-6)

    reference = load_trained(answer_checkpoint(served))[0]  # a fresh copy to differentiate
    reference.eval()
    x = cm.Tensor(preprocessing.normalize(unit[None]))
    F.softmax_cross_entropy(reference(x), np.array([2])).backward()
    conv = reference["conv2"]
    assert isinstance(conv, Conv2D)
    step = answer["filter"]
    assert step["layer"] == "conv2"
    assert step["index"] == 3
    assert step["learning_rate"] == 0.5
    np.testing.assert_allclose(array(step["dW"]), conv.W.grad[..., 3], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(
        array(step["W_new"]), array(step["W"]) - 0.5 * array(step["dW"]), rtol=1e-6, atol=1e-7
    )
    for row in explain(model, preprocessing.input_shape).rows:
        assert list(array(answer["gradients"][row.name]).shape) == list(row.output_shape)


def answer_checkpoint(served):
    return served.app.model().title.split(" from ", 1)[1]


@pytest.mark.parametrize(
    ("path", "body", "status", "message"),
    [
        ("/api/forward", {}, 400, "no 'image'"),
        ("/api/forward", {"image": {"sample": 99}}, 400, "image.sample must be in 0..23"),
        ("/api/forward", {"image": {"sample": True}}, 400, "must be an integer"),
        ("/api/forward", {"image": {"pixels": [[0.5]]}}, 400, "shape [8, 8, 1]"),
        ("/api/forward", {"image": {"pixels": np.full((8, 8, 1), 2.0).tolist()}}, 400, "[0, 1]"),
        ("/api/forward", {"image": {"png": "not base64!"}}, 400, "not valid base64"),
        ("/api/forward", {"image": {"png": base64.b64encode(b"GIF89a").decode()}}, 400, "png"),
        ("/api/forward", {"image": {"jpeg": 1}}, 400, "png, sample or pixels"),
        (
            "/api/forward",
            {"image": {"pixels": {"shape": [8, 8, 1], "base64": "AAAA"}}},
            400,
            "holds 3 bytes",
        ),
        (
            "/api/explain",
            {"image": {"sample": 0}, "layer": "conv9", "position": [0, 0, 0]},
            400,
            "no layer 'conv9'",
        ),
        (
            "/api/explain",
            {"image": {"sample": 0}, "layer": "conv1", "position": [8, 0, 0]},
            400,
            "outside 'conv1'",
        ),
        (
            "/api/explain",
            {"image": {"sample": 0}, "layer": "conv1", "position": [0, 0]},
            400,
            "must be 3 integers",
        ),
        ("/api/backward", {"image": {"sample": 0}, "target": 10}, 400, "target must be in 0..9"),
        ("/api/backward", {"image": {"sample": 0}, "target": 1, "filter": 16}, 400, "0..15"),
        ("/api/backward", {"image": {"sample": 0}, "target": 1, "layer": "fc1"}, 400, "CONV"),
        (
            "/api/backward",
            {"image": {"sample": 0}, "target": 1, "learning_rate": -1},
            400,
            "learning_rate",
        ),
        ("/api/train/start", {"epochs": 0}, 400, "epochs must be an integer in [1, 100,000]"),
        ("/api/nothing", {}, 404, "no POST /api/nothing"),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_field_and_the_server_goes_on(
    served, path, body, status, message
):
    got, answer = call(served.url, path, body)
    assert got == status
    assert message in answer["error"]
    assert call(served.url, "/api/model")[0] == 200


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"{not json", "not"),
        (b'{"image": NaN}', "NaN"),
        (b'{"image": 1, "image": 2}', "twice in one object"),
        (b"[1, 2]", "a JSON object"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
def test_malformed_bodies_are_400(served, raw, message):
    got, answer = call(served.url, "/api/forward", raw=raw)
    assert got == 400
    assert message.lower() in answer["error"].lower()


def test_a_body_over_the_limit_is_413_without_reading_it(served):
    host, port = served.server.server_address[:2]
    with socket.create_connection((host, port), timeout=10) as connection:
        connection.sendall(
            f"POST /api/forward HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json"
            "\r\nContent-Length: 999999999\r\n\r\n{".encode()
        )
        reply = b""
        while chunk := connection.recv(65536):
            reply += chunk
    reply = reply.decode()
    assert reply.startswith("HTTP/1.1 413")
    assert "4,194,304-byte limit" in reply
    assert call(served.url, "/api/model")[0] == 200


@pytest.mark.parametrize(
    "path",
    [
        "/assets/../served.py",
        "/assets/%2e%2e/served.py",
        "/assets/..%2fserved.py",
        "/assets/%2fetc%2fpasswd",
        "/../../../../etc/passwd",
        "/assets//etc/passwd",
        "/assets/.hidden.js",
        "/assets/../../__init__.py",
        "/assets/app.py",
        "/served.py",
        "/assets/vendor/katex/LICENSE",  # no content type for it: not served
        "/assets/vendor/../app.py",
        "/assets/vendor//katex/katex.min.js",
        "/assets/vendor/katex/.hidden/katex.min.js",
        "/assets/vendor/katex/fonts/../../../../served.py",
        "/assets/a/b/c/d/e/f.js",  # deeper than any asset folder
    ],
)
def test_static_files_come_only_from_the_asset_folder(served, path):
    host, port = served.server.server_address[:2]
    with socket.create_connection((host, port), timeout=10) as connection:
        connection.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
        reply = connection.recv(65536).decode(errors="replace")
    assert reply.startswith("HTTP/1.1 404"), reply[:200]
    assert "import" not in reply  # no Python source came back


def test_the_page_and_its_assets_are_served(served):

    with open_local(served.url + "/", timeout=10) as response:
        page = response.read().decode()
        assert response.headers["Content-Type"].startswith("text/html")
    assert "<html" in page.lower()


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/assets/vendor/katex/katex.min.js", "text/javascript"),
        ("/assets/vendor/katex/katex.min.css", "text/css"),
        ("/assets/vendor/katex/fonts/KaTeX_Main-Regular.woff2", "font/woff2"),
        ("/assets/i18n.js", "text/javascript"),
    ],
)
def test_katex_and_its_fonts_are_served_from_the_package(served, path, content_type):
    with open_local(served.url + path, timeout=10) as response:
        body = response.read()
        assert response.headers["Content-Type"].startswith(content_type)
    packaged = Path(convmath.serve.__file__).parent / "assets" / path[len("/assets/") :]
    assert body == packaged.read_bytes()


def test_several_tabs_at_once_see_consistent_numbers(served):
    answers: dict[int, list] = {}

    def ask(k: int) -> None:
        answers[k] = [
            call(served.url, "/api/forward", {"image": {"sample": k % 4}})[1]["probabilities"]
            for _ in range(3)
        ]

    threads = [threading.Thread(target=ask, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(answers) == 8
    for k, repeats in answers.items():
        assert repeats[0] == repeats[1] == repeats[2] == answers[k % 4][0]


def test_a_training_run_from_the_page(served):
    status, started = call(served.url, "/api/train/start", {"epochs": 3})
    assert status == 200
    assert started["state"] == "running"
    assert call(served.url, "/api/train/start", {"epochs": 3})[0] == 409
    assert call(served.url, "/api/train/pause", {})[1]["state"] in ("paused", "finished")
    served.app.training.wait(0.3)
    paused = call(served.url, "/api/train/status")[1]
    if paused["state"] == "paused":
        served.app.training.wait(0.3)
        assert call(served.url, "/api/train/status")[1]["step"] == paused["step"]
        assert call(served.url, "/api/train/resume", {})[1]["state"] == "running"
    served.app.training.wait(120)
    status, done = call(served.url, "/api/train/status")
    assert done["state"] == "finished", done["error"]
    assert [row["epoch"] for row in done["history"]] == [1, 2, 3]
    assert {"train_loss", "dev_loss", "dev_accuracy"} <= set(done["history"][0])
    assert array(done["filters"]).shape == (3, 3, 1, 16)
    out = done["out_dir"]
    assert (served.app.training.runs_dir / out.rsplit("/", 1)[1] / "best.safetensors").is_file()
    status, switched = call(served.url, "/api/train/serve", {})
    assert status == 200
    assert switched["served"].endswith("best.safetensors")
    assert out in call(served.url, "/api/model")[1]["title"]


def test_a_run_stopped_from_the_page_keeps_its_last_checkpoint(served):
    call(served.url, "/api/train/start", {"epochs": 100})
    for _ in range(600):
        status = call(served.url, "/api/train/status")[1]
        if status["epoch"] >= 1:
            break
        served.app.training.wait(0.05)
    assert call(served.url, "/api/train/stop", {})[1]["state"] in ("stopping", "stopped")
    served.app.training.wait(60)
    stopped = call(served.url, "/api/train/status")[1]
    assert stopped["state"] == "stopped"
    assert 1 <= stopped["epoch"] < 100
    folder = served.app.training.runs_dir / stopped["out_dir"].rsplit("/", 1)[1]
    last = load_checkpoint(folder / "last.safetensors")  # convmath train --resume goes on
    assert last.state["epoch"] == stopped["epoch"]


def test_status_before_any_run_is_idle(tmp_path):
    from convmath.serve.live_training import LiveTraining

    training = LiveTraining(tmp_path)
    assert training.status()["state"] == "idle"
    assert training.status()["history"] == []


@pytest.mark.parametrize(
    ("headers", "status", "message"),
    [
        ({"Content-Type": "text/plain"}, 415, "takes Content-Type application/json"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415, "application/json"),
        ({"Content-Type": "application/json", "Host": "evil.example:80"}, 403, "not this"),
    ],
)
def test_what_another_site_could_send_is_refused(served, headers, status, message):
    """A page elsewhere may POST forms or text/plain to loopback, or rebind its name to it."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        served.url + "/api/train/start", data=b'{"epochs": 1}', method="POST", headers=headers
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        open_local(request, timeout=10)
    assert refused.value.code == status
    assert message in json.loads(refused.value.read())["error"]
    assert served.app.training.status()["state"] in ("idle", "finished", "stopped")


def test_every_loopback_name_of_the_port_is_accepted(served):
    port = served.server.server_address[1]
    for host in ("127.0.0.1", "localhost"):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(f"GET /api/model HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode())
            assert connection.recv(64).startswith(b"HTTP/1.1 200")


def test_serving_a_trained_model_tells_every_page(served):
    before = call(served.url, "/api/model")[1]["generation"]
    assert call(served.url, "/api/train/status")[1]["model_generation"] == before
    if call(served.url, "/api/train/status")[1]["state"] not in ("finished", "stopped"):
        call(served.url, "/api/train/start", {"epochs": 1})
        served.app.training.wait(120)
    status, switched = call(served.url, "/api/train/serve", {})
    assert status == 200
    assert switched["generation"] == before + 1
    assert call(served.url, "/api/train/status")[1]["model_generation"] == before + 1
    assert call(served.url, "/api/model")[1]["generation"] == before + 1


def test_ipv6_loopback_is_served(digits_checkpoint, tmp_path):

    from convmath.serve.app import App
    from convmath.serve.live_training import LiveTraining
    from convmath.serve.served import ServedModel
    from convmath.serve.server import start

    if not socket.has_ipv6:
        pytest.skip("no IPv6 here")
    try:
        running = start(App(ServedModel.load(digits_checkpoint), LiveTraining(tmp_path)), "::1")
    except OSError as error:
        pytest.skip(f"no IPv6 loopback here ({error})")
    try:
        assert running.url.startswith("http://[::1]:")
        with open_local(running.url + "/api/model", timeout=10) as response:
            assert json.loads(response.read())["input_shape"] == [8, 8, 1]
    finally:
        running.close()


def test_backward_stays_right_while_a_run_trains_in_another_thread(served):
    """The run's evaluations enter no_grad(); the engine's switches are per thread."""
    call(served.url, "/api/train/start", {"epochs": 3})
    answers = []
    try:
        for _ in range(40):
            status, answer = call(
                served.url, "/api/backward", {"image": {"sample": 1}, "target": 4}
            )
            assert status == 200, answer
            answers.append(answer["loss"])
    finally:
        call(served.url, "/api/train/stop", {})
        served.app.training.wait(60)
    assert len(set(answers)) == 1  # the served model never changes: one loss, every time


def test_the_tests_open_loopback_only():
    with pytest.raises(AssertionError, match="only open loopback"):
        open_local("http://192.0.2.1/api/model", timeout=1)  # refused before any connection
