// The visible words of the overview, the layer index and the live-training
// card, in one table so that they can be translated in one place. A value is
// a string, or a function of the numbers it states. Elements of index.html
// marked data-s="key" take their text from here when the page starts.

export const STRINGS = {
  // the overview (graph.js)
  overviewHeading: "The network at a glance",
  overviewHint:
    "Each column is a layer (a CONV with its BN and ReLU share one), its channels as small maps; " +
    "click a value to see how it was computed, a column's name to open its details.",
  collapseBlocks: "Collapse the blocks",
  expandBlocks: "Expand the blocks",
  input: "input",
  prediction: "prediction",
  moreChannels: (n) => `+${n}`,
  channelCount: (n) => `${n} channels`,
  openDetails: (rows) => `${rows.join(" → ")}: open the details`,
  columnRange: (rows, lo, hi) => `${rows.join(" → ")}: ${lo} to ${hi}`,
  channelsOf: (n_C, n_H, n_W) => `${n_H}×${n_W}×${n_C}`,
  valuesOf: (n) => `${n} values`,
  blockKinds: {
    ResidualBlock: "residual block",
    InceptionModule: "Inception module",
    SqueezeExcitation: "squeeze and excitation",
    InvertedResidual: "inverted residual",
  },
  identityShortcut: "shortcut a[l]",
  scaledInput: "A_prev, scaled",
  openBlock: (name) => `${name}: click to expand`,
  closeBlock: (name) => `${name}: click to collapse`,
  pickConv: (layer, position, source, top, left, f_H, f_W, c) =>
    `${layer}[${position.join(", ")}] = the ${f_H}×${f_W} window of ${source} at rows ` +
    `${top}..${top + f_H - 1}, columns ${left}..${left + f_W - 1} (outlined), times filter W[:, :, :, ${c}]:`,
  pickPool: (layer, position, source, top, left, f_H, f_W) =>
    `${layer}[${position.join(", ")}] pools the ${f_H}×${f_W} window of ${source} at rows ` +
    `${top}..${top + f_H - 1}, columns ${left}..${left + f_W - 1} (outlined).`,
  pickDense: (layer, position, source) => `${layer}[${position.join(", ")}] reads every value of ${source}.`,
  pickSame: (layer, position, source) => `${layer}[${position.join(", ")}] reads ${source} at the same place.`,
  filterCaption: (c, k) => `W[:, :, ${k}, ${c}]`,

  // the layer index (layerindex.js)
  indexLabel: "Layers",
  indexOverview: "overview",
  indexInput: "input",
  indexTraining: "training",

  // live training (training.js, curve.js)
  trains: (model, dataset) => `Trains ${model} on ${dataset} from fresh weights`,
  trainsServed: "the served model's architecture and dataset",
  trainsOther: (note) => `not the served model: ${note}`,
  speed: (ips) => `${Math.round(ips).toLocaleString("en")} img/s`,
  curveStepLoss: "train loss, every few steps",
  curveTrainLoss: "train loss per epoch",
  curveDevLoss: "dev loss",
  curveDevAccuracy: "dev accuracy (right axis)",
  curveEmpty: "no step done yet",
  curveWhy: (smoothing, floor, augment) =>
    "The train loss is J as trained" +
    (smoothing ? ` with label smoothing ${smoothing} (even a perfect answer costs J = ${floor.toFixed(2)})` : "") +
    (augment && augment !== "none" ? ` on augmented images ('${augment}')` : "") +
    ", averaged over the last steps while the weights still move; the dev loss is plain J on held-out" +
    " images, measured at each epoch's end. So the train curve may lie above the dev curve.",
  epochAxis: "epoch",
  lossAxis: "loss J",
};

// Fills the elements marked data-s="key" under root with their words.
export function fillStrings(root = document) {
  for (const node of root.querySelectorAll("[data-s]")) {
    const value = STRINGS[node.dataset.s];
    if (typeof value === "string") node.textContent = value;
  }
}
