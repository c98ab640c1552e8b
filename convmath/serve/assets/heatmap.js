// Heat maps: values to colours on a canvas, one pixel per value, enlarged by
// CSS with image-rendering: pixelated so every value stays a visible square.
//
// Two scales: "sequential" (viridis, low dark blue to high yellow) for
// activations, from the layer's min to its max; "diverging" (blue < 0 < red,
// white at 0, symmetric) for gradients and weights, whose sign matters.

const VIRIDIS = [
  [68, 1, 84], [72, 40, 120], [62, 74, 137], [49, 104, 142], [38, 130, 142],
  [31, 158, 137], [53, 183, 121], [109, 205, 89], [180, 222, 44], [253, 231, 37],
];
const DIVERGING = [
  [33, 102, 172], [67, 147, 195], [146, 197, 222], [209, 229, 240], [247, 247, 247],
  [253, 219, 199], [244, 165, 130], [214, 96, 77], [178, 24, 43],
];
const GRAY = [[0, 0, 0], [255, 255, 255]];

function table(stops) {
  const lut = new Uint8ClampedArray(256 * 3);
  for (let k = 0; k < 256; k++) {
    const t = (k / 255) * (stops.length - 1);
    const i = Math.min(Math.floor(t), stops.length - 2);
    const u = t - i;
    for (let ch = 0; ch < 3; ch++) lut[k * 3 + ch] = stops[i][ch] * (1 - u) + stops[i + 1][ch] * u;
  }
  return lut;
}

export const SCALES = {
  sequential: { lut: table(VIRIDIS), stops: VIRIDIS },
  diverging: { lut: table(DIVERGING), stops: DIVERGING },
  gray: { lut: table(GRAY), stops: GRAY },
};

// The [lo, hi] a scale spans for values in [min, max]: diverging scales are
// symmetric about 0 so white always means zero.
export function scaleRange(kind, min, max) {
  if (kind === "diverging") {
    const m = Math.max(Math.abs(min), Math.abs(max));
    return [-m, m];
  }
  return [min, max];
}

export function colourOf(kind, value, lo, hi) {
  const { lut } = SCALES[kind];
  const k = hi > lo ? Math.round(((value - lo) / (hi - lo)) * 255) : kind === "diverging" ? 128 : 0;
  const idx = Math.max(0, Math.min(255, Number.isFinite(k) ? k : 0)) * 3;
  return [lut[idx], lut[idx + 1], lut[idx + 2]];
}

// Paints channel c of a (n_H, n_W, n_C) volume (or a 1 x n strip of a
// vector, or an RGB picture when rgb is set) onto canvas, on [lo, hi].
export function paint(canvas, array, { c = 0, kind = "sequential", lo, hi, rgb = false } = {}) {
  const { shape, data } = array;
  const n_H = shape.length >= 2 ? shape[0] : 1;
  const n_W = shape.length >= 2 ? shape[1] : shape[0] ?? 1;
  const n_C = shape.length >= 3 ? shape[2] : 1;
  if (canvas.width !== n_W) canvas.width = n_W;
  if (canvas.height !== n_H) canvas.height = n_H;
  const context = canvas.getContext("2d");
  const image = context.createImageData(n_W, n_H);
  const { lut } = SCALES[kind];
  const span = hi > lo ? 255 / (hi - lo) : 0;
  const flat = kind === "diverging" ? 128 : 0; // a constant map: zero's colour
  for (let p = 0; p < n_H * n_W; p++) {
    const out = p * 4;
    if (rgb) {
      for (let ch = 0; ch < 3; ch++) {
        const v = data[p * n_C + Math.min(ch, n_C - 1)];
        image.data[out + ch] = 255 * (span ? (v - lo) / (hi - lo) : 0);
      }
    } else {
      const v = data[p * n_C + c];
      let k = span ? Math.round((v - lo) * span) : flat;
      if (!(k >= 0)) k = 0;
      if (k > 255) k = 255;
      image.data[out] = lut[k * 3];
      image.data[out + 1] = lut[k * 3 + 1];
      image.data[out + 2] = lut[k * 3 + 2];
    }
    image.data[out + 3] = 255;
  }
  context.putImageData(image, 0, 0);
}

// The CSS gradient of a scale, for legends.
export function gradientCss(kind) {
  const { stops } = SCALES[kind];
  const parts = stops.map((s, i) => `rgb(${s.join(",")}) ${((100 * i) / (stops.length - 1)).toFixed(1)}%`);
  return `linear-gradient(to right, ${parts.join(", ")})`;
}

// How much to enlarge an n-pixel map so it reads at about 72 CSS pixels.
export function zoomFor(n, target = 72) {
  return Math.max(1, Math.floor(target / Math.max(1, n)));
}
