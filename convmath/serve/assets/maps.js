// One row of heat maps: every channel of a layer's output (or of dJ/dA), all
// on one colour scale whose range the legend states. Vectors are one strip.

import { extent } from "./arrays.js";
import { append, clear, el } from "./dom.js";
import { fmt } from "./format.js";
import { gradientCss, paint, scaleRange, zoomFor } from "./heatmap.js";
import { t } from "./i18n.js";

export function legend(kind, lo, hi) {
  const mid = kind === "diverging" ? el("span", { class: "legend-mid" }, "0") : null;
  return el(
    "span",
    { class: "legend", title: t("maps.scale", { lo: fmt(lo), hi: fmt(hi) }) },
    el("span", { class: "legend-lo" }, fmt(lo)),
    el("span", { class: "legend-bar", style: `background: ${gradientCss(kind)}` }, mid),
    el("span", { class: "legend-hi" }, fmt(hi)),
  );
}

export class MapGrid {
  // kind: "sequential" | "diverging"; onPick(position) makes the maps clickable.
  constructor({ kind = "sequential", label = "", kindName = "map", onPick = null } = {}) {
    this.kind = kind;
    this.onPick = onPick;
    this.kindName = kindName;
    this.array = null;
    this.cells = [];
    this.marker = null;
    this.legendSlot = el("span", { class: "legend-slot" });
    this.count = el("span", { class: "map-count" });
    // Maps nobody clicks still scroll when wide: the keyboard reaches them too.
    this.grid = el("div", {
      class: "map-grid",
      tabindex: onPick ? null : "0",
      role: onPick ? null : "group",
      "aria-label": onPick ? null : t(`maps.kind.${kindName}`),
    });
    this.root = el(
      "div",
      { class: `map-row map-row-${kind}`, dataset: { maps: kindName } },
      el("div", { class: "map-row-head" }, el("span", { class: "map-label" }, label), this.count, this.legendSlot),
      this.grid,
    );
  }

  clear() {
    this.array = null;
    this.cells = [];
    clear(this.grid);
    clear(this.legendSlot);
    this.count.textContent = "";
  }

  update(array) {
    if (!array) {
      this.clear();
      return;
    }
    const vector = array.shape.length === 1;
    const n_C = vector ? 1 : array.shape.length >= 3 ? array.shape[2] : 1;
    const sameShape = this.array && this.array.shape.join() === array.shape.join();
    this.array = array;
    if (!sameShape) this.build(vector, n_C);
    const [min, max] = extent(array.data);
    const [lo, hi] = scaleRange(this.kind, min, max);
    this.cells.forEach((canvas, c) => paint(canvas, array, { c, kind: this.kind, lo, hi }));
    clear(this.legendSlot, legend(this.kind, lo, hi));
    this.placeMarker();
  }

  build(vector, n_C) {
    clear(this.grid);
    this.cells = [];
    const shape = this.array.shape;
    this.grid.classList.toggle("map-grid-vector", vector);
    if (vector) {
      const n = shape[0];
      const cell = Math.min(24, 640 / n); // at most 640 px: a long vector never widens the page
      this.count.textContent = t("maps.values", { n });
      const frame = this.cellFrame(0, `width: ${n * cell}px; height: 20px`);
      this.grid.append(el("div", { class: "map-cell map-cell-strip" }, frame));
      return;
    }
    const [n_H, n_W] = shape;
    const zoom = zoomFor(Math.max(n_H, n_W));
    this.count.textContent = t("maps.channels", { n: n_C, h: n_H, w: n_W });
    for (let c = 0; c < n_C; c++) {
      const frame = this.cellFrame(c, `width: ${n_W * zoom}px; height: ${n_H * zoom}px`);
      this.grid.append(el("figure", { class: "map-cell" }, frame, el("figcaption", { translate: "no" }, `c=${c}`)));
    }
  }

  cellFrame(c, style) {
    const canvas = el("canvas", {
      class: `map ${this.kindName}`,
      style,
      dataset: { channel: c },
      role: this.onPick ? "button" : "img",
      "aria-label": t(this.onPick ? "maps.cellPick" : "maps.cell", { kind: t(`maps.kind.${this.kindName}`), c }),
    });
    if (this.onPick) canvas.classList.add("pickable");
    canvas.addEventListener("pointermove", (event) => {
      const position = this.positionAt(canvas, c, event);
      if (position) canvas.title = `[${position.join(", ")}] = ${fmt(this.valueAt(position))}`;
    });
    if (this.onPick) {
      canvas.tabIndex = 0;
      canvas.addEventListener("click", (event) => {
        const position = this.positionAt(canvas, c, event);
        if (position) this.onPick(position);
      });
      canvas.addEventListener("keydown", (event) => this.key(event, c));
    }
    this.cells.push(canvas);
    // The frame holds the canvas and the marker, sized exactly as the canvas.
    return el("span", { class: "map-frame" }, canvas);
  }

  positionAt(canvas, c, event) {
    if (!this.array) return null;
    const box = canvas.getBoundingClientRect();
    const x = (event.clientX - box.left) / box.width;
    const y = (event.clientY - box.top) / box.height;
    if (!(x >= 0 && x < 1 && y >= 0 && y < 1)) return null;
    const { shape } = this.array;
    if (shape.length === 1) return [Math.floor(x * shape[0])];
    const position = [Math.floor(y * shape[0]), Math.floor(x * shape[1])];
    return shape.length >= 3 ? [...position, c] : position;
  }

  // The keyboard opens values too: Enter the selected (or first) one, the
  // arrow keys the next one over.
  key(event, c) {
    const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    if (!this.array || !(event.key in moves || event.key === "Enter" || event.key === " ")) return;
    event.preventDefault();
    const { shape } = this.array;
    if (shape.length === 1) {
      const k = this.selected?.[0] ?? 0;
      const step = event.key in moves ? moves[event.key][0] + moves[event.key][1] : 0;
      this.onPick([Math.min(shape[0] - 1, Math.max(0, k + step))]);
      return;
    }
    const here = this.selected && (this.selected[2] ?? 0) === c ? this.selected : [0, 0, c];
    const [di, dj] = moves[event.key] ?? [0, 0];
    const i = Math.min(shape[0] - 1, Math.max(0, here[0] + di));
    const j = Math.min(shape[1] - 1, Math.max(0, here[1] + dj));
    this.onPick(shape.length >= 3 ? [i, j, c] : [i, j]);
  }

  valueAt(position) {
    const { shape, data } = this.array;
    if (shape.length === 1) return data[position[0]];
    const n_C = shape.length >= 3 ? shape[2] : 1;
    return data[(position[0] * shape[1] + position[1]) * n_C + (position[2] ?? 0)];
  }

  // Outlines the value the formula panel explains (null: none).
  select(position) {
    this.selected = position;
    this.placeMarker();
  }

  // Outlines the window rows x cols (of the unpadded map: it may reach past
  // its edge into the zero padding) on the given channels (null: none).
  showWindow(spec) {
    this.windowSpec = spec;
    this.placeMarker();
  }

  placeWindows() {
    for (const mark of this.windows ?? []) mark.remove();
    this.windows = [];
    const spec = this.windowSpec;
    if (!spec || !this.array || this.array.shape.length !== 3) return;
    const [n_H, n_W] = this.array.shape;
    const { rows, cols, channels } = spec;
    for (const c of channels) {
      const canvas = this.cells[c];
      if (!canvas) continue;
      const mark = el("span", {
        class: "map-window",
        dataset: { top: rows[0], left: cols[0], rows: rows.length, cols: cols.length, channel: c },
        style:
          `left: ${(100 * cols[0]) / n_W}%; top: ${(100 * rows[0]) / n_H}%;` +
          ` width: ${(100 * cols.length) / n_W}%; height: ${(100 * rows.length) / n_H}%`,
      });
      append(canvas.parentElement, mark);
      this.windows.push(mark);
    }
  }

  placeMarker() {
    this.placeWindows();
    this.marker?.remove();
    this.marker = null;
    const position = this.selected;
    if (!position || !this.array) return;
    const { shape } = this.array;
    const vector = shape.length === 1;
    const canvas = this.cells[vector ? 0 : position[2] ?? 0];
    if (!canvas) return;
    const [rows, cols] = vector ? [1, shape[0]] : [shape[0], shape[1]];
    const [i, j] = vector ? [0, position[0]] : position;
    this.marker = el("span", {
      class: "map-marker",
      style: `left: ${(100 * j) / cols}%; top: ${(100 * i) / rows}%; width: ${100 / cols}%; height: ${100 / rows}%`,
    });
    append(canvas.parentElement, this.marker);
  }
}
