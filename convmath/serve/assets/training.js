// Live training: start, pause / resume and stop a `convmath train` run of
// the served model's architecture on its dataset (the plan of /api/model
// says what it trains, and why not the served model if it cannot), poll its
// status while it goes, draw its loss every few steps and its epochs, and
// the first layer's filters as they learn; serve the trained model when done.

import { api } from "./api.js";
import { decode, extent } from "./arrays.js";
import { clear, el } from "./dom.js";
import { fmt } from "./format.js";
import { paint, zoomFor } from "./heatmap.js";
import { legend } from "./maps.js";
import { drawCurve } from "./curve.js";
import { STRINGS, t } from "./i18n.js";

const POLL_MS = 500; // while a run goes
const IDLE_POLL_MS = 5000; // otherwise: enough to notice a run another tab started
const ACTIVE = new Set(["running", "paused", "stopping"]);

export class TrainingView {
  // report(error) shows an error; onServed() reloads the model the page shows.
  constructor(elements, { report, onServed }) {
    Object.assign(this, elements); // epochs, start, pause, stop, serve, status, curve, filters, plan, why
    this.report = report;
    this.onServed = onServed;
    this.state = "idle";
    this.timer = null;
    this.generation = null; // of the model this page shows; another tab may swap it
    this.start.addEventListener("click", () => this.act(() => api.trainStart(this.epochCount())));
    this.pause.addEventListener("click", () =>
      this.act(() => (this.state === "paused" ? api.trainResume() : api.trainPause())),
    );
    this.stop.addEventListener("click", () => this.act(() => api.trainStop()));
    this.serve.addEventListener("click", () => this.useModel());
    this.status.textContent = t("training.state", { state: t(`state.${this.state}`) });
    drawCurve(this.curve, [], 0, []);
    this.buttons();
  }

  // What a run would train (plan: /api/model's live_training), and what its losses are.
  setPlan(plan) {
    this.planned = plan;
    this.describe(plan);
  }

  describe(plan) {
    if (!plan) return;
    const which = plan.same_as_served ? STRINGS.trainsServed : STRINGS.trainsOther(plan.note);
    this.plan.textContent = `${STRINGS.trains(plan.model, plan.dataset)} (${which}).`;
    this.plan.dataset.model = plan.model;
    this.plan.dataset.dataset = plan.dataset;
    this.plan.classList.toggle("other", !plan.same_as_served);
    const smoothing = plan.label_smoothing ?? 0;
    this.why.textContent = STRINGS.curveWhy(smoothing, smoothedFloor(smoothing, this.classes ?? 10), plan.augment);
  }

  epochCount() {
    const n = Math.round(Number(this.epochs.value));
    return Number.isFinite(n) ? Math.min(100, Math.max(1, n)) : 10;
  }

  async act(call) {
    try {
      await call();
    } catch (error) {
      this.report(error);
    }
    await this.refresh();
  }

  async refresh() {
    clearTimeout(this.timer);
    this.timer = null;
    const poll = (this.poll ?? 0) + 1; // only the newest refresh schedules the next one
    this.poll = poll;
    try {
      const status = await api.trainStatus();
      if (poll !== this.poll) return;
      this.show(status);
    } catch (error) {
      if (poll !== this.poll) return;
      this.report(error);
    }
    this.timer = setTimeout(() => this.refresh(), ACTIVE.has(this.state) ? POLL_MS : IDLE_POLL_MS);
  }

  show(status) {
    if (this.generation !== null && status.model_generation !== this.generation) {
      this.onServed(); // another tab served a newly trained model: show that one
    }
    this.generation = status.model_generation;
    this.state = status.state;
    this.status.dataset.state = status.state;
    this.lastStatus = status;
    this.describe(status.plan && ACTIVE.has(status.state) ? status.plan : this.planned ?? status.plan);
    this.showStatus(status);
    // A failed run's reason is reported once, not at every poll.
    if (status.error && status.error !== this.lastError) this.report(new Error(t("training.failed", { error: status.error })));
    this.lastError = status.error;
    if (status.filters) this.showFilters(decode(status.filters));
    this.buttons();
  }

  showStatus(status) {
    const state = t(`state.${status.state}`);
    const parts = [t("training.state", { state })];
    if (status.epochs) parts.push(t("training.epoch", { epoch: status.epoch ?? 0, epochs: status.epochs }));
    if (status.steps) parts.push(t("training.step", { step: status.step ?? 0, steps: status.steps }));
    if (status.images_per_second && ACTIVE.has(status.state)) parts.push(STRINGS.speed(status.images_per_second));
    const last = (status.history ?? []).at(-1);
    if (last) parts.push(t("training.lastAccuracy", { value: fmt(last.dev_accuracy) }));
    // The run's folder is a path, not words: marked so, it is left as it is.
    const [before, after] = t("training.in", { dir: "\u0000" }).split("\u0000");
    const folder = status.out_dir ? [" · ", before, el("code", { translate: "no" }, status.out_dir), after] : [];
    clear(this.status, parts.join(" · "), ...folder);
    drawCurve(this.curve, status.history ?? [], status.epochs ?? 0, status.points ?? []);
  }

  // The words again, in the language just chosen.
  redraw() {
    this.filtersKey = null; // their labels are built again
    if (this.planned) this.describe(this.planned);
    if (this.lastStatus) {
      this.showStatus(this.lastStatus);
      if (this.lastStatus.filters) this.showFilters(decode(this.lastStatus.filters));
    } else {
      this.status.textContent = t("training.state", { state: t(`state.${this.state}`) });
      drawCurve(this.curve, [], 0, []);
    }
    this.buttons();
  }

  buttons() {
    const active = ACTIVE.has(this.state);
    this.start.disabled = active;
    this.epochs.disabled = active;
    this.pause.disabled = !(this.state === "running" || this.state === "paused");
    this.pause.removeAttribute("data-i18n");
    this.pause.textContent = t(this.state === "paused" ? "training.resume" : "training.pause");
    this.stop.disabled = !(this.state === "running" || this.state === "paused");
    this.serve.hidden = !(this.state === "finished" || this.state === "stopped");
  }

  async useModel() {
    this.serve.disabled = true;
    try {
      const served = await api.trainServe();
      this.generation = served.generation; // this page reloads now, not again at the next poll
      await this.onServed();
    } catch (error) {
      this.report(error);
    } finally {
      this.serve.disabled = false;
    }
  }

  // W of shape (f, f, n_C_prev, n_C): one small map per filter and input
  // channel (or one colour picture per filter when n_C_prev is 3), all on
  // one symmetric scale so the filters can be compared.
  showFilters(W) {
    if (W.shape.length !== 4) return;
    const [f_H, f_W, n_C_prev, n_C] = W.shape;
    const [lo, hi] = extent(W.data);
    const m = Math.max(Math.abs(lo), Math.abs(hi));
    const rgb = n_C_prev === 3;
    const zoom = zoomFor(Math.max(f_H, f_W), 40);
    const key = W.shape.join();
    if (this.filtersKey !== key) {
      this.filtersKey = key;
      this.filterCanvases = [];
      const grid = el("div", { class: "filter-grid" });
      for (let c = 0; c < n_C; c++) {
        const slices = [];
        for (let cp = 0; cp < (rgb ? 1 : n_C_prev); cp++) {
          const canvas = el("canvas", {
            class: "map",
            style: `width: ${f_W * zoom}px; height: ${f_H * zoom}px`,
            "aria-label": rgb ? t("training.filterCell", { c }) : t("training.filterChannel", { c, k: cp }),
          });
          this.filterCanvases.push({ canvas, c, cp });
          slices.push(canvas);
        }
        grid.append(el("figure", { class: "map-cell" }, el("span", { class: "filter-stack" }, slices), el("figcaption", {}, `${c}`)));
      }
      this.legendSlot = el("span", { class: "legend-slot" });
      clear(this.filters, el("div", { class: "map-row-head" }, el("span", { class: "map-label" }, t("training.filters", { n: n_C, shape: `${f_H}×${f_W}×${n_C_prev}` })), this.legendSlot), grid);
    }
    for (const { canvas, c, cp } of this.filterCanvases) {
      const channels = rgb ? 3 : 1;
      const data = new Float32Array(f_H * f_W * channels);
      for (let p = 0; p < f_H * f_W; p++) {
        for (let k = 0; k < channels; k++) data[p * channels + k] = W.data[(p * n_C_prev + (rgb ? k : cp)) * n_C + c];
      }
      const slice = { shape: [f_H, f_W, channels], data };
      paint(canvas, slice, rgb ? { rgb: true, lo: -m, hi: m } : { kind: "diverging", lo: -m, hi: m });
    }
    clear(this.legendSlot, legend("diverging", -m, m));
  }
}

// The least J with label smoothing e over K classes: the cross-entropy of the
// smoothed target with itself, reached only by the answer that copies it.
function smoothedFloor(e, K) {
  if (!(e > 0)) return 0;
  const hit = 1 - e + e / K;
  const miss = e / K;
  return -(hit * Math.log(hit) + (K - 1) * miss * Math.log(miss));
}
