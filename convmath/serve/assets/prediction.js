// The prediction: the class the model picks, big, and every class's
// probability as a bar. A bar opens the softmax that made it.

import { clear, el } from "./dom.js";
import { fmt, percent } from "./format.js";
import { t } from "./i18n.js";

export class PredictionView {
  // onPick(k): open the softmax of class k in the formula panel.
  constructor({ big, caption, list }, { onPick }) {
    this.big = big;
    this.caption = caption;
    this.list = list;
    this.onPick = onPick;
  }

  show(answer, classes, source) {
    const probabilities = answer.probabilities ?? [];
    let best = 0;
    probabilities.forEach((p, k) => {
      if (p > probabilities[best]) best = k;
    });
    this.big.textContent = answer.prediction;
    this.big.dataset.source = source;
    this.caption.textContent = probabilities.length
      ? t("prediction.caption", { p: percent(probabilities[best]), top: (answer.top ?? []).map(([c, p]) => `${c} ${percent(p)}`).join(", ") })
      : "";
    clear(this.list);
    probabilities.forEach((p, k) => {
      const name = classes[k] ?? String(k);
      this.list.append(
        el(
          "li",
          {},
          el(
            "button",
            {
              type: "button",
              class: `prob${k === best ? " best" : ""}`,
              dataset: { class: name, index: k },
              // Its name is its visible text, class and probability; the title says more.
              title: t("prediction.barTitle", { name, p: fmt(p) }),
              onclick: () => this.onPick(k),
            },
            el("span", { class: "prob-label" }, name),
            " ",
            el("span", { class: "prob-bar", "aria-hidden": "true" }, el("span", { class: "prob-fill", style: `width: ${(100 * p).toFixed(2)}%` })),
            " ",
            el("span", { class: "prob-value" }, percent(p)),
          ),
        ),
      );
    });
  }

  reset(text) {
    this.big.textContent = "";
    delete this.big.dataset.source;
    this.caption.textContent = text;
    clear(this.list);
  }
}
