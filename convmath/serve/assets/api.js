// The JSON API of `convmath serve` (docs/SERVE.md): one function per endpoint.
// Every failure becomes an ApiError whose message names the endpoint and what
// the server said, so the page can show it in its status line.

export class ApiError extends Error {
  constructor(message, status = 0) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

async function request(method, path, body) {
  const init = { method, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(`${method} ${path}: the server cannot be reached (${error.message})`);
  }
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null; // reported below: the API always answers JSON
  }
  if (!response.ok) {
    const why = data && typeof data.error === "string" ? data.error : `${response.status} ${response.statusText}`;
    throw new ApiError(`${method} ${path}: ${why}`, response.status);
  }
  if (data === null || typeof data !== "object") {
    throw new ApiError(`${method} ${path}: the answer is not a JSON object`, response.status);
  }
  return data;
}

const get = (path) => request("GET", path);
const post = (path, body = {}) => request("POST", path, body);

export const api = {
  model: () => get("/api/model"),
  samples: () => get("/api/samples"),
  forward: (image) => post("/api/forward", { image }),
  explain: (image, layer, position) => post("/api/explain", { image, layer, position }),
  backward: (image, target, options = {}) => post("/api/backward", { image, target, ...options }),
  trainStart: (epochs) => post("/api/train/start", { epochs }),
  trainPause: () => post("/api/train/pause"),
  trainResume: () => post("/api/train/resume"),
  trainStop: () => post("/api/train/stop"),
  trainStatus: () => get("/api/train/status"),
  trainServe: () => post("/api/train/serve"),
};

// Runs one request at a time for a view that only ever needs the newest
// answer (forward while drawing): a call made while one is in flight waits,
// and only the last of the waiting calls is sent. Stale answers are dropped.
export class Latest {
  constructor() {
    this.busy = false;
    this.next = null;
  }

  run(task) {
    return new Promise((resolve, reject) => {
      if (this.next) this.next.resolve(undefined); // superseded before it was sent
      this.next = { task, resolve, reject };
      this.pump();
    });
  }

  async pump() {
    if (this.busy || !this.next) return;
    const { task, resolve, reject } = this.next;
    this.next = null;
    this.busy = true;
    try {
      const result = await task();
      // A newer call is waiting: this answer is already out of date.
      resolve(this.next ? undefined : result);
    } catch (error) {
      if (this.next) resolve(undefined);
      else reject(error);
    } finally {
      this.busy = false;
      this.pump();
    }
  }
}
