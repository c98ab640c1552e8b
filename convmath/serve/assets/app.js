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
import { LayerIndex } from "./layerindex.js";
import { Overview } from "./overview.js";
import { PredictionView } from "./prediction.js";
import { fillStrings, STRINGS } from "./strings.js";
import { TrainingView } from "./training.js";

const $ = (id) => document.getElementById(id);
const HINT = "Click a value of a map (or a probability bar) to see the arithmetic behind it.";

class Status {
  constructor(node) {
    this.node = node;
  }

  info(text) {
    this.node.textContent = text;
    this.node.classList.remove("error");
  }

  error(error) {
    this.node.textContent = error?.message ?? String(error);
    this.node.classList.add("error");
  }

  // A request went through: an error shown before is no longer current.
  ok(text = "Ready.") {
    if (this.node.classList.contains("error")) this.info(text);
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
    renderHint(this.formulaPanel, HINT);
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
    $("model-title").textContent = `${model.title} · input ${model.input_shape.join(" × ")} · ${model.classes.length} classes`;
    document.title = `convmath serve: ${model.title}`;
    this.pad.setInputWidth(model.input_shape[1]);
    this.overview.build(model.layers);
    this.graph.build(model);
    this.collapseButton();
    this.index.build(model.layers);
    this.training.classes = model.classes.length;
    this.training.setPlan(model.live_training);
    this.backward.setModel(model);
    this.selected = null;
    renderHint(this.formulaPanel, HINT);
    await this.loadSamples();
    if (!this.image) {
      if (this.samples.length) this.useSample(this.samples[0].index);
      else this.useDrawing();
    } else {
      await this.update();
    }
    if (reloaded) this.status.info(`Now serving ${model.title}.`);
  }

  async loadSamples() {
    const box = $("samples");
    box.replaceChildren();
    this.samples = [];
    try {
      this.samples = (await api.samples()).samples ?? [];
    } catch (error) {
      this.status.error(error);
      return;
    }
    box.previousElementSibling.hidden = !this.samples.length; // "or a real test image"
    for (const sample of this.samples) {
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
            "aria-label": `test image ${sample.index}, label ${sample.label}`,
            title: `test image ${sample.index}, label ${sample.label}`,
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
    const sample = this.samples.find((s) => s.index === index);
    $("input-caption").textContent = `test image ${index}${sample ? `, label ${sample.label}` : ""}`;
    this.setImage({ sample: index }, `sample:${index}`);
  }

  useDrawing() {
    for (const button of $("samples").querySelectorAll("button")) button.setAttribute("aria-pressed", "false");
    $("input-caption").textContent = "your drawing, as the model sees it";
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
    const input = decode(answer.input);
    paint(this.preview, input, { kind: "gray", lo: 0, hi: 1, rgb: input.shape[2] === 3 });
    this.preview.dataset.source = source;
    this.prediction.show(answer, this.model.classes, source);
    const maps = Object.fromEntries(Object.entries(answer.maps ?? {}).map(([name, value]) => [name, decode(value)]));
    this.overview.showMaps(maps);
    this.graph.showMaps(maps, input);
    this.graph.showPrediction(answer, this.model.classes);
    this.predicted = Math.max(0, this.model.classes.indexOf(answer.prediction));
    this.status.info(`${source.startsWith("sample") ? "Test image" : "Drawing"}: the model says ${answer.prediction}.`);
    this.runExplain();
    this.runBackward();
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
      renderExplanation(this.formulaPanel, answer, { layer, position, source, classes: this.model.classes });
      if (layer !== "softmax") {
        this.overview.showWindow(layer, answer);
        this.graph.highlight(layer, position, decodedFilter(answer));
      }
      this.status.ok(`${layer} at [${position.join(", ")}] explained.`);
    } catch (error) {
      this.status.error(error);
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
      this.backward.show(answer, source);
      this.status.ok(`Back propagation for target class ${this.model.classes[answer.target]}: J = ${fmt(answer.loss)}.`);
      this.overview.showGradients(answer.gradients);
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

fillStrings();
new App().start();
