// The page of `convmath serve`: wires the input, the views and the API.
// Every input change runs forward, then (in parallel) the open explanation
// and back propagation; only the newest answer of each is ever shown.

import { api, Latest } from "./api.js";
import { decode } from "./arrays.js";
import { BackwardView } from "./backward.js";
import { el } from "./dom.js";
import { DrawingPad } from "./draw.js";
import { renderExplanation, renderHint } from "./explain.js";
import { fmt } from "./format.js";
import { Graph } from "./graph.js";
import { paint } from "./heatmap.js";
import { applyStatic, language, onLanguageChange, setLanguage, STRINGS, t } from "./i18n.js";
import { LayerIndex } from "./layerindex.js";
import { Overview } from "./overview.js";
import { PredictionView } from "./prediction.js";
import { TrainingView } from "./training.js";

const $ = (id) => document.getElementById(id);

// The status line: a message by its key in the strings table (said again in
// the new language when the language changes), or an error as it came.
class Status {
  constructor(node) {
    this.node = node;
    this.said = null; // [key, values] of the message shown
  }

  info(key, values = {}) {
    this.said = [key, values];
    this.node.removeAttribute("data-i18n");
    this.node.textContent = t(key, values);
    this.node.classList.remove("error");
  }

  error(error) {
    this.said = null;
    this.node.removeAttribute("data-i18n");
    this.node.textContent = error?.message ?? String(error);
    this.node.classList.add("error");
  }

  // A request went through: an error shown before is no longer current.
  ok(key = "status.ready", values = {}) {
    if (this.node.classList.contains("error")) this.info(key, values);
  }

  redraw() {
    if (this.said) this.info(...this.said);
  }
}

class App {
  constructor() {
    this.status = new Status($("status"));
    this.model = null;
    this.image = null; // the IMAGE of the API: {png} or {sample}
    this.source = ""; // names the image, for data-source: "sample:3" or "drawing:5"
    this.drawings = 0;
    this.selected = null; // {layer, position} the formula panel explains
    this.forwardRuns = new Latest();
    this.explainRuns = new Latest();
    this.backwardRuns = new Latest();
    this.predicted = 0;

    this.pad = new DrawingPad($("draw-canvas"), { onStroke: () => this.useDrawing() });
    $("clear").addEventListener("click", () => {
      this.pad.clear();
      this.useDrawing();
    });
    this.preview = $("input-preview");
    this.overview = new Overview($("overview"), { onPick: (layer, position) => this.pick(layer, position) });
    this.graph = new Graph($("graph"), {
      onPick: (layer, position) => this.pick(layer, position),
      onOpen: (name) => this.overview.open(name),
    });
    this.graph.onToggle = () => this.collapseButton();
    $("graph-collapse").addEventListener("click", () => {
      this.graph.setAllCollapsed(this.graph.collapsed.size < this.graph.blocks.length);
      this.collapseButton();
    });
    this.index = new LayerIndex($("index-items"), { onOpen: (name) => this.overview.open(name) });
    this.prediction = new PredictionView(
      { big: $("prediction"), caption: $("prediction-caption"), list: $("probabilities") },
      { onPick: (k) => this.pick("softmax", [k]) },
    );
    this.backward = new BackwardView(
      {
        target: $("backward-target"),
        loss: $("backward-loss"),
        lossNote: $("backward-note"),
        dZ: $("backward-dz"),
        filter: $("filter-body"),
        layer: $("filter-layer"),
        index: $("filter-index"),
        rate: $("filter-rate"),
        rule: $("filter-rule"),
      },
      { onChange: () => this.runBackward() },
    );
    this.training = new TrainingView(
      {
        epochs: $("train-epochs"),
        start: $("train-start"),
        pause: $("train-pause"),
        stop: $("train-stop"),
        serve: $("train-serve"),
        status: $("train-status"),
        curve: $("loss-curve"),
        filters: $("train-filters"),
        plan: $("train-plan"),
        why: $("curve-why"),
      },
      { report: (error) => this.status.error(error), onServed: () => this.loadModel(true) },
    );
    this.formulaPanel = $("formula-panel");
    renderHint(this.formulaPanel, t("hint.pick"));
    this.lastForward = null; // the answers shown, drawn again in another language
    this.lastBackward = null;
    this.lastExplain = null;
    const chooser = $("language");
    chooser.value = language();
    chooser.addEventListener("change", () => setLanguage(chooser.value));
    onLanguageChange(() => this.redraw());
    applyStatic();
  }

  // Everything the page wrote, in the language now chosen, from the answers it holds.
  redraw() {
    $("language").value = language();
    this.status.redraw();
    if (!this.model) return;
    this.showTitle();
    this.overview.build(this.model.layers);
    this.graph.build(this.model);
    this.collapseButton();
    this.index.build(this.model.layers);
    this.training.setPlan(this.model.live_training);
    this.backward.setModel(this.model);
    this.loadSamplesFrom(this.samples ?? []);
    this.showCaption();
    if (this.lastForward) this.showForward(this.lastForward.answer, this.lastForward.source);
    if (this.lastBackward) this.showBackward(this.lastBackward.answer, this.lastBackward.source);
    if (this.lastExplain) {
      const { answer, context } = this.lastExplain;
      this.overview.select(context.layer, context.position);
      this.graph.highlight(context.layer, context.position);
      this.showExplanation(answer, context);
    } else {
      renderHint(this.formulaPanel, t("hint.pick"));
    }
    this.training.redraw();
  }

  showTitle() {
    const model = this.model;
    $("model-title").removeAttribute("data-i18n");
    $("model-title").textContent = t("model.title", {
      title: model.title,
      shape: model.input_shape.join(" × "),
      classes: model.classes.length,
    });
    document.querySelector("title").removeAttribute("data-i18n");
    document.title = t("page.titleModel", { title: model.title });
  }

  async start() {
    await this.loadModel(false);
    this.training.refresh();
  }

  // (Re)loads the model and its samples; keeps the current input if any.
  async loadModel(reloaded) {
    try {
      this.model = await api.model();
    } catch (error) {
      this.status.error(error);
      return;
    }
    const model = this.model;
    this.showTitle();
    this.pad.setInputWidth(model.input_shape[1]);
    this.overview.build(model.layers);
    this.graph.build(model);
    this.collapseButton();
    this.index.build(model.layers);
    this.training.classes = model.classes.length;
    this.training.setPlan(model.live_training);
    this.backward.setModel(model);
    this.selected = null;
    this.lastExplain = null;
    renderHint(this.formulaPanel, t("hint.pick"));
    await this.loadSamples();
    if (!this.image) {
      if (this.samples.length) this.useSample(this.samples[0].index);
      else this.useDrawing();
    } else {
      await this.update();
    }
    if (reloaded) this.status.info("status.nowServing", { title: model.title });
  }

  async loadSamples() {
    this.samples = [];
    try {
      this.samples = (await api.samples()).samples ?? [];
    } catch (error) {
      this.status.error(error);
    }
    this.loadSamplesFrom(this.samples);
  }

  loadSamplesFrom(samples) {
    const box = $("samples");
    const pressed = [...box.querySelectorAll("button[aria-pressed=true]")].map((b) => b.dataset.index);
    box.replaceChildren();
    box.previousElementSibling.hidden = !samples.length; // "or a real test image"
    for (const sample of samples) {
      const pixels = decode(sample.pixels);
      const canvas = el("canvas", { class: "thumb", "aria-hidden": "true" });
      paint(canvas, pixels, { kind: "gray", lo: 0, hi: 1, rgb: pixels.shape[2] === 3 });
      box.append(
        el(
          "button",
          {
            type: "button",
            class: "sample",
            dataset: { index: sample.index, label: sample.label },
            "aria-label": t("input.sample", sample),
            "aria-pressed": String(pressed.includes(String(sample.index))),
            title: t("input.sample", sample),
            onclick: () => this.useSample(sample.index),
          },
          canvas,
          el("span", { class: "sample-label" }, sample.label),
        ),
      );
    }
  }

  useSample(index) {
    this.pad.clear();
    for (const button of $("samples").querySelectorAll("button")) {
      button.setAttribute("aria-pressed", String(Number(button.dataset.index) === index));
    }
    this.caption = { sample: index };
    this.showCaption();
    this.setImage({ sample: index }, `sample:${index}`);
  }

  showCaption() {
    const caption = $("input-caption");
    if (!this.caption) return;
    caption.removeAttribute("data-i18n");
    if (this.caption.drawing) {
      caption.textContent = t("input.drawing");
      return;
    }
    const index = this.caption.sample;
    const sample = (this.samples ?? []).find((s) => s.index === index);
    caption.textContent = t("input.sample", { index, label: sample ? sample.label : "?" });
  }

  useDrawing() {
    for (const button of $("samples").querySelectorAll("button")) button.setAttribute("aria-pressed", "false");
    this.caption = { drawing: true };
    this.showCaption();
    this.drawings += 1;
    this.setImage({ png: this.pad.png() }, `drawing:${this.drawings}`);
  }

  setImage(image, source) {
    this.image = image;
    this.source = source;
    // The input asked for; views carry data-source once they show it, so a
    // reader (or a test) can tell when the page has caught up.
    document.body.dataset.input = source;
    this.update();
  }

  async update() {
    if (!this.model) return;
    const image = this.image;
    const source = this.source;
    let answer;
    try {
      answer = await this.forwardRuns.run(() => api.forward(image));
    } catch (error) {
      this.status.error(error);
      return;
    }
    if (!answer || this.image !== image) return; // a newer input is on its way
    this.lastForward = { answer, source };
    this.showForward(answer, source);
    this.predicted = Math.max(0, this.model.classes.indexOf(answer.prediction));
    const key = source.startsWith("sample") ? "status.sampleSays" : "status.drawingSays";
    this.status.info(key, { prediction: answer.prediction });
    this.runExplain();
    this.runBackward();
  }

  showForward(answer, source) {
    const input = decode(answer.input);
    paint(this.preview, input, { kind: "gray", lo: 0, hi: 1, rgb: input.shape[2] === 3 });
    this.preview.dataset.source = source;
    this.prediction.show(answer, this.model.classes, source);
    const maps = Object.fromEntries(Object.entries(answer.maps ?? {}).map(([name, value]) => [name, decode(value)]));
    this.overview.showMaps(maps);
    this.graph.showMaps(maps, input);
    this.graph.showPrediction(answer, this.model.classes);
  }

  showBackward(answer, source) {
    this.backward.show(answer, source);
    this.overview.showGradients(answer.gradients);
  }

  pick(layer, position) {
    this.selected = { layer, position };
    this.overview.select(layer, position);
    this.overview.showWindow(layer, null);
    this.graph.highlight(layer, position);
    this.runExplain();
  }

  collapseButton() {
    const button = $("graph-collapse");
    const blocks = this.graph.blocks?.length ?? 0;
    button.hidden = blocks === 0;
    button.textContent = this.graph.collapsed.size < blocks ? STRINGS.collapseBlocks : STRINGS.expandBlocks;
  }

  async runExplain() {
    if (!this.selected || !this.image) return;
    const { layer, position } = this.selected;
    const image = this.image;
    const source = this.source;
    try {
      const answer = await this.explainRuns.run(() => api.explain(image, layer, position));
      if (!answer || this.image !== image || this.selected?.layer !== layer) return;
      const context = { layer, position, source, classes: this.model.classes };
      this.lastExplain = { answer, context };
      this.showExplanation(answer, context);
      this.status.ok("status.explained", { layer, position: position.join(", ") });
    } catch (error) {
      this.status.error(error);
    }
  }

  showExplanation(answer, context) {
    const { layer, position } = context;
    renderExplanation(this.formulaPanel, answer, context);
    if (layer !== "softmax") {
      this.overview.showWindow(layer, answer);
      this.graph.highlight(layer, position, decodedFilter(answer));
    }
  }

  async runBackward() {
    if (!this.image || !this.model) return;
    const image = this.image;
    const source = this.source;
    const { target, options } = this.backward.request(this.predicted);
    try {
      const answer = await this.backwardRuns.run(() => api.backward(image, target, options));
      if (!answer || this.image !== image) return;
      this.lastBackward = { answer, source };
      this.showBackward(answer, source);
      this.status.ok("status.backward", { name: this.model.classes[answer.target], loss: fmt(answer.loss) });
    } catch (error) {
      this.status.error(error);
    }
  }
}

// The explanation with its filter as an array the graph can paint.
function decodedFilter(answer) {
  return answer.filter ? { ...answer, filter: decode(answer.filter) } : answer;
}

// A last guard: whatever slips through is shown, not left in the console.
window.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  document.getElementById("status").textContent = String(event.reason?.message ?? event.reason);
  document.getElementById("status").classList.add("error");
});

new App().start();
