"""The page a learner keeps open beside the article, in a real browser: the overview of the
whole network, the layer index, the window of a picked value, the default model reading
handwriting, and screenshots at a laptop's and a phone's width.

The architectures are served with fresh weights (named_models.py): the overview draws the
graph and the maps of any weights. Screenshots go to ``$CONVMATH_ARTIFACTS/serve`` when
it is set (CI keeps them), else to the test's tmp folder.
"""

import json
import re
import urllib.request

import pytest

pytest.importorskip("playwright.sync_api")

from browser import Browser, skip_without_chromium
from loopback import open_local
from named_models import serve_untrained
from playwright.sync_api import expect

from convmath.serve.app import App
from convmath.serve.live_training import LiveTraining
from convmath.serve.served import ServedModel
from convmath.serve.server import start

skip_without_chromium()

pytestmark = pytest.mark.slow

SCREEN = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# Every column of the graph: its rows, and whether it is drawn inside a folded block.
COLUMNS = """() => [...document.querySelectorAll('[data-testid=graph] .g-col[data-rows]')]
  .map((node) => node.dataset.rows).filter(Boolean).flatMap((rows) => rows.split(' '))"""


# The graph has drawn more than N connections.
EDGES = "(n) => Number(document.querySelector('[data-testid=graph]').dataset.edges) > n"


def api(url, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + path, data=data)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with open_local(request, timeout=30) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def servers(tmp_path_factory):
    """One server per architecture, started when first asked for."""
    running = {}

    def get(name):
        if name not in running:
            runs = tmp_path_factory.mktemp(f"runs-{name}")
            if name == "default":
                running[name] = start(App(ServedModel.default(), LiveTraining(runs)))
            else:
                running[name] = serve_untrained(name, str(runs))
        return running[name]

    yield get
    for server in running.values():
        server.close()


def open_page(chromium, url, viewport=SCREEN):
    context = chromium.new_context(viewport=viewport)
    page = context.new_page()
    page.set_default_timeout(20_000)
    browser = Browser(page)
    page.goto(url + "/")
    browser.settle()
    page.wait_for_function(EDGES, arg=0)
    return context, browser


@pytest.mark.parametrize("name", ["digits_cnn", "lenet5", "googlenet_small", "blocks_of_today"])
def test_the_overview_fits_one_screen(chromium, servers, artifacts, name):
    server = servers(name)
    model = api(server.url, "/api/model")
    context, app = open_page(chromium, server.url)
    page = app.page
    graph = page.get_by_test_id("graph")
    box = graph.bounding_box()
    assert box["y"] >= 0
    assert box["y"] + box["height"] <= SCREEN["height"], box
    assert box["x"] >= 0
    assert box["x"] + box["width"] <= SCREEN["width"], box
    assert page.evaluate("document.documentElement.scrollWidth") <= SCREEN["width"]
    # every row of the model has its place in a column, every block is drawn as one
    rows = [row["name"] for row in model["layers"] if not row["heading"]]
    assert sorted(page.evaluate(COLUMNS)) == sorted(rows)
    headings = [row["name"] for row in model["layers"] if row["heading"]]
    for heading in headings:  # a block inside another is drawn in that one's path
        inner = any(heading.startswith(f"{outer}.") for outer in headings)
        expect(page.get_by_test_id(f"graph-block-{heading}")).to_have_count(0 if inner else 1)
    # the connections: one at least into each column, and one into the prediction
    edges = page.locator("[data-testid=graph] svg path[data-to]")
    columns = int(graph.get_attribute("data-columns"))
    assert edges.count() >= columns
    expect(page.locator("[data-testid=graph] path[data-to=prediction]")).to_have_count(1)
    answer = api(server.url, "/api/forward", {"image": {"png": _pad_png(page)}})
    expect(page.get_by_test_id("graph-prediction").locator(".g-predicted")).to_have_text(
        answer["prediction"]
    )
    page.screenshot(path=str(artifacts / f"overview-{name}-1280.png"))
    # no box in the page scrolls its channels (a cut-off last row): every grid is whole
    cut = page.evaluate(
        """() => [...document.querySelectorAll('.map-grid, .conv-slices, .filter-grid')]
          .filter((node) => node.scrollHeight > node.clientHeight + 1).length"""
    )
    assert cut == 0
    # a column's name opens its details
    last = [row["name"] for row in model["layers"] if not row["heading"] and "." not in row["name"]]
    page.locator(f"[data-testid='node-{last[-1]}'] .g-label").click()
    page.wait_for_timeout(200)
    detail = page.get_by_test_id(f"layer-{last[-1]}").bounding_box()
    assert 0 <= detail["y"] < SCREEN["height"]
    assert app.problems == []
    context.close()


def test_inception_branches_and_the_shortcut_are_drawn_as_blocks(chromium, servers):
    server = servers("googlenet_small")
    context, app = open_page(chromium, server.url)
    block = app.page.get_by_test_id("graph-block-inception1")
    expect(block.locator(".g-lane")).to_have_count(4)  # 1x1, 3x3, 5x5, pool
    # the concatenation reads the four branches' ends
    concat = app.page.locator("[data-testid=graph] path[data-to='inception1.concat']")
    expect(concat).to_have_count(4)
    context.close()


def test_resnet_scrolls_down_only_and_its_blocks_fold(chromium, servers, artifacts):
    server = servers("resnet")
    model = api(server.url, "/api/model")
    context, app = open_page(chromium, server.url)
    page = app.page
    width = lambda: page.evaluate("document.documentElement.scrollWidth")  # noqa: E731
    assert width() <= SCREEN["width"]
    blocks = [row["name"] for row in model["layers"] if row["heading"]]
    # a long model starts folded: one column per block, the whole graph on the screen
    expect(page.locator("[data-testid=graph] .g-block.collapsed")).to_have_count(len(blocks))
    folded = page.get_by_test_id("graph").bounding_box()
    assert folded["y"] + folded["height"] <= SCREEN["height"]
    page.screenshot(path=str(artifacts / "overview-resnet-folded-1280.png"))
    page.get_by_test_id("graph-collapse").click()
    expect(page.locator("[data-testid=graph] .g-block.collapsed")).to_have_count(0)
    page.wait_for_function(EDGES, arg=30)
    opened = page.get_by_test_id("graph").bounding_box()
    assert opened["height"] > folded["height"]
    assert width() <= SCREEN["width"]  # longer, never wider: the page scrolls down
    # the identity shortcut of a block goes from the block before to the add
    shortcut = page.locator(
        "[data-testid=graph] path[data-from='stage1_0.add'][data-to='stage1_1.add']"
    )
    expect(shortcut).to_have_count(1)
    page.screenshot(path=str(artifacts / "overview-resnet-1280.png"), full_page=True)
    # the layer index stays at the top and opens a folded block of the details
    index = page.get_by_test_id("layer-index")
    details = page.get_by_test_id("layer-stage3_1")
    assert details.get_attribute("open") is None
    index.locator("[data-layer=stage3_1]").click()
    expect(details).to_have_attribute("open", "")
    page.wait_for_timeout(200)
    assert page.evaluate("window.scrollY") > SCREEN["height"]
    assert index.bounding_box()["y"] == 0
    assert 0 <= details.bounding_box()["y"] < SCREEN["height"]
    assert app.problems == []
    context.close()


def _pad_png(page):
    return page.evaluate(
        "document.querySelector('[data-testid=draw-canvas]').toDataURL('image/png').split(',')[1]"
    )


def _window_box(page, locator):
    """The window's box in the values of its map: (top, left, rows, cols) from its place."""
    return page.evaluate(
        """(node) => {
          const frame = node.parentElement.getBoundingClientRect();
          const box = node.getBoundingClientRect();
          const canvas = node.parentElement.querySelector('canvas');
          const [n_H, n_W] = [canvas.height, canvas.width];
          return [(box.top - frame.top) / frame.height * n_H,
                  (box.left - frame.left) / frame.width * n_W,
                  box.height / frame.height * n_H, box.width / frame.width * n_W];
        }""",
        locator.element_handle(),
    )


def _check_window(page, window, top, left, f):
    assert int(window.get_attribute("data-top")) == top
    assert int(window.get_attribute("data-left")) == left
    assert int(window.get_attribute("data-rows")) == f
    assert int(window.get_attribute("data-cols")) == f
    drawn = _window_box(page, window)
    assert drawn == pytest.approx([top, left, f, f], abs=0.35), drawn


@pytest.mark.parametrize(
    ("layer", "source", "f", "s", "p", "position"),
    [
        ("conv1", "input", 5, 1, 2, [1, 3, 2]),  # pad 2: the window starts in the padding
        ("conv2", "pool1", 5, 1, 0, [4, 2, 7]),
        ("pool1", "relu1", 2, 2, 0, [5, 9, 1]),  # drawn in the column of conv1 +ReLU
    ],
)
def test_a_picked_value_shows_its_window_and_filter(
    chromium, servers, artifacts, layer, source, f, s, p, position
):
    """The window of output (i, j) starts at (i*s - p, j*s - p) of the layer before."""
    server = servers("default")  # LeNet-5
    context, app = open_page(chromium, server.url)
    page = app.page
    app.draw([[(0.3, 0.2), (0.7, 0.2), (0.45, 0.85)]])
    i, j, c = position
    # in the overview: a click on the layer's thumbnail of channel c, at (i, j); a thumbnail
    # is about one screen pixel a value, so the mouse may land on a neighbour: the window is
    # checked for the value the page picked
    thumb = page.locator(f"[data-testid=graph] canvas.g-thumb[data-picks='{layer}']").nth(c)
    box = thumb.bounding_box()
    n_H, n_W = int(thumb.get_attribute("height")), int(thumb.get_attribute("width"))
    x, y = (j + 0.5) * box["width"] / n_W, (i + 0.5) * box["height"] / n_H
    thumb.click(position={"x": x, "y": y})
    panel = page.get_by_test_id("formula-panel")
    expect(panel).to_have_attribute("data-kind", re.compile(r"."))
    expect(panel).to_have_attribute("data-position", re.compile(rf"^\d+,\d+,{c}$"))
    picked = [int(n) for n in panel.get_attribute("data-position").split(",")]
    assert abs(picked[0] - i) <= 1
    assert abs(picked[1] - j) <= 1
    i, j, _ = position = picked
    top, left = i * s - p, j * s - p
    column = page.get_by_test_id("graph").locator(f".g-col[data-shown='{_shown(source)}']")
    windows = column.locator(".g-window")
    conv = layer.startswith("conv")
    expect(windows).to_have_count(windows.count() if not conv else column.locator("canvas").count())
    assert windows.count() >= 1
    for k in range(windows.count()):
        _check_window(page, windows.nth(k), top, left, f)
    if not conv:
        expect(windows).to_have_attribute("data-channel", str(c))
    else:
        filter_view = page.get_by_test_id("graph-filter")
        expect(filter_view).to_have_attribute("data-filter", str(c))
        n_C_prev = {"conv1": 1, "conv2": 6}[layer]
        expect(filter_view.locator("canvas")).to_have_count(n_C_prev)
    # in the details: the same window on the maps of the layer before (the input has none)
    if source != "input":
        detail = page.get_by_test_id(f"layer-{source}").locator(".map-window")
        expect(detail).to_have_count(6 if conv else 1)
        _check_window(page, detail.first, top, left, f)
    answer = api(
        server.url,
        "/api/explain",
        {"image": {"png": _pad_png(page)}, "layer": layer, "position": position},
    )
    assert [answer["rows"][0], answer["cols"][0]] == [top, left]
    page.screenshot(path=str(artifacts / f"window-{layer}-1280.png"))
    assert app.problems == []
    context.close()


def test_the_keyboard_picks_values_from_the_overview(chromium, servers):
    """Tab reaches a column's thumbnails; Enter picks the first value, the arrows the next ones
    over, Page Up / Page Down the channel; each column is one Tab stop (a roving tabindex)."""
    server = servers("default")  # LeNet-5
    context, app = open_page(chromium, server.url)
    page = app.page
    app.draw([[(0.3, 0.2), (0.7, 0.2), (0.45, 0.85)]])
    thumbs = page.locator("[data-testid=graph] canvas.g-thumb[data-picks='conv2']")
    expect(thumbs.first).to_have_attribute("tabindex", "0")
    expect(thumbs.nth(3)).to_have_attribute("tabindex", "-1")
    expect(thumbs.nth(3)).to_have_attribute("role", "button")
    expect(thumbs.nth(3)).to_have_attribute(
        "aria-label", re.compile(r"^conv2, channel 3: .*Enter.*Page Down")
    )
    thumbs.nth(3).focus()
    panel = page.get_by_test_id("formula-panel")
    for key, position in [
        ("Enter", "0,0,3"),
        ("ArrowDown", "1,0,3"),
        ("ArrowRight", "1,1,3"),
        ("ArrowUp", "0,1,3"),
        ("ArrowUp", "0,1,3"),  # the edge holds
        ("PageDown", "0,1,4"),  # the same row and column, one channel on
        ("PageUp", "0,1,3"),
    ]:
        page.keyboard.press(key)
        expect(panel).to_have_attribute("data-position", position)
    expect(panel).to_have_attribute("data-layer", "conv2")
    expect(thumbs.nth(3)).to_have_attribute("tabindex", "0")  # the column's Tab stop roved here
    assert (
        page.evaluate(
            "() => document.querySelectorAll(\"canvas.g-thumb[data-picks='conv2'][tabindex='0']\")"
            ".length"
        )
        == 1
    )
    page.keyboard.press("PageDown")  # the focus and the pick move to channel 4
    # Tab leaves the column: past the next column's name, to its thumbnails' one Tab stop
    presses = []
    while len(presses) < 5:
        page.keyboard.press("Tab")
        presses.append(page.evaluate("() => document.activeElement.dataset.picks ?? null"))
        if presses[-1] is not None:
            break
    focused = presses[-1]
    assert focused not in (None, "conv2"), presses
    assert len(presses) == 2, presses  # the name's button, then the thumbnails
    page.keyboard.press(" ")
    expect(panel).to_have_attribute("data-layer", focused)
    expect(panel).to_have_attribute("data-position", re.compile(r"^0(,0,0)?$"))
    assert app.problems == []
    context.close()


def _shown(layer):
    """The row whose maps LeNet-5's overview column shows for ``layer``."""
    return {"conv1": "relu1", "conv2": "relu2", "pool2": "pool2"}.get(layer, layer)


# A 3 and a 7 as a hand draws them, in a unit box: each a list of strokes.
THREE = [
    [(0.15, 0.12), (0.5, 0.0), (0.85, 0.12), (0.85, 0.35), (0.45, 0.5)],
    [(0.45, 0.5), (0.85, 0.62), (0.9, 0.85), (0.5, 1.0), (0.12, 0.88)],
]
SEVEN = [[(0.1, 0.0), (0.9, 0.0), (0.55, 0.5), (0.4, 1.0)]]
# (left, top, size) on the pad: middle, small in a corner, low right, large
PLACES = [(0.3, 0.2, 0.6), (0.05, 0.05, 0.3), (0.55, 0.5, 0.35), (0.12, 0.08, 0.8)]


@pytest.mark.parametrize(("digit", "strokes"), [("3", THREE), ("7", SEVEN)])
def test_the_default_model_reads_drawn_digits(chromium, servers, artifacts, digit, strokes):
    """Drawn with the mouse in several sizes and places; centred as predict centres."""
    server = servers("default")
    context, app = open_page(chromium, server.url)
    page = app.page
    expect(page.locator("#model-title")).to_contain_text("lenet5 on MNIST")
    for left, top, size in PLACES:
        page.get_by_test_id("clear").click()
        app.settle()
        app.draw([[(left + x * size, top + y * size) for x, y in stroke] for stroke in strokes])
        expect(page.get_by_test_id("prediction")).to_have_text(digit)
    page.screenshot(path=str(artifacts / f"drawn-{digit}-1280.png"))
    assert app.problems == []
    context.close()


@pytest.mark.parametrize("name", ["default", "googlenet_small"])
def test_a_phone_screen_scrolls_down_only(chromium, servers, artifacts, name):
    server = servers(name)
    context, app = open_page(chromium, server.url, PHONE)
    page = app.page
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    app.draw([[(0.5, 0.15), (0.5, 0.85)]])
    page.screenshot(path=str(artifacts / f"page-{name}-390.png"), full_page=True)
    assert app.problems == []
    context.close()


def test_live_training_says_what_it_trains_and_draws_steps(chromium, servers):
    server = servers("default")
    plan = api(server.url, "/api/model")["live_training"]
    context, app = open_page(chromium, server.url)
    page = app.page
    words = page.get_by_test_id("train-plan")
    expect(words).to_have_attribute("data-model", plan["model"])
    expect(words).to_contain_text(f"{plan['model']} on {plan['dataset']}")
    if not plan["same_as_served"]:  # no MNIST on this machine: it says so
        expect(words).to_contain_text("not the served model")
    expect(page.get_by_test_id("curve-why")).to_contain_text("label smoothing")
    # the card spans the row of cards: no empty column beside it
    card = page.locator("#training-card").bounding_box()
    cards = page.locator(".cards").bounding_box()
    assert card["width"] >= cards["width"] - 1
    page.get_by_test_id("train-start").click()
    curve = page.get_by_test_id("loss-curve")
    # the step curve moves within the first epoch
    page.wait_for_function(
        "Number(document.querySelector('[data-testid=loss-curve]').dataset.steps) >= 3",
        timeout=30_000,
    )
    assert curve.get_attribute("data-points") == "0" or plan["model"] == "digits_cnn"
    expect(page.get_by_test_id("train-status")).to_contain_text("img/s")
    page.get_by_test_id("train-stop").click()
    expect(page.get_by_test_id("train-status")).to_have_attribute(
        "data-state", "stopped", timeout=60_000
    )
    assert app.problems == []
    context.close()


def test_a_strided_convolution_outlines_its_window_in_the_details(chromium, servers):
    """ResNet-20's stage2_0.main.conv1: 3x3, stride 2, padding 1, reading stage1_2.add."""
    server = servers("resnet")
    context, app = open_page(chromium, server.url)
    page = app.page
    page.get_by_test_id("layer-index").locator("[data-layer=stage2_0]").click()
    canvas = page.get_by_test_id("layer-stage2_0.main.conv1").locator("canvas.activation").nth(5)
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    i, j = 7, 0  # 16 x 16 maps drawn 4 screen pixels a value: the mouse lands where it aims
    canvas.click(position={"x": (j + 0.5) * box["width"] / 16, "y": (i + 0.5) * box["height"] / 16})
    expect(page.get_by_test_id("formula-panel")).to_have_attribute("data-position", f"{i},{j},5")
    windows = page.get_by_test_id("layer-stage1_2.add").locator(".map-window")
    expect(windows).to_have_count(16)  # every input channel
    for k in (0, 15):
        _check_window(page, windows.nth(k), 2 * i - 1, 2 * j - 1, 3)
    assert app.problems == []
    context.close()
