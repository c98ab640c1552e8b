// Arrays as the API sends them: {"shape": [...], "base64": "..."} of
// little-endian float32 in C order (channels last). Nested lists and plain
// numbers are accepted too, since requests and some answers may use them.

export function decode(value) {
  if (value === null || value === undefined) return null;
  if (typeof value === "number") return { shape: [], data: Float32Array.of(value) };
  if (Array.isArray(value)) return fromNested(value);
  if (typeof value === "object" && typeof value.base64 === "string" && Array.isArray(value.shape)) {
    return fromBase64(value.shape, value.base64);
  }
  throw new Error(`not an array: ${JSON.stringify(value).slice(0, 80)}`);
}

export function isArrayLike(value) {
  return (
    Array.isArray(value) ||
    (value !== null && typeof value === "object" && typeof value.base64 === "string" && Array.isArray(value.shape))
  );
}

function fromBase64(shape, base64) {
  const binary = atob(base64);
  const size = shape.reduce((a, b) => a * b, 1);
  if (binary.length !== size * 4) {
    throw new Error(`array of shape [${shape}] needs ${size * 4} bytes, got ${binary.length}`);
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  // DataView reads little-endian whatever the machine's byte order.
  const view = new DataView(bytes.buffer);
  const data = new Float32Array(size);
  for (let i = 0; i < size; i++) data[i] = view.getFloat32(i * 4, true);
  return { shape: shape.slice(), data };
}

function fromNested(list) {
  const shape = [];
  for (let level = list; Array.isArray(level); level = level[0]) shape.push(level.length);
  const flat = list.flat(Infinity).map((v) => (typeof v === "boolean" ? Number(v) : v));
  const size = shape.reduce((a, b) => a * b, 1);
  if (flat.length !== size) throw new Error(`ragged nested list of shape [${shape}]`);
  return { shape, data: Float32Array.from(flat) };
}

// Value at a multi-index (C order).
export function at(array, ...index) {
  let offset = 0;
  for (let k = 0; k < array.shape.length; k++) offset = offset * array.shape[k] + (index[k] ?? 0);
  return array.data[offset];
}

// Smallest and largest finite value.
export function extent(data) {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of data) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === Infinity) return [0, 0];
  return [lo, hi];
}

// A 2-D slice [rows][cols] of channel c of an (f, f, n_C) array, or of an (f, f) one.
export function slice2d(array, c = 0) {
  const [n_H, n_W] = array.shape;
  const n_C = array.shape.length > 2 ? array.shape[2] : 1;
  const rows = [];
  for (let i = 0; i < n_H; i++) {
    const row = [];
    for (let j = 0; j < n_W; j++) row.push(array.data[(i * n_W + j) * n_C + c]);
    rows.push(row);
  }
  return rows;
}
