// Numbers and shapes as the page writes them: 4 significant digits, which is
// what a learner can compare by eye against the article's formulas.

export function fmt(x) {
  if (x === null || x === undefined) return "–";
  if (typeof x === "boolean") return String(x);
  if (typeof x !== "number") return String(x);
  if (Number.isNaN(x)) return "NaN";
  if (!Number.isFinite(x)) return x > 0 ? "inf" : "-inf";
  if (x === 0) return "0";
  const size = Math.abs(x);
  if (size >= 1e-3 && size < 1e5) return String(Number(x.toPrecision(4)));
  return x.toExponential(3).replace(/\.?0+e/, "e");
}

export function percent(p) {
  return `${(100 * p).toFixed(1)}%`;
}

export function shapeText(shape) {
  if (!shape) return "";
  return shape.length ? shape.join(" × ") : "scalar";
}
