// Small grids of numbers, as the article writes a window or a filter: each
// cell its value to 4 significant digits, tinted by sign and size (blue < 0
// < red) so the pattern shows before the digits are read.

import { el } from "./dom.js";
import { fmt } from "./format.js";
import { colourOf } from "./heatmap.js";
import { t } from "./i18n.js";

// Halfway to white, so dark text stays readable on the strongest tint.
const soften = (x) => Math.round(255 - (255 - x) * 0.5);

// rows: [[v, ...], ...]. Options: caption, padded ([[bool]]: cells in the
// zero padding), highlight ([i, j]), rowLabels, colLabels, range (the tint's
// +-limit; default the grid's own largest |v|), tint (false: plain).
export function numberGrid(rows, options = {}) {
  const { caption, padded, highlight, rowLabels, colLabels, tint = true } = options;
  let limit = options.range;
  if (limit === undefined) {
    limit = 0;
    for (const row of rows) for (const v of row) if (Number.isFinite(v)) limit = Math.max(limit, Math.abs(v));
  }
  const table = el("table", { class: "number-grid" });
  if (caption) table.append(el("caption", {}, caption));
  if (colLabels) {
    table.append(
      el("thead", {}, el("tr", {}, rowLabels ? el("th", {}) : null, colLabels.map((c) => el("th", { scope: "col" }, c)))),
    );
  }
  const body = el("tbody");
  rows.forEach((row, i) => {
    const tr = el("tr", {}, rowLabels ? el("th", { scope: "row" }, rowLabels[i]) : null);
    row.forEach((v, j) => {
      const td = el("td", { title: String(v) }, fmt(v));
      if (padded?.[i]?.[j]) {
        td.classList.add("padded");
        td.title = t("grid.padding");
      } else if (tint && limit > 0) {
        const [r, g, b] = colourOf("diverging", v, -limit, limit);
        td.style.background = `rgb(${soften(r)}, ${soften(g)}, ${soften(b)})`;
      }
      if (highlight && highlight[0] === i && highlight[1] === j) td.classList.add("highlight");
      tr.append(td);
    });
    body.append(tr);
  });
  table.append(body);
  return table;
}

// A one-row grid of a vector (logits, dZ, ...), optionally with labels.
export function vectorGrid(values, options = {}) {
  return numberGrid([Array.from(values)], { ...options, colLabels: options.labels });
}
