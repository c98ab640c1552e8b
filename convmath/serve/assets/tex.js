// Formulas typeset by KaTeX (vendor/katex, loaded by index.html before the
// page's modules), with the plain text as the fallback: if KaTeX did not load
// or cannot read a formula, the formula is shown as text, never lost.

import { el } from "./dom.js";

// One formula: TeX source `source`, plain-text `fallback` (default: the TeX).
// display: a formula on its own line, centred.
export function tex(source, fallback = source, { display = false } = {}) {
  const node = el("span", { class: display ? "tex tex-display" : "tex", translate: "no" });
  node.dataset.tex = source;
  const katex = window.katex;
  if (katex && source) {
    try {
      katex.render(source, node, { displayMode: display, throwOnError: true, output: "htmlAndMathml" });
      return node;
    } catch {
      // a formula KaTeX cannot read: shown as text below
    }
  }
  node.classList.add("tex-fallback");
  node.textContent = fallback ?? "";
  return node;
}

// Whether KaTeX is there to typeset (false: every formula shows as text).
export function typesetting() {
  return Boolean(window.katex);
}
