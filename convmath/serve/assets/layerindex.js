// The layer index: a bar that stays at the top of the window, with a link to
// the overview, the input, every layer of the main line and every block (a
// block is one entry, however long), and the live training. A link scrolls
// to the details of its layer and opens its block if it was collapsed.

import { clear, el } from "./dom.js";
import { STRINGS } from "./i18n.js";

export class LayerIndex {
  // onOpen(name): show the details of a row or a block.
  constructor(root, { onOpen }) {
    this.root = root;
    this.onOpen = onOpen;
  }

  build(layers) {
    const blocks = layers.filter((r) => r.heading).map((r) => r.name);
    const inBlock = (name) => blocks.some((b) => name.startsWith(`${b}.`));
    const items = [
      this.link(STRINGS.indexOverview, () => scrollTo("overview-card"), "index-fixed"),
      this.link(STRINGS.indexInput, () => scrollTo("input-card"), "index-fixed"),
    ];
    for (const row of layers) {
      if (inBlock(row.name)) continue;
      const item = this.link(row.name, () => this.onOpen(row.name), row.heading ? "index-block" : "");
      item.dataset.layer = row.name;
      item.title = row.heading ? `${row.name} (${row.kind})` : `${row.name}: ${row.kind}`;
      items.push(item);
    }
    items.push(this.link(STRINGS.indexTraining, () => scrollTo("training-card"), "index-fixed"));
    clear(this.root, items);
  }

  link(text, action, kind) {
    return el("button", { type: "button", class: `index-item ${kind}`.trim(), onclick: action }, text);
  }
}

function scrollTo(id) {
  document.getElementById(id)?.scrollIntoView({ block: "start" });
}
