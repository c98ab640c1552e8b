// The training curves as inline SVG: train and dev loss per epoch on the
// left axis, dev accuracy (0 to 1) on the right.

import { t } from "./i18n.js";

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
  { key: "train_loss", label: "training.trainLoss", axis: "loss", class: "series-train" },
  { key: "dev_loss", label: "training.devLoss", axis: "loss", class: "series-dev" },
  { key: "dev_accuracy", label: "training.devAccuracy", axis: "accuracy", class: "series-accuracy" },
];

export function drawCurve(root, history, epochs) {
  root.replaceChildren();
  root.setAttribute("viewBox", `0 0 ${WIDTH} ${HEIGHT}`);
  root.dataset.points = String(history.length);
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const lastEpoch = Math.max(epochs || 0, history.length ? history[history.length - 1].epoch : 0, 1);
  const losses = history.flatMap((h) => [h.train_loss, h.dev_loss]).filter(Number.isFinite);
  const maxLoss = losses.length ? Math.max(...losses) * 1.05 : 1;
  const x = (epoch) => PAD.left + (lastEpoch > 1 ? ((epoch - 1) / (lastEpoch - 1)) * plotW : plotW / 2);
  const y = (value, axis) => PAD.top + plotH * (1 - (axis === "accuracy" ? value : value / maxLoss));

  root.append(svg("rect", { class: "plot-area", x: PAD.left, y: PAD.top, width: plotW, height: plotH }));
  for (let k = 0; k <= 4; k++) {
    const yy = PAD.top + (plotH * k) / 4;
    root.append(svg("line", { class: "grid", x1: PAD.left, x2: PAD.left + plotW, y1: yy, y2: yy }));
    const loss = svg("text", { class: "tick", x: PAD.left - 6, y: yy + 4, "text-anchor": "end" }, (maxLoss * (1 - k / 4)).toPrecision(2));
    const acc = svg("text", { class: "tick", x: PAD.left + plotW + 6, y: yy + 4 }, (1 - k / 4).toFixed(2));
    root.append(loss, acc);
  }
  const ticks = Math.min(lastEpoch, 10);
  for (let k = 0; k < ticks; k++) {
    const epoch = Math.round(1 + (k * (lastEpoch - 1)) / Math.max(1, ticks - 1));
    root.append(svg("text", { class: "tick", x: x(epoch), y: HEIGHT - PAD.bottom + 16, "text-anchor": "middle" }, epoch));
  }
  root.append(svg("text", { class: "axis-label", x: PAD.left + plotW / 2, y: HEIGHT - 2, "text-anchor": "middle" }, t("training.axisEpoch")));
  root.append(svg("text", { class: "axis-label", x: 10, y: PAD.top + plotH / 2, transform: `rotate(-90 10 ${PAD.top + plotH / 2})`, "text-anchor": "middle" }, t("training.axisLoss")));

  for (const series of SERIES) {
    const points = history
      .filter((h) => Number.isFinite(h[series.key]))
      .map((h) => `${x(h.epoch).toFixed(1)},${y(h[series.key], series.axis).toFixed(1)}`);
    const line = svg("polyline", { class: `series ${series.class}`, points: points.join(" ") });
    line.dataset.series = series.key;
    root.append(line);
    for (const p of points) {
      const [cx, cy] = p.split(",");
      root.append(svg("circle", { class: `dot ${series.class}`, cx, cy, r: 2.5 }));
    }
  }
  if (!history.length) {
    root.append(svg("text", { class: "empty", x: PAD.left + plotW / 2, y: PAD.top + plotH / 2, "text-anchor": "middle" }, t("training.empty")));
  }
}
