// The overview: the whole network on one screen, as a graph of layers.
//
// Each column is a layer, its channels as small maps; a CONV and the BN and
// ReLU that follow it share one column (they keep its shape). A residual
// block is its main path above its shortcut, joined by the add; an
// Inception module its branches stacked, joined by the concatenation. The
// connections are the rows' "inputs" of /api/model, drawn in an SVG laid
// over the columns once they are placed. Long models start with their
// blocks collapsed to one column each; a block's title opens it.
//
// A click on a value picks it (as in the details); highlight() outlines the
// window of the previous layer it was computed from, and shows the filter.

import { extent } from "./arrays.js";
import { clear, el } from "./dom.js";
import { fmt, percent } from "./format.js";
import { paint, scaleRange } from "./heatmap.js";
import { STRINGS } from "./i18n.js";

const NS = "http://www.w3.org/2000/svg";
// Rows drawn in the column of the layer before them: they keep its shape.
const FOLLOWERS = new Set(["BatchNorm2D", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Dropout", "Flatten"]);
const COLLAPSE_ROWS = 60; // a model with more rows starts with its blocks collapsed
// How a row drawn in the column before it is named there: "conv1 +BN+ReLU".
const KIND_SHORT = { BatchNorm2D: "BN", ReLU: "ReLU", LeakyReLU: "LReLU", Sigmoid: "σ", Tanh: "tanh", Dropout: "drop", Flatten: "flat" };
const TOP = { thumb: 26, height: 250 }; // a column of the main line: thumbnail size, height budget
const LANE = { thumb: 18, height: 40 }; // a column inside a block's path
const MAX_SCALE = 1.6; // how much a short model's thumbnails may grow to use the line

export class Graph {
  // onPick(layer, position): a value was clicked; onOpen(name): a layer's or block's name was.
  constructor(root, { onPick, onOpen }) {
    this.root = root;
    this.onPick = onPick;
    this.onOpen = onOpen;
    this.collapsed = new Set();
    this.maps = null;
    this.prediction = null;
    this.resize = new ResizeObserver(() => this.drawEdges());
    this.resize.observe(root);
  }

  // model: the answer of /api/model.
  build(model) {
    this.model = model;
    this.maps = this.prediction = this.picked = null;
    this.scale = 1;
    this.rows = model.layers;
    this.inputs = new Map(this.rows.filter((r) => !r.heading).map((r) => [r.name, r.inputs ?? []]));
    this.byName = new Map(this.rows.map((r) => [r.name, r]));
    // the outermost blocks: a block inside another (MobileNet's SE in its main path) is
    // drawn inside that one's path
    const headings = this.rows.filter((r) => r.heading).map((r) => r.name);
    this.blocks = headings.filter((name) => !headings.some((outer) => name.startsWith(`${outer}.`)));
    this.collapsed = new Set(this.rows.length > COLLAPSE_ROWS ? this.blocks : []);
    this.plan();
    this.render();
  }

  // The columns: rows grouped, each column in its container (the main line,
  // or a block's path), in order.
  plan() {
    const readers = new Map();
    for (const [name, sources] of this.inputs) for (const s of sources) readers.set(s, (readers.get(s) ?? 0) + 1);
    this.columns = [];
    this.columnOf = new Map([[this.model.input_name ?? "input", "input"]]);
    let open = null;
    for (const row of this.rows) {
      if (row.heading) continue;
      const where = this.placeOf(row.name);
      const sources = this.inputs.get(row.name) ?? [];
      const follows =
        open &&
        FOLLOWERS.has(row.kind) &&
        sources.length === 1 &&
        sources[0] === open.rows.at(-1) &&
        readers.get(sources[0]) === 1 &&
        open.block === where.block &&
        open.lane === where.lane;
      if (follows) {
        open.rows.push(row.name);
      } else {
        open = { id: row.name, rows: [row.name], ...where };
        this.columns.push(open);
      }
      this.columnOf.set(row.name, open.id);
    }
    for (const column of this.columns) {
      // The maps shown: the last row's, unless it only flattens them.
      const shown = column.rows.filter((name) => this.byName.get(name).kind !== "Flatten");
      column.shown = shown.at(-1) ?? column.rows.at(-1);
    }
  }

  // {block, lane}: the block a row belongs to (null: the main line) and its path
  // in it (null for the block's joining row, which ends the block).
  placeOf(name) {
    const block = this.blocks.find((b) => name.startsWith(`${b}.`));
    if (!block) return { block: null, lane: null };
    const rest = name.slice(block.length + 1);
    return { block, lane: rest.includes(".") ? rest.split(".")[0] : null };
  }

  render() {
    this.cells = new Map(); // column id -> {root, thumbs: [canvas], kind}
    this.flow = el("div", { class: "g-flow" });
    this.svg = document.createElementNS(NS, "svg");
    this.svg.setAttribute("class", "g-edges");
    this.svg.setAttribute("aria-hidden", "true");
    this.pickLine = el("div", { class: "g-pick", dataset: { testid: "graph-pick" }, "aria-live": "polite" });
    const inputShape = this.model.input_shape;
    this.flow.append(this.column({ id: "input", rows: [], shown: "input", label: STRINGS.input, shape: inputShape }, TOP));
    let k = 0;
    while (k < this.columns.length) {
      const column = this.columns[k];
      if (!column.block) {
        this.flow.append(this.column(column, TOP));
        k += 1;
        continue;
      }
      const members = [];
      while (k < this.columns.length && this.columns[k].block === column.block) members.push(this.columns[k++]);
      this.flow.append(this.blockView(column.block, members));
    }
    this.predictionNode = el("div", { class: "g-prediction", dataset: { testid: "graph-prediction" } });
    this.flow.append(
      el(
        "div",
        { class: "g-col g-col-prediction", dataset: { node: "prediction" } },
        el("span", { class: "g-label" }, STRINGS.prediction),
        this.predictionNode,
      ),
    );
    clear(this.root, this.flow, this.svg, this.pickLine);
    this.root.dataset.columns = String(this.cells.size);
    if (this.maps) this.showMaps(this.maps, this.unitInput);
    if (this.prediction) this.showPrediction(...this.prediction);
    requestAnimationFrame(() => this.fit());
  }

  // A short model leaves room on the line: its thumbnails grow (once, up to MAX_SCALE).
  fit() {
    const room = this.root.clientWidth;
    const used = Math.max(...[...this.flow.children].map((node) => node.offsetLeft + node.offsetWidth));
    const wrapped = [...this.flow.children].some((node) => node.offsetTop > this.flow.firstElementChild.offsetTop + 40);
    if (this.scale === 1 && !wrapped && used > 0 && used < 0.75 * room) {
      this.scale = Math.min(MAX_SCALE, (0.9 * room) / used);
      this.render();
      return;
    }
    this.drawEdges();
  }

  blockView(block, members) {
    const heading = this.byName.get(block);
    const collapsed = this.collapsed.has(block);
    const kind = STRINGS.blockKinds[heading.kind] ?? heading.kind;
    const toggle = el(
      "button",
      {
        type: "button",
        class: "g-block-title",
        "aria-expanded": String(!collapsed),
        title: collapsed ? STRINGS.openBlock(block) : STRINGS.closeBlock(block),
        onclick: () => this.toggle(block),
      },
      el("code", {}, block),
      ` ${kind}`,
    );
    const joining = members.filter((m) => m.lane === null);
    const body = el("div", { class: "g-block-body" });
    if (!collapsed) {
      const lanes = el("div", { class: "g-lanes" });
      const order = [...new Set(members.filter((m) => m.lane !== null).map((m) => m.lane))];
      for (const lane of order) {
        const laneColumns = members.filter((m) => m.lane === lane);
        lanes.append(
          el(
            "div",
            { class: `g-lane g-lane-${lane.replace(/[^a-z0-9]/gi, "")}`, dataset: { lane } },
            el("span", { class: "g-lane-title" }, lane),
            el("div", { class: "g-lane-columns" }, laneColumns.map((c) => this.column(c, LANE, block))),
          ),
        );
      }
      // the block's input read again where its paths join (a residual block's identity or
      // option-A shortcut, MobileNet's added input, squeeze-and-excitation's scaled input):
      // a lane of its own, along which its connection runs
      const outside = joining.some((j) => (this.inputs.get(j.rows[0]) ?? []).some((r) => !r.startsWith(`${block}.`)));
      if (outside) {
        const title = heading.kind === "SqueezeExcitation" ? STRINGS.scaledInput : STRINGS.identityShortcut;
        lanes.append(el("div", { class: "g-lane g-lane-identity", dataset: { lane: "identity" } }, el("span", { class: "g-lane-title" }, title)));
      }
      body.append(lanes);
    }
    for (const column of joining) body.append(this.column(column, collapsed ? TOP : LANE, block));
    return el(
      "section",
      { class: `g-block${collapsed ? " collapsed" : ""}`, dataset: { block, kind: heading.kind, testid: `graph-block-${block}` } },
      toggle,
      body,
    );
  }

  toggle(block) {
    if (this.collapsed.has(block)) this.collapsed.delete(block);
    else this.collapsed.add(block);
    this.scale = 1;
    this.render();
    this.onToggle?.();
  }

  setAllCollapsed(collapsed) {
    this.collapsed = new Set(collapsed ? this.blocks : []);
    this.scale = 1;
    this.render();
  }

  // One column: its name (a button that opens its details), its maps, its shape.
  column(column, size, block = null) {
    const shownRow = this.byName.get(column.shown);
    const shape = column.shape ?? shownRow?.output_shape ?? [];
    // inside a block's path, the path's title says which: "3x3.reduce" is "reduce" there
    const short = column.label ?? (column.lane ? column.rows[0].split(".").at(-1) : block ? column.rows[0].slice(block.length + 1) : column.rows[0]);
    const extra = column.rows.slice(1);
    const name = el(
      "button",
      {
        type: "button",
        class: "g-label",
        title: column.rows.length ? STRINGS.openDetails(column.rows) : "",
        onclick: () => column.rows.length && this.onOpen(column.rows[0]),
        disabled: !column.rows.length,
      },
      short,
      extra.length ? el("small", { translate: "no" }, column.rows.slice(1).map((r) => `+${KIND_SHORT[this.byName.get(r).kind] ?? this.byName.get(r).kind}`).join("")) : null,
    );
    const thumbs = el("div", { class: "g-thumbs" });
    const view = { root: null, thumbs: [], shape, size, rows: column.rows, shown: column.shown };
    const vector = shape.length === 1;
    if (vector) {
      const n = shape[0];
      const height = Math.round(Math.max(30, Math.min(size.height, n * (n <= 16 ? 7 : 2))) * this.scale);
      thumbs.append(this.thumb(view, 0, `width: 12px; height: ${height}px`));
    } else if (shape.length === 3) {
      const [n_H, n_W] = shape;
      const n_C = column.id === "input" && shape[2] === 3 ? 1 : shape[2]; // a colour input: one picture
      const side = Math.round(size.thumb * this.scale);
      const [h, w] = n_H >= n_W ? [side, Math.max(4, Math.round((side * n_W) / n_H))] : [Math.max(4, Math.round((side * n_H) / n_W)), side];
      const perColumn = Math.max(1, Math.floor((size.height * this.scale + 3) / (h + 3)));
      const across = n_C > perColumn ? 2 : 1;
      const room = perColumn * across;
      const shown = n_C <= room ? n_C : room - 1;
      thumbs.style.gridTemplateColumns = `repeat(${across}, ${w}px)`;
      for (let c = 0; c < shown; c++) thumbs.append(this.thumb(view, c, `width: ${w}px; height: ${h}px`));
      if (shown < n_C) thumbs.append(el("span", { class: "g-more", title: STRINGS.channelCount(n_C) }, STRINGS.moreChannels(n_C - shown)));
    }
    const shapeText = vector ? STRINGS.valuesOf(shape[0]) : shape.length === 3 ? STRINGS.channelsOf(shape[2], shape[0], shape[1]) : "";
    view.root = el(
      "div",
      {
        class: `g-col${vector ? " g-col-vector" : ""}`,
        dataset: { node: column.id, rows: column.rows.join(" "), shown: column.shown, testid: `node-${column.id}` },
      },
      name,
      thumbs,
      el("span", { class: "g-shape" }, shapeText),
    );
    this.cells.set(column.id, view);
    return view.root;
  }

  // A thumbnail shows the column's last row; a click explains its first (a CONV's
  // explanation goes on through the BN and ReLU that follow it, whose shape it keeps).
  thumb(view, c, style) {
    const picks = [view.rows[0], view.shown].find((name) => name && this.byName.get(name)?.explainable);
    const canvas = el("canvas", { class: `g-thumb${picks ? " pickable" : ""}`, style, dataset: { channel: c, layer: view.shown } });
    if (picks) {
      canvas.dataset.picks = picks;
      // one Tab stop per column (a roving tabindex): Page Up / Page Down go from channel to channel
      canvas.tabIndex = view.thumbs.length ? -1 : 0;
      canvas.setAttribute("role", "button");
      canvas.setAttribute("aria-label", view.shape.length === 3 ? STRINGS.pickThumb(picks, c) : STRINGS.pickVector(picks));
      canvas.addEventListener("click", (event) => {
        const position = this.positionAt(view, canvas, c, event);
        if (position) this.onPick(picks, position);
      });
      canvas.addEventListener("keydown", (event) => this.key(event, view, picks, c));
      canvas.addEventListener("focus", () => view.thumbs.forEach((thumb) => (thumb.tabIndex = thumb === canvas ? 0 : -1)));
    }
    view.thumbs.push(canvas);
    return el("span", { class: "g-frame" }, canvas);
  }

  // The keyboard picks too, as in the details' maps: Enter or Space the value picked
  // on this thumbnail (else its first), the arrow keys the next one over, Page Up and
  // Page Down the previous or next channel's thumbnail (the same row and column there).
  key(event, view, picks, c) {
    const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    const channels = { PageUp: -1, PageDown: 1 };
    if (event.key in channels) {
      // the page scrolls as ever where there is no channel to go to
      if (this.toChannel(view, picks, c, c + channels[event.key])) event.preventDefault();
      return;
    }
    if (!(event.key in moves || event.key === "Enter" || event.key === " ")) return;
    event.preventDefault();
    const [di, dj] = moves[event.key] ?? [0, 0];
    const clamp = (value, size) => Math.min(size - 1, Math.max(0, value));
    const picked = this.picked?.layer === picks ? this.picked.position : null;
    const shape = view.shape;
    if (shape.length === 1) {
      this.onPick(picks, [clamp((picked?.[0] ?? 0) + di + dj, shape[0])]);
      return;
    }
    const here = picked && picked[2] === c ? picked : [0, 0, c];
    this.onPick(picks, [clamp(here[0] + di, shape[0]), clamp(here[1] + dj, shape[1]), c]);
  }

  // Focus the thumbnail of channel ``to``; a value picked on channel ``from`` moves with it.
  // Returns whether there was one (not past the first or last shown, nor on a vector).
  toChannel(view, picks, from, to) {
    const next = view.thumbs[to];
    if (!next || view.shape.length !== 3) return false;
    next.focus(); // which makes it the column's Tab stop
    const picked = this.picked?.layer === picks ? this.picked.position : null;
    if (picked && picked[2] === from) this.onPick(picks, [picked[0], picked[1], to]);
    return true;
  }

  positionAt(view, canvas, c, event) {
    const box = canvas.getBoundingClientRect();
    const x = (event.clientX - box.left) / box.width;
    const y = (event.clientY - box.top) / box.height;
    if (!(x >= 0 && x < 1 && y >= 0 && y < 1)) return null;
    const shape = view.shape;
    if (shape.length === 1) return [Math.floor(y * shape[0])];
    return [Math.floor(y * shape[0]), Math.floor(x * shape[1]), c];
  }

  // maps: row name -> decoded array; unit: the input in [0, 1], decoded.
  showMaps(maps, unit) {
    this.maps = maps;
    this.unitInput = unit;
    for (const [id, view] of this.cells) {
      const array = id === "input" ? unit : maps?.[view.shown];
      if (!array) continue;
      const vertical = array.shape.length === 1 ? { shape: [array.shape[0], 1, 1], data: array.data } : array;
      const [min, max] = extent(array.data);
      const [lo, hi] = id === "input" ? [0, 1] : scaleRange("sequential", min, max);
      const kind = id === "input" ? "gray" : "sequential";
      const rgb = id === "input" && array.shape[2] === 3;
      view.thumbs.forEach((canvas, c) => paint(canvas, vertical, { c, kind, lo, hi, rgb }));
      view.root.title = STRINGS.columnRange(view.rows.length ? view.rows : [STRINGS.input], fmt(lo), fmt(hi));
    }
    this.placeMarks();
  }

  showPrediction(answer, classes) {
    this.prediction = [answer, classes];
    if (!this.predictionNode) return;
    clear(
      this.predictionNode,
      el("strong", { class: "g-predicted", dataset: { source: document.body.dataset.input ?? "" } }, answer.prediction),
      el(
        "ol",
        { class: "g-top" },
        (answer.top ?? []).map(([name, p]) => el("li", {}, el("span", {}, name), el("span", { class: "g-bar", style: `width: ${Math.round(40 * p)}px` }), percent(p))),
      ),
    );
  }

  // The value picked and, once its explanation is in, its window and filter.
  highlight(layer, position, answer = null) {
    this.picked = { layer, position, answer };
    this.placeMarks();
  }

  placeMarks() {
    for (const mark of this.root.querySelectorAll(".g-mark, .g-window")) mark.remove();
    this.root.querySelectorAll(".g-col.g-source").forEach((node) => node.classList.remove("g-source"));
    clear(this.pickLine);
    if (!this.picked) return;
    const { layer, position, answer } = this.picked;
    const view = this.cells.get(this.columnOf.get(layer));
    if (view) this.mark(view, position, "g-mark");
    if (!answer || answer.layer !== layer) return;
    const source = (this.inputs.get(layer) ?? [])[0];
    const from = source && this.cells.get(this.columnOf.get(source));
    if (!from) return;
    from.root.classList.add("g-source");
    const c = position[2];
    if (Array.isArray(answer.rows) && Array.isArray(answer.cols) && from.shape.length === 3) {
      const conv = answer.kind === "conv";
      const channels = conv ? from.thumbs.map((_, k) => k) : [c];
      for (const k of channels) this.window(from, k, answer.rows, answer.cols);
      const [top, left] = [answer.rows[0], answer.cols[0]];
      const [f_H, f_W] = [answer.rows.length, answer.cols.length];
      if (conv) {
        this.pickLine.append(el("span", {}, STRINGS.pickConv(layer, position, source, top, left, f_H, f_W, c)));
        this.pickLine.append(this.filterView(answer.filter, c));
      } else {
        this.pickLine.append(el("span", {}, STRINGS.pickPool(layer, position, source, top, left, f_H, f_W)));
      }
    } else if (answer.kind === "dense") {
      from.root.classList.add("g-source-all");
      this.pickLine.append(el("span", {}, STRINGS.pickDense(layer, position, source)));
    } else if (from.shape.length === position.length) {
      this.mark(from, position, "g-window");
      this.pickLine.append(el("span", {}, STRINGS.pickSame(layer, position, source)));
    }
  }

  mark(view, position, kind) {
    const vector = view.shape.length === 1;
    const canvas = view.thumbs[vector ? 0 : position[2] ?? 0];
    if (!canvas) return;
    const [rows, cols] = vector ? [view.shape[0], 1] : [view.shape[0], view.shape[1]];
    const [i, j] = vector ? [position[0], 0] : position;
    canvas.parentElement.append(
      el("span", {
        class: kind,
        dataset: { top: i, left: j },
        style: `left: ${(100 * j) / cols}%; top: ${(100 * i) / rows}%; width: ${100 / cols}%; height: ${100 / rows}%`,
      }),
    );
  }

  // The window rows x cols of a map (it may reach into the zero padding, past the edge).
  window(view, c, rows, cols) {
    const canvas = view.thumbs[c];
    if (!canvas) return;
    const [n_H, n_W] = view.shape;
    canvas.parentElement.append(
      el("span", {
        class: "g-window",
        dataset: { top: rows[0], left: cols[0], rows: rows.length, cols: cols.length, channel: c },
        style:
          `left: ${(100 * cols[0]) / n_W}%; top: ${(100 * rows[0]) / n_H}%;` +
          ` width: ${(100 * cols.length) / n_W}%; height: ${(100 * rows.length) / n_H}%`,
      }),
    );
  }

  // W[:, :, k, c] for each input channel k: the filter that made the value.
  filterView(filter, c) {
    const box = el("span", { class: "g-filter", dataset: { testid: "graph-filter", filter: c } });
    if (!filter) return box;
    const shape = filter.shape;
    const [f_H, f_W, n] = [shape[0], shape[1], shape[2] ?? 1];
    const [lo, hi] = extent(filter.data);
    const m = Math.max(Math.abs(lo), Math.abs(hi));
    for (let k = 0; k < Math.min(n, 16); k++) {
      const canvas = el("canvas", { class: "g-filter-slice", title: STRINGS.filterCaption(c, k), style: `width: ${f_W * 5}px; height: ${f_H * 5}px` });
      paint(canvas, filter, { c: k, kind: "diverging", lo: -m, hi: m });
      box.append(canvas);
    }
    if (n > 16) box.append(el("span", { class: "g-more" }, STRINGS.moreChannels(n - 16)));
    return box;
  }

  // The connections, as the columns now lie.
  drawEdges() {
    if (!this.svg || !this.cells) return;
    const origin = this.root.getBoundingClientRect();
    this.svg.replaceChildren();
    this.svg.setAttribute("width", String(this.root.scrollWidth));
    this.svg.setAttribute("height", String(this.root.scrollHeight));
    const defs = document.createElementNS(NS, "defs");
    defs.innerHTML = '<marker id="g-arrow" viewBox="0 0 6 6" refX="6" refY="3" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L6,3 L0,6 z"/></marker>';
    this.svg.append(defs);
    const box = (node) => {
      const r = node.getBoundingClientRect();
      return { left: r.left - origin.left, right: r.right - origin.left, top: r.top - origin.top, bottom: r.bottom - origin.top };
    };
    // Just above the line of the graph that holds node: where a connection to a later line runs.
    const items = [...this.flow.children].map(box);
    const above = (node) => {
      const r = box(node);
      const mid = (r.top + r.bottom) / 2;
      return Math.min(...items.filter((b) => b.top <= mid && b.bottom >= mid).map((b) => b.top), r.top) - 13;
    };
    const drawn = new Set();
    const edges = [];
    // A column inside a collapsed block is seen as the block's joining column.
    const joins = new Map();
    for (const column of this.columns) if (column.block && column.lane === null) joins.set(column.block, column.id);
    const visible = (id) => {
      const column = this.columns.find((c) => c.id === id);
      return column?.block && this.collapsed.has(column.block) ? joins.get(column.block) ?? id : id;
    };
    for (const column of this.columns) {
      for (const source of this.inputs.get(column.rows[0]) ?? []) {
        edges.push([visible(this.columnOf.get(source)), visible(column.id)]);
      }
    }
    // the prediction reads the last column
    edges.push([this.columns.at(-1)?.id, "prediction"]);
    const predictionRoot = this.root.querySelector("[data-node=prediction]");
    for (const [from, to] of edges) {
      const a = this.cells.get(from)?.root;
      const b = to === "prediction" ? predictionRoot : this.cells.get(to)?.root;
      if (!a || !b || a === b || !a.isConnected || !b.isConnected || drawn.has(`${from}>${to}`)) continue;
      drawn.add(`${from}>${to}`);
      const s = box(a.querySelector(".g-thumbs") ?? a);
      const t = box(b.querySelector(".g-thumbs, .g-predicted") ?? b);
      const [sx, sy, tx, ty] = [s.right + 1, (s.top + s.bottom) / 2, t.left - 1, (t.top + t.bottom) / 2];
      let d;
      const block = b.closest(".g-block");
      const identity = block && !a.closest(".g-block")?.isSameNode(block) && block.querySelector(".g-lane-identity");
      if (identity && !block.classList.contains("collapsed") && b.closest(".g-lanes") === null) {
        // a residual block's identity shortcut: along its own lane, under the main path
        const lane = box(identity);
        const y = (lane.top + lane.bottom) / 2;
        const end = `L${tx - 24},${y} C${tx - 8},${y} ${tx - 12},${ty} ${tx},${ty}`;
        if (lane.left < sx) {
          // the block starts a later line: down between the lines, in along its shortcut lane
          const x = box(block).left - 8;
          const gap = above(block);
          d = `M${sx},${sy} L${sx + 6},${sy} L${sx + 6},${gap} L${x},${gap} L${x},${y} ${end}`;
        } else {
          d = `M${sx},${sy} C${sx + 14},${sy} ${sx + 4},${y} ${lane.left + 90},${y} ${end}`;
        }
      } else if (tx < sx - 4) {
        // the next line of a wrapped graph: down between the lines, back to its start
        const y = above(b);
        d = `M${sx},${sy} L${sx + 6},${sy} L${sx + 6},${y} L${tx - 8},${y} L${tx - 8},${ty} L${tx},${ty}`;
      } else {
        const dx = Math.max(8, (tx - sx) / 2);
        d = `M${sx},${sy} C${sx + dx},${sy} ${tx - dx},${ty} ${tx},${ty}`;
      }
      const path = document.createElementNS(NS, "path");
      path.setAttribute("d", d);
      path.setAttribute("marker-end", "url(#g-arrow)");
      path.dataset.from = from;
      path.dataset.to = to;
      this.svg.append(path);
    }
    this.root.dataset.edges = String(drawn.size);
  }
}
