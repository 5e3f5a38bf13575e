// The Live tab of `tpsmm serve`: the camera's frames to the server over a WebSocket, the
// animated frames back, drawn beside the camera's picture (see tpsmm/serve/live.py for
// the protocol). Newest frame wins: a camera frame is sent only while fewer than
// maxInFlight are unanswered; the others are skipped, so latency cannot grow. While the
// server animates as many frames as it has workers (ready.workers), the next frame is
// taken once the server's time per frame, less one camera frame's interval (half of it
// with several workers), has passed since the server started on the oldest (when that
// was taken, or the answer before it came back, whichever is later): the camera's next
// frame after that moment reaches the server about when a worker is free, so the server
// neither idles while the page waits for a camera frame and encodes it, nor keeps a
// frame waiting a whole turn.
// window.tpsmmLive is what the Gradio components call, and what tests read.
(() => {
  "use strict";
  const JPEG_QUALITY = 0.8;
  const KEEP = 2000; // latencies and server times kept for stats()
  const STALE_MS = 5000; // a frame unanswered this long is taken as lost

  const state = {
    socket: null,
    stream: null,
    ready: null, // the server's "ready" message
    config: { source: null, model: null, follow: null, motionScale: 1 },
    seq: 0,
    inFlight: new Map(), // seq -> {captured, width, height, blob}
    shown: [], // {at, latency} of the frames shown in the last second
    latencies: [],
    times: [],
    counts: { sent: 0, shown: 0, references: 0, skipped: 0 },
    session: null,
    dropped: 0,
    lastHeader: null,
    referenceFrame: null,
    lastPair: null,
    timer: null,
    sendCanvas: null,
    maxInFlight: null, // null: the server's setting
    busy: 0, // the server's time per frame (ms), smoothed
    cameraInterval: 0, // ms between the camera's frames, smoothed
    lastCameraFrame: 0, // when the camera's last frame came
    lastAnswer: 0, // when the last answer came back
    lastDrawn: 0, // the seq of the frame drawn last
  };

  const byId = (id) => document.getElementById(id);

  function settings() {
    const view = byId("live-view");
    return view ? JSON.parse(view.dataset.settings) : { path: "/live/ws", maxInFlight: 2 };
  }

  function status(text) {
    const line = byId("live-status");
    if (line) line.textContent = text;
  }

  function send(message) {
    if (state.socket && state.socket.readyState === WebSocket.OPEN) {
      state.socket.send(JSON.stringify(message));
    }
  }

  function sendConfigure() {
    const { source, model, follow, motionScale } = state.config;
    const defaults = settings();
    if (!source || !source.path) {
      status("Pick a source image (upload one, or Use the sample).");
      return;
    }
    state.ready = null;
    status("Preparing the source...");
    send({
      type: "configure",
      source: { path: source.path, name: source.orig_name || "" },
      model: model || defaults.model,
      follow_face: follow === null ? defaults.follow : follow,
      motion_scale: motionScale,
    });
  }

  function configure(source, model, follow) {
    state.config.source = source || null;
    state.config.model = model || null;
    state.config.follow = follow === undefined || follow === null ? null : Boolean(follow);
    if (state.socket) sendConfigure();
  }

  function setMotionScale(value) {
    state.config.motionScale = Number(value);
    send({ type: "settings", motion_scale: state.config.motionScale });
  }

  function reset() {
    send({ type: "reset" });
  }

  async function start() {
    if (state.socket) return;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      status(
        "This page cannot use a camera: browsers allow it on https pages or on this " +
          "machine's own address (http://127.0.0.1 or http://localhost).",
      );
      return;
    }
    try {
      state.stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 640 }, height: { ideal: 480 } },
        audio: false,
      });
    } catch (error) {
      status(`No camera: ${error.message || error.name}`);
      return;
    }
    const video = byId("live-camera");
    video.srcObject = state.stream;
    await video.play().catch(() => {});
    openSocket();
    watchFrames(video);
    state.timer = setInterval(showFigures, 1000);
  }

  function stop(message) {
    if (state.socket) state.socket.close();
    state.socket = null;
    state.ready = null;
    state.inFlight.clear();
    if (state.stream) state.stream.getTracks().forEach((track) => track.stop());
    state.stream = null;
    clearInterval(state.timer);
    state.timer = null;
    status(message || "Stopped.");
  }

  function openSocket() {
    const { path } = settings();
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}${path}`);
    socket.binaryType = "arraybuffer";
    state.socket = socket;
    socket.onopen = () => sendConfigure();
    socket.onmessage = (event) => {
      if (typeof event.data === "string") onMessage(JSON.parse(event.data));
      else onResult(event.data);
    };
    socket.onclose = () => {
      if (state.socket === socket) stop("The server closed the session; press Start camera.");
    };
  }

  function onMessage(message) {
    if (message.type === "hello") {
      state.session = message.session;
      status(`Session ${message.session} open.`);
    } else if (message.type === "ready") {
      state.ready = message;
      const face = message.follow_face
        ? message.source_face
          ? " Following your face."
          : " Following your face (none found in the source: its centre is used)."
        : "";
      status(`Live.${face}`);
    } else if (message.type === "error") {
      if (message.seq !== undefined) state.inFlight.delete(message.seq); // not answered
      status(message.message);
      if (message.closed) stop(message.message);
    }
  }

  function watchFrames(video) {
    const next = (callback) =>
      video.requestVideoFrameCallback
        ? video.requestVideoFrameCallback(callback)
        : requestAnimationFrame(callback);
    const onFrame = () => {
      if (!state.stream) return;
      capture(video);
      next(onFrame);
    };
    next(onFrame);
  }

  function capture(video) {
    const ready = state.ready;
    if (!ready || !video.videoWidth) return;
    const captured = performance.now();
    for (const [seq, entry] of state.inFlight) {
      if (captured - entry.captured > STALE_MS) state.inFlight.delete(seq); // never answered
    }
    const full = state.inFlight.size >= (state.maxInFlight || settings().maxInFlight);
    if (state.lastCameraFrame) {
      const interval = captured - state.lastCameraFrame;
      const previous = state.cameraInterval;
      state.cameraInterval = previous ? 0.9 * previous + 0.1 * interval : interval;
    }
    state.lastCameraFrame = captured;
    const lead = Math.min(state.cameraInterval, state.busy / 2);
    const workers = ready.workers || 1;
    let early = false;
    if (state.inFlight.size >= workers) {
      const oldest = state.inFlight.values().next().value; // a Map keeps the sending order
      // With one worker the oldest started when the answer before it came back; with
      // several, others were answered while it ran.
      const serverStarted =
        workers > 1 ? oldest.captured : Math.max(oldest.captured, state.lastAnswer);
      // With several workers, half the lead: their frames' wait is the latency's
      // margin, and the frame rate has more (measured: benchmarks/RESULTS.md).
      early = captured - serverStarted < state.busy - (workers > 1 ? lead / 2 : lead);
    }
    if (full || early) {
      state.counts.skipped += 1;
      return;
    }
    const canvas = state.sendCanvas || (state.sendCanvas = document.createElement("canvas"));
    const [vw, vh] = [video.videoWidth, video.videoHeight];
    if (ready.follow_face) {
      // The whole picture, no larger than the server needs (it finds the face).
      const ratio = Math.min(1, ready.input_side / Math.max(vw, vh));
      canvas.width = Math.round(vw * ratio);
      canvas.height = Math.round(vh * ratio);
      canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height);
    } else {
      // The centre square at the model's size (the server's crop fit).
      const side = Math.min(vw, vh);
      canvas.width = canvas.height = ready.size;
      canvas
        .getContext("2d")
        .drawImage(video, (vw - side) / 2, (vh - side) / 2, side, side, 0, 0, ready.size, ready.size);
    }
    const seq = ++state.seq;
    const entry = { captured, width: canvas.width, height: canvas.height, blob: null };
    state.inFlight.set(seq, entry);
    canvas.toBlob(
      (blob) => {
        if (!blob || !state.socket || state.socket.readyState !== WebSocket.OPEN) {
          state.inFlight.delete(seq);
          return;
        }
        entry.blob = blob;
        const header = new TextEncoder().encode(JSON.stringify({ seq }));
        const length = new DataView(new ArrayBuffer(4));
        length.setUint32(0, header.length);
        state.socket.send(new Blob([length.buffer, header, blob]));
        state.counts.sent += 1;
      },
      "image/jpeg",
      JPEG_QUALITY,
    );
  }

  async function onResult(buffer) {
    const length = new DataView(buffer).getUint32(0);
    const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, length)));
    const entry = state.inFlight.get(header.seq);
    // With several workers answers may come out of order: only this frame and those
    // the server says it dropped are done.
    state.inFlight.delete(header.seq);
    for (const seq of header.dropped_seqs || []) state.inFlight.delete(seq);
    if (!entry) return;
    state.lastAnswer = performance.now();
    const busy = Object.entries(header.times)
      .filter(([stage]) => stage !== "wait")
      .reduce((sum, [, ms]) => sum + ms, 0);
    state.busy = state.busy ? 0.8 * state.busy + 0.2 * busy : busy;
    state.dropped = header.dropped;
    if (header.reference) {
      state.counts.references += 1;
      state.referenceFrame = entry.blob;
    }
    if (header.seq < state.lastDrawn) return; // a newer frame is on screen
    const result = new Blob([new Uint8Array(buffer, 4 + length)], { type: "image/jpeg" });
    const bitmap = await createImageBitmap(result);
    if (header.seq < state.lastDrawn) {
      bitmap.close(); // a newer answer was drawn while this one was decoded
      return;
    }
    state.lastDrawn = header.seq;
    const canvas = byId("live-result");
    if (canvas.width !== bitmap.width) [canvas.width, canvas.height] = [bitmap.width, bitmap.height];
    canvas.getContext("2d").drawImage(bitmap, 0, 0);
    bitmap.close();
    const now = performance.now();
    const latency = now - entry.captured;
    drawBox(header, entry);
    state.shown.push({ at: now, latency });
    remember(state.latencies, latency);
    remember(state.times, header.times);
    state.counts.shown += 1;
    state.lastHeader = header;
    state.lastPair = { frame: entry.blob, result, header };
  }

  function remember(list, value) {
    list.push(value);
    if (list.length > KEEP) list.shift();
  }

  function drawBox(header, entry) {
    const overlay = byId("live-overlay");
    if (!overlay) return;
    [overlay.width, overlay.height] = [entry.width, entry.height];
    const context = overlay.getContext("2d");
    context.clearRect(0, 0, overlay.width, overlay.height);
    if (!header.face) return;
    const [left, top, right, bottom] = header.box;
    context.strokeStyle = "#4ade80";
    context.lineWidth = Math.max(1, entry.width / 160);
    context.strokeRect(left, top, right - left, bottom - top);
  }

  function showFigures() {
    const now = performance.now();
    state.shown = state.shown.filter((frame) => frame.at > now - 1000);
    const latencies = state.shown.map((frame) => frame.latency).sort((a, b) => a - b);
    byId("live-fps").textContent = state.shown.length.toFixed(1);
    byId("live-latency").textContent = latencies.length ? median(latencies).toFixed(0) : "-";
    byId("live-dropped").textContent = String(state.dropped);
  }

  function median(sorted) {
    const middle = sorted.length >> 1;
    return sorted.length % 2 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  }

  function stats() {
    return {
      session: state.session,
      live: Boolean(state.ready),
      ...state.counts,
      dropped: state.dropped,
      latencies: [...state.latencies],
      times: [...state.times],
      last: state.lastHeader,
    };
  }

  const asDataUrl = (blob) =>
    blob &&
    new Promise((resolve) => {
      const reader = new FileReader();
      reader.onload = () => resolve(reader.result);
      reader.readAsDataURL(blob);
    });

  // The reference frame, the last frame answered and its result, as data URLs: what a
  // test needs to check the answer against the model.
  async function snapshot() {
    const pair = state.lastPair;
    if (!pair) return null;
    return {
      reference: await asDataUrl(state.referenceFrame),
      frame: await asDataUrl(pair.frame),
      result: await asDataUrl(pair.result),
      header: pair.header,
    };
  }

  // Frames sent and not yet answered, at most (benchmarks compare 1 and 2).
  function setMaxInFlight(count) {
    state.maxInFlight = Math.max(1, Number(count) || 1);
  }

  window.tpsmmLive = {
    configure,
    setMotionScale,
    start,
    stop,
    reset,
    stats,
    snapshot,
    setMaxInFlight,
  };
})();
