// The drawing pad: white ink on black, a thick round brush, like MNIST.
// Pointer events cover mouse, pen and touch alike; touch-action: none in the
// CSS keeps a finger from scrolling the page while it draws.

const THROTTLE_MS = 150; // how often a stroke in progress is sent to the model

export class DrawingPad {
  // onStroke() is called at most every THROTTLE_MS while drawing and once at
  // the end of each stroke.
  constructor(canvas, { onStroke }) {
    this.canvas = canvas;
    this.context = canvas.getContext("2d", { willReadFrequently: true });
    this.onStroke = onStroke;
    this.drawing = false;
    this.last = null;
    this.timer = null;
    this.lastSent = 0;
    this.brushFraction = 0.1;
    this.blank = true;
    this.clear();
    canvas.addEventListener("pointerdown", (e) => this.down(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    canvas.addEventListener("pointerup", (e) => this.up(e));
    canvas.addEventListener("pointercancel", (e) => this.up(e));
    canvas.addEventListener("lostpointercapture", (e) => this.up(e));
  }

  // A stroke about 1.3 input pixels wide once the pad is shrunk to n_W
  // columns, within 8% to 16% of the pad: readable at 8x8 and at 28x28.
  setInputWidth(n_W) {
    this.brushFraction = Math.max(0.08, Math.min(0.16, 1.3 / Math.max(1, n_W)));
  }

  clear() {
    const { context, canvas } = this;
    context.fillStyle = "#000";
    context.fillRect(0, 0, canvas.width, canvas.height);
    this.blank = true;
  }

  // The PNG without its "data:image/png;base64," prefix, as /api/forward takes it.
  png() {
    return this.canvas.toDataURL("image/png").split(",", 2)[1];
  }

  point(event) {
    const box = this.canvas.getBoundingClientRect();
    return [
      ((event.clientX - box.left) / box.width) * this.canvas.width,
      ((event.clientY - box.top) / box.height) * this.canvas.height,
    ];
  }

  down(event) {
    if (event.button !== undefined && event.button > 0) return; // left button, pen or finger only
    event.preventDefault();
    this.canvas.setPointerCapture?.(event.pointerId);
    this.drawing = true;
    this.last = this.point(event);
    this.line(this.last, this.last);
  }

  move(event) {
    if (!this.drawing) return;
    event.preventDefault();
    // Coalesced events keep fast strokes smooth between animation frames.
    const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [];
    for (const e of events.length ? events : [event]) {
      const p = this.point(e);
      this.line(this.last, p);
      this.last = p;
    }
    this.schedule();
  }

  up() {
    if (!this.drawing) return;
    this.drawing = false;
    this.last = null;
    clearTimeout(this.timer);
    this.timer = null;
    this.send();
  }

  line(from, to) {
    const { context, canvas } = this;
    context.strokeStyle = "#fff";
    context.lineCap = "round";
    context.lineJoin = "round";
    context.lineWidth = this.brushFraction * canvas.width;
    context.beginPath();
    context.moveTo(from[0], from[1]);
    context.lineTo(to[0], to[1]);
    context.stroke();
    this.blank = false;
  }

  schedule() {
    if (this.timer) return;
    const wait = Math.max(0, THROTTLE_MS - (performance.now() - this.lastSent));
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.drawing) this.send();
    }, wait);
  }

  send() {
    this.lastSent = performance.now();
    this.onStroke();
  }
}
