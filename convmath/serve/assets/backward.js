// Back propagation for a target class: the loss J, dJ/dZ at the output, and
// one step of gradient descent on a chosen CONV filter, W := W - alpha dW.
// (The per-layer dJ/dA maps are drawn by the overview.)

import { decode, extent, slice2d } from "./arrays.js";
import { clear, el } from "./dom.js";
import { fmt } from "./format.js";
import { numberGrid, vectorGrid } from "./grids.js";
import { t } from "./i18n.js";
import { tex } from "./tex.js";

export class BackwardView {
  constructor(elements, { onChange }) {
    Object.assign(this, elements); // target, loss, dZ, filter, layer, index, rate, rule
    this.onChange = onChange;
    this.classes = [];
    this.target.addEventListener("change", () => this.onChange());
    this.layer.addEventListener("change", () => {
      this.updateIndexLimit();
      this.index.value = "0";
      this.onChange();
    });
    this.index.addEventListener("change", () => this.onChange());
    this.rate.addEventListener("change", () => this.onChange());
  }

  setModel(model) {
    this.classes = model.classes;
    const previous = this.target.value;
    clear(this.target,
      el("option", { value: "auto" }, t("backward.predicted")),
      model.classes.map((name, k) => el("option", { value: String(k) }, t("backward.class", { name }))),
    );
    this.target.value = [...this.target.options].some((o) => o.value === previous) ? previous : "auto";
    this.convs = model.layers.filter((row) => !row.heading && row.kind === "Conv2D");
    clear(this.layer, this.convs.map((row) => el("option", { value: row.name }, row.name)));
    this.layer.disabled = !this.convs.length;
    this.index.disabled = !this.convs.length;
    this.updateIndexLimit();
    this.rate.value = String(model.learning_rate ?? 0.001);
  }

  updateIndexLimit() {
    const row = this.convs.find((r) => r.name === this.layer.value);
    const n_C = row?.output_shape?.[2] ?? 1;
    this.index.max = String(n_C - 1);
    if (Number(this.index.value) > n_C - 1) this.index.value = "0";
    this.index.title = t("backward.filterTitle", { max: n_C - 1 });
  }

  // The body of POST /api/backward besides the image; predicted: the class
  // index the forward pass picked (the target when "auto" is chosen).
  request(predicted) {
    const target = this.target.value === "auto" ? predicted : Number(this.target.value);
    const options = {};
    if (this.convs.length) {
      options.layer = this.layer.value;
      options.filter = Math.floor(Number(this.index.value) || 0);
    }
    // Any number typed is sent: the server says what range it accepts.
    const rate = Number(this.rate.value);
    if (this.rate.value.trim() !== "" && Number.isFinite(rate)) options.learning_rate = rate;
    return { target, options };
  }

  show(answer, source) {
    this.loss.textContent = fmt(answer.loss);
    this.loss.dataset.source = source;
    this.loss.dataset.target = String(answer.target);
    this.loss.dataset.value = String(answer.loss);
    const name = this.classes[answer.target] ?? answer.target;
    this.lossNote.textContent = t("backward.lossNote", { name });
    const dZ = Array.from(decode(answer.dZ).data);
    clear(
      this.dZ,
      el("p", { class: "explain-note" }, t("backward.dZ"), ": ", tex("dZ^{[L]} = \\mathrm{softmax}(Z^{[L]}) - Q", "dZ = softmax(Z) - Q")),
      dzBars(dZ, this.classes, answer.target),
      el(
        "details",
        {},
        el("summary", {}, t("backward.numbers")),
        el("div", { class: "scroll-x" }, vectorGrid(dZ, { labels: this.classes.map(String) })),
      ),
    );
    this.showFilter(answer.filter);
  }

  showFilter(filter) {
    if (!filter) {
      clear(this.filter, el("p", { class: "hint" }, t("backward.filterHint")));
      return;
    }
    if (filter.layer && this.layer.value !== filter.layer) this.layer.value = filter.layer;
    if (Number(this.index.value) !== filter.index) this.index.value = String(filter.index);
    const W = decode(filter.W);
    const dW = decode(filter.dW);
    const W_new = decode(filter.W_new);
    const alpha = filter.learning_rate;
    clear(this.rule, tex("W := W - \\alpha\\, dW, \\quad b := b - \\alpha\\, db", "W := W − α dW, b := b − α db"), " ", t("backward.rule", { alpha: fmt(alpha) }));
    const n_C_prev = W.shape.length > 2 ? W.shape[2] : 1;
    const [lo, hi] = extent([...W.data, ...W_new.data]);
    const range = Math.max(Math.abs(lo), Math.abs(hi));
    const slices = el("div", { class: "filter-slices" });
    for (let c = 0; c < n_C_prev; c++) {
      slices.append(
        el(
          "div",
          { class: "filter-slice" },
          el("p", { class: "slice-label" }, t("backward.channel", { c })),
          el(
            "div",
            { class: "slice-grids" },
            numberGrid(slice2d(W, c), { caption: "W", range }),
            el("span", { class: "op", title: `α = ${fmt(alpha)}` }, "− α ×"),
            numberGrid(slice2d(dW, c), { caption: "dW" }),
            el("span", { class: "op" }, "="),
            numberGrid(slice2d(W_new, c), { caption: `W ${t("backward.new")}`, range }),
          ),
        ),
      );
    }
    clear(this.filter,
      el("p", { class: "explain-note" }, t("backward.filterOf", { index: filter.index, layer: filter.layer, shape: W.shape.join(" × ") })),
      slices,
      el(
        "div",
        { class: "sum-line" },
        el("span", { class: "term" }, "b ", el("strong", {}, fmt(filter.b))),
        el("span", { class: "term" }, `− ${fmt(alpha)} × db `, el("strong", {}, fmt(filter.db))),
        el("span", { class: "term" }, `= b ${t("backward.new")} `, el("strong", { dataset: { testid: "b-new" } }, fmt(filter.b_new))),
      ),
      filter.has_bias === false ? el("p", { class: "hint" }, t("backward.noBias")) : null,
    );
  }

  reset() {
    this.loss.textContent = "–";
    delete this.loss.dataset.target;
    clear(this.dZ);
  }
}

// dZ per class as bars from a zero line: up (red) where p_k > q_k, down
// (blue) at the target, where p - 1 < 0. The scale is fixed at |dZ| <= 1.
function dzBars(dZ, classes, target) {
  return el(
    "div",
    { class: "dz-bars", role: "img", "aria-label": t("backward.bars", { values: dZ.map((v, k) => `${classes[k] ?? k} ${fmt(v)}`).join(", ") }) },
    dZ.map((v, k) =>
      el(
        "div",
        { class: `dz-col${k === target ? " target" : ""}`, title: `dZ[${classes[k] ?? k}] = ${fmt(v)}` },
        el("span", { class: "dz-half dz-up" }, v > 0 ? el("span", { class: "dz-bar", style: `height: ${Math.min(100, 100 * v).toFixed(1)}%` }) : null),
        el("span", { class: "dz-half dz-down" }, v < 0 ? el("span", { class: "dz-bar", style: `height: ${Math.min(100, -100 * v).toFixed(1)}%` }) : null),
        el("span", { class: "dz-label" }, classes[k] ?? k),
      ),
    ),
  );
}
