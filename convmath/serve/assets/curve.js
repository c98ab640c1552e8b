// The training curves as inline SVG, against epochs (fractions of one while
// the first runs): the training loss every few steps (as trained: with label
// smoothing, on augmented images), the train and dev loss of each finished
// epoch on the left axis, and the dev accuracy (0 to 1) on the right.

import { STRINGS } from "./i18n.js";

const NS = "http://www.w3.org/2000/svg";
const WIDTH = 420;
const HEIGHT = 220;
const PAD = { left: 46, right: 40, top: 14, bottom: 30 };

function svg(tag, attributes = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

export const SERIES = [
  { key: "train_loss", label: "curveTrainLoss", axis: "loss", class: "series-train" },
  { key: "dev_loss", label: "curveDevLoss", axis: "loss", class: "series-dev" },
  { key: "dev_accuracy", label: "curveDevAccuracy", axis: "accuracy", class: "series-accuracy" },
];

// history: the finished epochs' rows; points: {epoch (fractional), train_loss}
// every few steps; epochs: the run's length (the axis stops there).
export function drawCurve(root, history, epochs, points = []) {
  root.replaceChildren();
  root.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
  root.dataset.points = String(history.length);
  root.dataset.steps = String(points.length);
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  // the axis spans the epochs begun so far (the run's first epoch fills the plot while it runs)
  const reached = Math.max(history.length ? history[history.length - 1].epoch : 0, points.length ? points[points.length - 1].epoch : 0);
  const lastEpoch = Math.max(1, Math.min(epochs || Infinity, Math.ceil(reached - 1e-9)));
  const losses = [...history.flatMap((h) => [h.train_loss, h.dev_loss]), ...points.map((p) => p.train_loss)].filter(
    Number.isFinite,
  );
  const maxLoss = losses.length ? Math.max(...losses) * 1.05 : 1;
  // epoch e ends at e: the axis runs from 0 (no step yet) to the last epoch
  const x = (epoch) => PAD.left + (epoch / lastEpoch) * plotW;
  const y = (value, axis) => PAD.top + plotH * (1 - (axis === "accuracy" ? value : value / maxLoss));

  root.append(svg("rect", { class: "plot-area", x: PAD.left, y: PAD.top, width: plotW, height: plotH }));
  for (let k = 0; k <= 4; k++) {
    const yy = PAD.top + (plotH * k) / 4;
    root.append(svg("line", { class: "grid", x1: PAD.left, x2: PAD.left + plotW, y1: yy, y2: yy }));
    const loss = svg("text", { class: "tick", x: PAD.left - 6, y: yy + 4, "text-anchor": "end" }, (maxLoss * (1 - k / 4)).toPrecision(2));
    const acc = svg("text", { class: "tick", x: PAD.left + plotW + 6, y: yy + 4 }, (1 - k / 4).toFixed(2));
    root.append(loss, acc);
  }
  const ticks = lastEpoch === 1 ? 4 : Math.min(lastEpoch, 10);
  for (let k = 0; k <= ticks; k++) {
    const epoch = lastEpoch === 1 ? k / ticks : Math.round((k * lastEpoch) / ticks);
    root.append(svg("text", { class: "tick", x: x(epoch), y: HEIGHT - PAD.bottom + 16, "text-anchor": "middle" }, epoch));
  }
  root.append(svg("text", { class: "axis-label", x: PAD.left + plotW / 2, y: HEIGHT - 2, "text-anchor": "middle" }, STRINGS.epochAxis));
  root.append(svg("text", { class: "axis-label", x: 10, y: PAD.top + plotH / 2, transform: `rotate(-90 10 ${PAD.top + plotH / 2})`, "text-anchor": "middle" }, STRINGS.lossAxis));

  const steps = points.filter((p) => Number.isFinite(p.train_loss)).map((p) => `${x(p.epoch).toFixed(1)},${y(p.train_loss, "loss").toFixed(1)}`);
  const stepLine = svg("polyline", { class: "series series-steps", points: steps.join(" ") });
  stepLine.dataset.series = "steps";
  root.append(stepLine);
  for (const series of SERIES) {
    const drawn = history
      .filter((h) => Number.isFinite(h[series.key]))
      .map((h) => `${x(h.epoch).toFixed(1)},${y(h[series.key], series.axis).toFixed(1)}`);
    const line = svg("polyline", { class: `series ${series.class}`, points: drawn.join(" ") });
    line.dataset.series = series.key;
    root.append(line);
    for (const p of drawn) {
      const [cx, cy] = p.split(",");
      root.append(svg("circle", { class: `dot ${series.class}`, cx, cy, r: 2.5 }));
    }
  }
  if (!history.length && !points.length) {
    root.append(svg("text", { class: "empty", x: PAD.left + plotW / 2, y: PAD.top + plotH / 2, "text-anchor": "middle" }, STRINGS.curveEmpty));
  }
}
