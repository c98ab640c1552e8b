"""The page of ``convmath serve`` in a real browser, against a real server.

Chromium (the system's, never a downloaded one) drives the page as a learner
would: draw, pick a test image, click a value, pick a target class, train.
Every number the page shows is compared with what the JSON API answers for
the same input, and the browser's console must stay free of errors.
"""

import base64
import json
import math
import re
import struct
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("playwright.sync_api")

from browser import Browser, skip_without_chromium
from loopback import open_local
from playwright.sync_api import expect

skip_without_chromium()

pytestmark = pytest.mark.slow

# The pixels of a (small) canvas of the page, as nested [row][column][r, g, b].
PIXELS = """(testid) => {
  const canvas = document.querySelector(`[data-testid=${testid}]`);
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  const rows = [];
  for (let i = 0; i < canvas.height; i++) {
    const row = [];
    for (let j = 0; j < canvas.width; j++) {
      const k = 4 * (i * canvas.width + j);
      row.push([data[k], data[k + 1], data[k + 2]]);
    }
    rows.push(row);
  }
  return rows;
}"""
# The brightest colour value of a canvas: 0 when it is all black.
BRIGHTEST = """(testid) => {
  const canvas = document.querySelector(`[data-testid=${testid}]`);
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let most = 0;
  for (let k = 0; k < data.length; k += 4) most = Math.max(most, data[k], data[k + 1], data[k + 2]);
  return most;
}"""


def api(served, path, body=None):
    """The JSON answer of one API call (a 4xx fails the test)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(served.url + path, data=data)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with open_local(request, timeout=30) as response:
        return json.loads(response.read())


def decoded(value):
    """An API array as a flat list of floats and its shape."""
    raw = base64.b64decode(value["base64"])
    count = len(raw) // 4
    return list(struct.unpack(f"<{count}f", raw)), value["shape"]


def close_to(shown: str, value: float) -> bool:
    """A number the page shows (4 significant digits) matches the API's."""
    return math.isclose(float(shown), value, rel_tol=1e-3, abs_tol=1e-6)


@pytest.fixture
def app(chromium, served):
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(15_000)
    browser = Browser(page)
    page.goto(served.url + "/")
    browser.settle()
    yield browser
    context.close()


def test_drawing_updates_the_prediction_and_the_input(app, served):
    page = app.page
    before = page.evaluate(PIXELS, "input-preview")
    app.draw_stroke([(0.5, 0.15), (0.5, 0.5), (0.52, 0.85)])
    # The page shows what the API answers for the very picture on the pad.
    png = page.evaluate(
        "document.querySelector('[data-testid=draw-canvas]').toDataURL('image/png').split(',')[1]"
    )
    answer = api(served, "/api/forward", {"image": {"png": png}})
    expect(page.get_by_test_id("prediction")).to_have_text(answer["prediction"])
    after = page.evaluate(PIXELS, "input-preview")
    assert after != before
    values, shape = decoded(answer["input"])
    assert [len(after), len(after[0])] == shape[:2]
    for i in range(shape[0]):
        for j in range(shape[1]):
            assert abs(after[i][j][0] - 255 * values[i * shape[1] + j]) <= 1.5
    assert app.problems == []


def test_clear_empties_the_pad_and_the_input(app):
    page = app.page
    app.draw_stroke([(0.3, 0.3), (0.7, 0.7)])
    assert page.evaluate(BRIGHTEST, "draw-canvas") == 255
    assert page.evaluate(BRIGHTEST, "input-preview") > 0
    drawn = page.evaluate("document.body.dataset.input")
    page.get_by_test_id("clear").click()
    page.wait_for_function(f"document.body.dataset.input !== {drawn!r}")
    app.settle()
    assert page.evaluate(BRIGHTEST, "draw-canvas") == 0
    assert page.evaluate(BRIGHTEST, "input-preview") == 0
    assert app.problems == []


def test_a_sample_shows_the_prediction_of_the_api(app, served):
    page = app.page
    samples = api(served, "/api/samples")["samples"]
    k = min(5, len(samples) - 1)
    page.get_by_test_id("samples").locator("button").nth(k).click()
    expect(page.get_by_test_id("prediction")).to_have_attribute("data-source", f"sample:{k}")
    answer = api(served, "/api/forward", {"image": {"sample": samples[k]["index"]}})
    expect(page.get_by_test_id("prediction")).to_have_text(answer["prediction"])
    bars = page.get_by_test_id("probabilities").locator("button")
    expect(bars).to_have_count(len(answer["probabilities"]))
    expect(bars.and_(page.locator(".best"))).to_have_attribute("data-class", answer["prediction"])
    assert app.problems == []


def test_every_layer_has_a_panel_with_all_its_channels(app, served):
    page = app.page
    model = api(served, "/api/model")
    assert model["layers"]
    for row in model["layers"]:
        panel = page.get_by_test_id(f"layer-{row['name']}")
        expect(panel).to_have_count(1)
        if row["heading"]:
            continue
        shape = row["output_shape"]
        channels = shape[2] if len(shape) == 3 else 1
        expect(panel.locator("canvas.activation")).to_have_count(channels)
    assert app.problems == []


def test_clicking_a_conv_value_explains_it(app, served):
    page = app.page
    i, j, c = 2, 5, 3
    canvas = page.get_by_test_id("layer-conv1").locator("canvas.activation").nth(c)
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    n_H, n_W = 8, 8  # conv1 of the digits model: 'same' padding keeps 8 x 8
    x, y = (j + 0.5) * box["width"] / n_W, (i + 0.5) * box["height"] / n_H
    canvas.click(position={"x": x, "y": y})
    panel = page.get_by_test_id("formula-panel")
    expect(panel).to_have_attribute("data-position", f"{i},{j},{c}")
    expect(panel).to_have_attribute("data-kind", "conv")
    answer = api(
        served,
        "/api/explain",
        {"image": {"sample": 0}, "layer": "conv1", "position": [i, j, c]},
    )
    value = panel.get_by_test_id("explain-value")
    assert float(value.get_attribute("data-value")) == pytest.approx(answer["value"], rel=1e-6)
    assert close_to(value.inner_text(), answer["value"])
    # The equation typeset by KaTeX, its plain text kept beside it.
    equation = panel.get_by_test_id("explain-equation")
    expect(equation).to_have_attribute("data-equation", answer["equation"])
    expect(equation.locator(".katex")).to_have_count(1)
    assert equation.locator(".katex annotation").text_content() == answer["tex"]
    expect(panel).to_contain_text("products")
    assert app.problems == []


def test_a_backward_target_shows_the_loss_of_the_api(app, served):
    page = app.page
    page.get_by_test_id("backward-target").select_option("3")
    loss = page.get_by_test_id("backward-loss")
    expect(loss).to_have_attribute("data-target", "3")
    answer = api(served, "/api/backward", {"image": {"sample": 0}, "target": 3})
    assert float(loss.get_attribute("data-value")) == pytest.approx(answer["loss"], rel=1e-6)
    assert close_to(loss.inner_text(), answer["loss"])
    # dJ/dA of conv1, all 16 channels, under its maps; the filter step of conv1.
    expect(page.get_by_test_id("layer-conv1").locator("canvas.gradient")).to_have_count(16)
    expect(page.get_by_test_id("filter-update")).to_contain_text("W := W")
    assert app.problems == []


def test_training_draws_the_curve_and_stops(app):
    page = app.page
    page.locator("#train-epochs").fill("100")
    page.get_by_test_id("train-start").click()
    curve = page.get_by_test_id("loss-curve").locator("polyline[data-series=train_loss]")
    expect(curve).to_have_attribute("points", re.compile(r"\d"), timeout=30_000)
    page.get_by_test_id("train-stop").click()
    status = page.get_by_test_id("train-status")
    ended = re.compile(r"^(stopped|finished)$")
    expect(status).to_have_attribute("data-state", ended, timeout=30_000)
    expect(status).to_contain_text("state:")
    assert app.problems == []


# Every text a reader sees, outside formulas, names and numbers: the text of
# visible elements and the labels (aria-label, title) that assistive
# technology reads. [translate=no] marks what is not language: layer names,
# kinds, formulas (KaTeX's output among them).
CHROME_TEXT = """() => {
  const outside = (node) => !node.closest("[translate=no], .katex, script, style");
  const found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const parent = walker.currentNode.parentElement;
    const text = walker.currentNode.textContent.trim();
    if (text && parent && outside(parent) && parent.getClientRects().length) found.push(text);
  }
  for (const node of document.querySelectorAll("[aria-label], [title]")) {
    if (!outside(node)) continue;
    for (const name of ["aria-label", "title"]) {
      if (node.hasAttribute(name)) found.push(node.getAttribute(name));
    }
  }
  found.push(document.title);
  return found;
}"""
# Words that stay as they are in every language: the names of functions and tools.
NOT_ENGLISH = {"convmath", "serve", "explain", "softmax", "ReLU", "exp", "max", "log", "Inception"}
NOT_ENGLISH |= {"dZ", "dW", "db", "dA", "dJ"}  # the article's gradients are symbols


def english_words(texts, allowed):
    """The words of two letters or more in ``texts`` that are neither allowed nor names."""
    words = {word for text in texts for word in re.findall(r"[A-Za-z]{2,}", text)}
    return sorted(words - allowed - NOT_ENGLISH)


def names_of_the_model(model):
    """The model's own words: its title, its layers' names and kinds, its class names, the
    name of its input, and what live training trains (a model, a dataset, an augmentation)."""
    plan = model.get("live_training") or {}
    texts = [model["title"], *model["classes"], model.get("input_name", "input")]
    texts += [str(plan.get(key, "")) for key in ("model", "dataset", "augment")]
    for row in model["layers"]:
        texts += [row["name"], row["kind"]]
    return {word for text in texts for word in re.findall(r"[A-Za-z]{2,}", text)}


def test_formulas_are_typeset_by_katex_in_the_articles_notation(app, served):
    page = app.page
    model = api(served, "/api/model")
    conv1 = page.get_by_test_id("layer-conv1")
    # KaTeX typeset every equation: none fell back to plain text.
    typeset = page.locator(".overview .tex .katex")
    assert typeset.count() >= sum(len(row["equations"]) for row in model["layers"])
    expect(page.locator(".tex-fallback")).to_have_count(0)
    # conv1's maps are Z^[1], before the activation; relu1's are A^[1], after it.
    label = conv1.locator(".map-row-sequential .map-label .katex annotation")
    expect(label).to_have_text("Z^{[1]}")
    relu = page.get_by_test_id("layer-relu1").locator(".map-row-sequential .map-label")
    expect(relu.locator(".katex annotation")).to_have_text("A^{[1]}")
    expect(relu).to_contain_text("activations")
    # The triple sum of the article, the numbers of conv1 filled in.
    sums = conv1.locator(".equations .katex annotation").nth(1).text_content()
    assert sums == model["layers"][0]["equations"][1]
    assert "\\sum_{k=1}^{1}" in sums
    assert app.problems == []


def test_the_language_switch_translates_every_label_and_is_remembered(app, served):
    page = app.page
    model = api(served, "/api/model")
    allowed = names_of_the_model(model)
    assert english_words(page.evaluate(CHROME_TEXT), allowed)  # English to begin with
    page.get_by_test_id("samples").locator("button").nth(2).click()
    app.settle()
    page.get_by_test_id("layer-conv1").locator("canvas.activation").first.click()
    expect(page.get_by_test_id("formula-panel")).to_have_attribute("data-kind", "conv")
    page.get_by_test_id("backward-target").select_option("3")
    expect(page.get_by_test_id("backward-loss")).to_have_attribute("data-target", "3")

    page.get_by_test_id("language").select_option("zh")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.locator("#overview-heading")).to_contain_text("每一个通道")
    expect(page.get_by_test_id("formula-panel")).to_contain_text("乘积")
    # Open every fold a reader may open but explain's own lines, which are English.
    page.evaluate(
        "document.querySelectorAll('details:not(.formula-text)').forEach((d) => (d.open = true))"
    )
    left = english_words(page.evaluate(CHROME_TEXT), allowed)
    assert left == [], f"English left on the Chinese page: {left}"
    # The formulas are typeset whatever the language.
    expect(page.get_by_test_id("explain-equation").locator(".katex")).to_have_count(1)
    assert page.evaluate("localStorage.getItem('convmath.language')") == "zh"

    page.reload()
    app.settle()
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.get_by_test_id("language")).to_have_value("zh")
    expect(page.locator("#prediction-heading")).to_have_text("预测")
    page.get_by_test_id("language").select_option("en")
    expect(page.locator("#prediction-heading")).to_have_text("Prediction")
    assert app.problems == []


def test_a_chinese_browser_gets_the_chinese_page_at_first(chromium, served):
    context = chromium.new_context(locale="zh-CN", viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    browser = Browser(page)
    try:
        page.goto(served.url + "/")
        browser.settle()
        expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
        expect(page.locator("#input-heading")).to_have_text("输入")
        assert browser.problems == []
    finally:
        context.close()


AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
RUN_AXE = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => {
      const where = v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join("; ");
      return `${v.id} (${v.impact}): ${v.help}: ${where}`;
    });
}"""


@pytest.mark.parametrize("language", ["en", "zh"])
def test_axe_finds_no_serious_accessibility_violation(app, language):
    page = app.page
    page.get_by_test_id("language").select_option(language)
    page.get_by_test_id("layer-conv1").locator("canvas.activation").first.click()
    expect(page.get_by_test_id("formula-panel")).to_have_attribute("data-kind", "conv")
    page.get_by_test_id("backward-target").select_option("2")
    expect(page.get_by_test_id("backward-loss")).to_have_attribute("data-target", "2")
    page.add_script_tag(path=str(AXE))  # the test's own copy: the page never loads axe
    violations = page.evaluate(RUN_AXE)
    assert violations == [], "\n".join(violations)
    assert app.problems == []
