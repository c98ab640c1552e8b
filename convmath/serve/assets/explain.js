// The number behind a number: renders an /api/explain answer as the article
// writes the computation, with the real numbers of this example.

import { decode, isArrayLike, slice2d } from "./arrays.js";
import { clear, el } from "./dom.js";
import { fmt } from "./format.js";
import { numberGrid } from "./grids.js";
import { hasString, t } from "./i18n.js";
import { tex } from "./tex.js";

const HANDLED = {
  conv: ["window", "rows", "cols", "padded", "filter", "products", "sum", "bias", "z", "activation"],
  max: ["window", "argmax", "rows", "cols", "padded"],
  average: ["window", "rows", "cols", "padded"],
  dense: ["contributions", "rest", "n_in", "bias", "z", "activation"],
  batch_norm: ["x", "mu", "sigma", "eps", "gamma", "beta", "y"],
  layer_norm: ["x", "mu", "sigma", "eps", "gamma", "beta", "y", "channels"],
  activation: ["z", "a", "function"],
  softmax: ["logits", "shift", "exps", "sum", "probabilities"],
  residual_add: ["main", "shortcut", "z"],
};
const ALWAYS = ["kind", "value", "equation", "tex", "layer", "position", "name", "article_index"];

// context: {layer, position, classes}
export function renderExplanation(panel, answer, context) {
  const { layer, position } = context;
  panel.dataset.layer = layer;
  panel.dataset.position = position.join(",");
  panel.dataset.kind = answer.kind ?? "";
  panel.dataset.source = context.source ?? "";
  const where = `[${position.join(", ")}]`;
  const body = el("div", { class: "explain-body" });
  const renderer = RENDERERS[answer.kind];
  if (renderer) renderer(body, answer, context);
  const handled = new Set([...ALWAYS, ...(HANDLED[answer.kind] ?? [])]);
  const rest = Object.entries(answer).filter(([key]) => !handled.has(key));
  if (rest.length) body.append(fieldList(rest, renderer ? t("formula.also") : t("formula.numbers")));
  const kind = answer.kind ? t(`kind.${answer.kind}`) : "?";
  // The equation typeset by KaTeX (its plain text kept in data-equation, and
  // shown instead when KaTeX is not there).
  const equation = el(
    "div",
    { class: "equation", dataset: { testid: "explain-equation", equation: answer.equation ?? "" } },
    answer.tex ? tex(answer.tex, answer.equation, { display: true }) : el("code", { translate: "no" }, answer.equation ?? ""),
  );
  const [x, y, c] = position.map((n) => n + 1);
  clear(panel,
    el(
      "header",
      { class: "explain-head" },
      el("h3", {}, el("code", { translate: "no" }, layer), ` ${t("formula.at")} `, el("code", { translate: "no" }, where)),
      el("span", { class: "badge" }, kind),
      position.length === 3 ? el("span", { class: "meta" }, t("formula.article", { x, y, c })) : null,
    ),
    equation,
    body,
    el(
      "p",
      { class: "explain-value" },
      t("formula.value"),
      el("strong", { dataset: { testid: "explain-value", value: String(answer.value) } }, fmt(answer.value)),
    ),
  );
}

export function renderHint(panel, text) {
  delete panel.dataset.layer;
  delete panel.dataset.position;
  clear(panel, el("p", { class: "hint" }, text));
}

const RENDERERS = {
  conv(body, a, context) {
    const out = context.position[2] ?? "c";
    const patch = decode(a.window);
    const filter = decode(a.filter);
    const products = decode(a.products);
    const n_C_prev = patch.shape.length > 2 ? patch.shape[2] : 1;
    const [f_H, f_W] = patch.shape;
    const rowLabels = labels(a.rows, f_H);
    const colLabels = labels(a.cols, f_W);
    body.append(el("p", { class: "explain-note" }, t("formula.convNote", { f: `${f_H}×${f_W}×${n_C_prev}` })));
    const slices = el("div", { class: "conv-slices" });
    for (let c = 0; c < n_C_prev; c++) {
      const win = slice2d(patch, c);
      const pad = paddedSlice(a.padded, c);
      const prod = slice2d(products, c);
      const partial = prod.flat().reduce((s, v) => s + v, 0);
      slices.append(
        el(
          "div",
          { class: "conv-slice" },
          el("p", { class: "slice-label" }, t("formula.channelSum", { c }), el("strong", {}, fmt(partial))),
          el(
            "div",
            { class: "slice-grids" },
            numberGrid(win, { caption: t("formula.window"), padded: pad, rowLabels, colLabels }),
            el("span", { class: "op" }, "⊙"),
            numberGrid(slice2d(filter, c), { caption: `${t("formula.filter")} W[:, :, ${c}, ${out}]` }),
            el("span", { class: "op" }, "="),
            numberGrid(prod, { caption: t("formula.products"), padded: pad }),
          ),
        ),
      );
    }
    body.append(slices);
    body.append(
      sumLine([
        [t("formula.sumProducts"), a.sum],
        [t("formula.plusBias"), a.bias],
        ["= z", a.z],
      ]),
    );
    body.append(activationLine(a.activation));
  },

  max(body, a) {
    const patch = decode(a.window);
    const argmax = a.argmax ? (isArrayLike(a.argmax) ? Array.from(decode(a.argmax).data) : a.argmax) : null;
    body.append(
      el("p", { class: "explain-note" }, t("formula.maxNote")),
      numberGrid(slice2d(patch, 0), {
        caption: t("formula.window"),
        highlight: argmax,
        padded: paddedSlice(a.padded, 0),
        rowLabels: labels(a.rows, patch.shape[0]),
        colLabels: labels(a.cols, patch.shape[1]),
        tint: false,
      }),
      sumLine([[t("formula.max"), a.value]]),
    );
  },

  average(body, a) {
    const patch = decode(a.window);
    body.append(
      el("p", { class: "explain-note" }, t("formula.meanNote")),
      numberGrid(slice2d(patch, 0), {
        caption: t("formula.window"),
        padded: paddedSlice(a.padded, 0),
        rowLabels: labels(a.rows, patch.shape[0]),
        colLabels: labels(a.cols, patch.shape[1]),
        tint: false,
      }),
      sumLine([
        [t("formula.mean", { n: patch.data.length }), a.value],
      ]),
    );
  },

  dense(body, a) {
    const rows = (a.contributions ?? []).map((c) =>
      el("tr", {}, el("td", {}, c.index), el("td", {}, fmt(c.a)), el("td", {}, fmt(c.w)), el("td", {}, fmt(c.product))),
    );
    const shown = (a.contributions ?? []).length;
    body.append(
      el("p", { class: "explain-note" }, t("formula.denseNote", { n: a.n_in ?? "?", shown })),
      el(
        "table",
        { class: "data-table", dataset: { testid: "dense-contributions" } },
        el("thead", {}, el("tr", { translate: "no" }, ["i", "a_i", "W_ij", "a_i W_ij"].map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, rows),
      ),
      sumLine([
        [t("formula.others", { n: Math.max(0, (a.n_in ?? shown) - shown) }), a.rest],
        [t("formula.plusBias"), a.bias],
        ["= z", a.z],
      ]),
    );
    if (a.activation) body.append(activationLine(a.activation));
  },

  batch_norm(body, a) {
    normalised(body, a, t("formula.bnNote"), t("formula.runningMean"));
  },

  layer_norm(body, a) {
    normalised(body, a, t("formula.lnNote", { n: a.channels ?? "?" }), t("formula.positionMean"));
  },

  residual_add(body, a) {
    body.append(
      el("p", { class: "explain-note" }, t("formula.residualNote")),
      sumLine([
        [t("formula.mainPath"), a.main],
        [t("formula.shortcut"), a.shortcut],
        ["= z", a.z],
        ["ReLU(z)", a.value],
      ]),
    );
  },

  activation(body, a) {
    body.append(dl([["z", a.z], [t("formula.function"), a.function], ["a", a.a]]));
  },

  softmax(body, a, context) {
    const logits = Array.from(decode(a.logits).data);
    const exps = Array.from(decode(a.exps).data);
    const probabilities = Array.from(decode(a.probabilities).data);
    const k = context.position[0];
    const classes = context.classes ?? [];
    const rows = logits.map((z, j) =>
      el(
        "tr",
        { class: j === k ? "highlight" : "" },
        el("th", { scope: "row" }, classes[j] ?? j),
        el("td", {}, fmt(z)),
        el("td", {}, fmt(z - a.shift)),
        el("td", {}, fmt(exps[j])),
        el("td", {}, fmt(probabilities[j])),
      ),
    );
    body.append(
      el("p", { class: "explain-note" }, t("formula.softmaxNote", { shift: fmt(a.shift) })),
      el(
        "table",
        { class: "data-table" },
        el("thead", {}, el("tr", {}, [t("formula.class"), "z_j", "z_j − max z", "exp", "p_j"].map((h, k) => el("th", { scope: "col", translate: k ? "no" : null }, h)))),
        el("tbody", {}, rows),
      ),
      sumLine([
        ["Σ exp", a.sum],
        [`p_${classes[k] ?? k} = exp / Σ`, probabilities[k]],
      ]),
    );
  },
};

function labels(indices, n) {
  if (indices == null) return undefined;
  const list = isArrayLike(indices) ? Array.from(decode(indices).data) : indices;
  if (Array.isArray(list) && list.length === n) return list.map((v) => String(v));
  return undefined;
}

// Which cells of a window lie in the zero padding, for input channel c
// (padded may be given per channel or once for all).
function paddedSlice(padded, c) {
  if (padded == null || !isArrayLike(padded)) return null;
  const array = decode(padded);
  return slice2d(array, array.shape.length > 2 ? c : 0).map((row) => row.map((v) => Boolean(v)));
}

// Batch norm and layer norm: the same arithmetic, with mu and sigma from the
// running statistics or from the position's channels.
function normalised(body, a, note, meanLabel) {
  body.append(
    el("p", { class: "explain-note" }, note),
    dl([
      ["Z", a.x],
      [meanLabel, a.mu],
      [`σ = √(var + ${fmt(a.eps)})`, a.sigma],
      ["(Z − μ) / σ", a.sigma ? (a.x - a.mu) / a.sigma : null],
      ["γ", a.gamma],
      ["β", a.beta],
      ["Z̃", a.y],
    ]),
  );
}

function sumLine(items) {
  return el(
    "div",
    { class: "sum-line" },
    items.map(([label, value]) => el("span", { class: "term" }, el("span", { class: "term-label" }, label), " ", el("strong", {}, fmt(value)))),
  );
}

function activationLine(activation) {
  if (!activation) return el("p", { class: "explain-note" }, t("formula.noActivation"));
  return el(
    "p",
    { class: "activation-line" },
    t("formula.then"),
    el("code", { translate: "no" }, activation.layer ?? "?"),
    " (",
    el("span", { translate: "no" }, activation.kind ?? t("formula.activation")),
    "): A = ψ(Z) = ",
    el("strong", {}, fmt(activation.value)),
  );
}

function dl(pairs) {
  return el(
    "dl",
    { class: "fields" },
    pairs.flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, typeof v === "string" ? v : fmt(v))]),
  );
}

// Whatever the renderers do not know, shown plainly rather than dropped.
function fieldList(entries, title) {
  const items = entries.map(([key, value]) => [key, describe(value)]);
  const named = (key) => (hasString(`field.${key}`) ? el("dt", {}, t(`field.${key}`)) : el("dt", { translate: "no" }, key));
  return el(
    "div",
    { class: "generic" },
    el("h4", {}, title),
    el("dl", { class: "fields" }, items.flatMap(([k, v]) => [named(k), el("dd", {}, v)])),
  );
}

function describe(value) {
  if (value === null || value === undefined) return "–";
  if (typeof value === "number" || typeof value === "boolean") return fmt(value);
  if (typeof value === "string") return value;
  if (isArrayLike(value)) {
    try {
      const array = decode(value);
      if (array.shape.length === 2 && array.data.length <= 400) return numberGrid(slice2d(array, 0), { tint: false });
      if (array.shape.length === 3 && array.shape[2] === 1 && array.data.length <= 400)
        return numberGrid(slice2d(array, 0), { tint: false });
      if (array.data.length <= 64) return Array.from(array.data, fmt).join(", ");
      return t("formula.arrayOf", { shape: array.shape.join(", ") });
    } catch {
      return JSON.stringify(value).slice(0, 200);
    }
  }
  if (typeof value === "object") {
    return el(
      "dl",
      { class: "fields nested" },
      Object.entries(value).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, describe(v))]),
    );
  }
  return String(value);
}
