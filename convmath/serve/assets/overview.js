// The details: every row of /api/model in order, a panel each, with the
// layer's equations typeset in the article's notation, its maps (named as
// the article names them: Z^[l] before the activation, A^[l] after it,
// Z~^[l] after batch norm) and, after back propagation, their gradients.
// A block's heading row opens a bordered group holding the rows of its
// paths; a residual block's main path / shortcut / add and an Inception
// module's 1x1 / 3x3 / 5x5 / pool branches / concat get a labelled box each.
// A block folds (a long model starts with its blocks folded); a picked
// value's window is outlined on the maps of the row it was computed from.

import { decode } from "./arrays.js";
import { clear, el } from "./dom.js";
import { shapeText } from "./format.js";
import { language, t } from "./i18n.js";
import { MapGrid } from "./maps.js";
import { tex } from "./tex.js";

const FOLDED_ROWS = 40; // a model with more rows starts with its blocks folded

// The paths of a block that have a name, from the first part of their rows' names
// (their titles and notes in i18n.js), and the blocks that have one.
const BRANCHES = new Set(["main", "shortcut", "add", "1x1", "3x3", "5x5", "pool", "concat", "squeeze", "scale"]);
const BLOCKS = new Set(["ResidualBlock", "InceptionModule", "SqueezeExcitation", "InvertedResidual"]);

export class Overview {
  // onPick(layer, position) is called when a value of an explainable map is clicked.
  constructor(root, { onPick }) {
    this.root = root;
    this.onPick = onPick;
    this.panels = new Map(); // name -> {maps: MapGrid, gradients: MapGrid}
  }

  build(layers) {
    clear(this.root);
    this.panels.clear();
    this.inputs = new Map(layers.map((row) => [row.name, row.inputs ?? []]));
    this.folded = layers.length > FOLDED_ROWS;
    const stack = [{ body: this.root, depth: -Infinity, prefix: null, branch: null, branchBody: null }];
    for (const row of layers) {
      // Leave the groups this row is not part of: a row belongs to a block if
      // it is deeper than its heading or its name starts with the block's.
      while (stack.length > 1) {
        const top = stack[stack.length - 1];
        if (row.depth > top.depth || row.name.startsWith(`${top.prefix}.`)) break;
        stack.pop();
      }
      const parent = stack[stack.length - 1];
      const container = parent.prefix ? this.branchOf(parent, row.name) : parent.body;
      if (row.heading) {
        const body = el("div", { class: "block-body" });
        container.append(this.blockPanel(row, body));
        stack.push({ body, depth: row.depth, prefix: row.name, branch: null, branchBody: null });
      } else {
        container.append(this.layerPanel(row));
      }
    }
  }

  branchOf(group, name) {
    const rest = name.startsWith(`${group.prefix}.`) ? name.slice(group.prefix.length + 1) : name;
    const key = rest.split(".")[0];
    if (key !== group.branch) {
      const [title, note] = BRANCHES.has(key)
        ? [t(`overview.branch.${key}`), t(`overview.branch.${key}.note`)]
        : [key, ""];
      group.branch = key;
      group.branchBody = el("div", { class: "branch-body" });
      group.body.append(
        el(
          "section",
          { class: `branch branch-${key.replace(/[^a-z0-9]/gi, "")}`, "aria-label": `${group.prefix}: ${title}` },
          el("h4", { class: "branch-title" }, title, note ? el("span", { class: "branch-note" }, ` — ${note}`) : null),
          group.branchBody,
        ),
      );
    }
    return group.branchBody;
  }

  blockPanel(row, body) {
    const known = BLOCKS.has(row.kind);
    const what = known ? t(`overview.block.${row.kind}`) : row.kind;
    return el(
      "details",
      { class: "block", open: !this.folded, dataset: { testid: `layer-${row.name}`, kind: row.kind } },
      el(
        "summary",
        { class: "block-head" },
        el("h3", {}, el("code", { translate: "no" }, row.name)),
        el("span", { class: "badge badge-block", translate: known ? null : "no" }, what),
        row.parameters ? el("span", { class: "meta" }, t("overview.parameters", { n: row.parameters.toLocaleString("en") })) : null,
      ),
      formulas(row),
      body,
    );
  }

  // Opens the folded blocks around the panel of a row; returns the panel.
  unfold(name) {
    const panel = this.root.querySelector(`[data-testid="layer-${CSS.escape(name)}"]`);
    for (let node = panel; node && node !== this.root; node = node.parentElement) {
      if (node.tagName === "DETAILS") node.open = true;
    }
    return panel;
  }

  // Scrolls to the panel of a row or block, opening the blocks around it.
  open(name) {
    const panel = this.unfold(name);
    if (!panel) return;
    panel.scrollIntoView({ block: "start" });
    panel.classList.remove("flash");
    void panel.offsetWidth; // restart the animation
    panel.classList.add("flash");
  }

  // The window of the row a picked value was computed from (answer: /api/explain's).
  showWindow(layer, answer) {
    const source = (this.inputs?.get(layer) ?? [])[0];
    if (answer && source) this.unfold(source); // the window is seen where it is
    for (const [name, panel] of this.panels) {
      let spec = null;
      if (name === source && answer && Array.isArray(answer.rows) && Array.isArray(answer.cols)) {
        const n_C = panel.maps.array?.shape?.[2] ?? 0;
        const all = Array.from({ length: n_C }, (_, k) => k);
        spec = { rows: answer.rows, cols: answer.cols, channels: answer.kind === "conv" ? all : [answer.position[2]] };
      }
      panel.maps.showWindow(spec);
    }
  }

  layerPanel(row) {
    const pick = row.explainable ? (position) => this.onPick(row.name, position) : null;
    const maps = new MapGrid({ kind: "sequential", label: mapLabel(row), kindName: "activation", onPick: pick });
    const gradients = new MapGrid({ kind: "diverging", label: gradientLabel(row), kindName: "gradient" });
    gradients.root.hidden = true;
    this.panels.set(row.name, { maps, gradients });
    return el(
      "article",
      { class: `layer${row.explainable ? " explainable" : ""}`, dataset: { testid: `layer-${row.name}`, kind: row.kind } },
      el(
        "header",
        { class: "layer-head" },
        el("h3", {}, el("code", { translate: "no" }, row.name)),
        el("span", { class: "badge", translate: "no" }, row.kind),
        el(
          "span",
          { class: "shape", title: t("overview.outputShape") },
          "→ ",
          row.name_tex ? tex(row.name_tex, row.name_text) : null,
          ` ${shapeText(row.output_shape)}`,
        ),
        row.parameters ? el("span", { class: "meta" }, t("overview.parameters", { n: row.parameters.toLocaleString("en") })) : null,
        row.explainable ? el("span", { class: "meta hint-inline" }, t("overview.clickValue")) : null,
      ),
      formulas(row),
      maps.root,
      gradients.root,
    );
  }

  // maps: row name -> array, decoded already.
  showMaps(maps) {
    for (const [name, panel] of this.panels) panel.maps.update(maps?.[name] ?? null);
  }

  showGradients(gradients) {
    for (const [name, panel] of this.panels) {
      const value = gradients?.[name];
      panel.gradients.root.hidden = !value;
      panel.gradients.update(value ? decode(value) : null);
    }
  }

  select(layer, position) {
    for (const [name, panel] of this.panels) panel.maps.select(name === layer ? position : null);
  }
}

// What the maps of a row are: the article's name of the output, and in words.
function mapLabel(row) {
  const name = row.name_text ?? "";
  const key = name.startsWith("Z~") ? "maps.Ztilde" : name.startsWith("Z") ? "maps.Z" : "maps.A";
  return [row.name_tex ? tex(row.name_tex, name) : null, " ", t(key)];
}

function gradientLabel(row) {
  const name = row.name_text ?? "A";
  const symbol = row.name_tex ?? "A";
  return [tex(`\\frac{\\partial J}{\\partial ${symbol}} = d${symbol}`, `dJ/d${name}`), " ", t("maps.gradient")];
}

// The layer's equations typeset (the article's notation, numbers filled in),
// then the lines `convmath explain` prints, forward and back propagation.
function formulas(row) {
  const equations = row.equations ?? [];
  const backwardEquations = row.backward_equations ?? [];
  const lines = row.formulas ?? [];
  const backward = row.backward ?? [];
  const typeset = equations.length
    ? el("div", { class: "equations" }, equations.map((source) => el("div", { class: "equation-line" }, tex(source, source, { display: true }))))
    : null;
  // The text lines are explain's, in English: open under the equations in English,
  // folded away in another language.
  const text = lines.length
    ? el(
        "details",
        { class: "formula-text", open: language() === "en" ? true : null },
        el("summary", {}, t("overview.text")),
        el("pre", { translate: "no", lang: "en" }, lines.join("\n")),
      )
    : null;
  const back = backward.length || backwardEquations.length
    ? el(
        "details",
        { class: "backward-formulas" },
        el("summary", {}, t("overview.backward")),
        backwardEquations.map((source) => el("div", { class: "equation-line" }, tex(source, source, { display: true }))),
        backward.length ? el("pre", { translate: "no", lang: "en" }, backward.join("\n")) : null,
      )
    : null;
  return el("div", { class: "formulas" }, typeset, text, back);
}
