// tinct web page: pick or drop an image, POST it to /api/v1/colorize, compare before/after;
// optionally guide the colours with colour points (hint models) or a reference image.
// Plain JavaScript, no framework, no external asset: the page works offline under a strict CSP.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const el = {
    drop: $("drop"), file: $("file"), model: $("model"), format: $("format"), size: $("size"),
    modelDesc: $("model-desc"), limits: $("limits"), version: $("version"),
    error: $("error"), errorTitle: $("error-title"), errorStatus: $("error-status"),
    errorMessage: $("error-message"), errorClose: $("error-close"),
    work: $("work"), compare: $("compare"), before: $("before"), after: $("after"), slider: $("slider"),
    busyText: $("busy-text"), cancel: $("cancel"), meta: $("meta"),
    again: $("again"), reset: $("new"), download: $("download"),
    hintColor: $("hint-color"), hintPlace: $("hint-place"), hintClear: $("hint-clear"), hintCount: $("hint-count"),
    hintHelp: $("hint-help"), hintLayer: $("hint-layer"), reference: $("reference"), method: $("method"),
    referenceClear: $("reference-clear"),
  };

  const state = {
    file: null, originalURL: null, resultURL: null, grayURL: null,
    controller: null, timer: null, info: null, models: [], hasResult: false,
    // colour points in the input image's pixels ({x, y, color: "#rrggbb"}), the reference image file,
    // whether clicks on the image add points, and whether the guidance changed since the last run
    hints: [], reference: null, placing: false, dirty: false,
  };

  const TITLES = {
    0: "Cannot reach the server",
    400: "Nothing to colorize",
    413: "Too large for this server",
    415: "Not an image this server can read",
    422: "This image could not be used",
    503: "The server is busy",
    504: "That took too long",
  };

  function formatBytes(n) {
    if (n == null) return "?";
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} kB`;
    return `${(n / 1024 / 1024).toFixed(1)} MB`;
  }

  async function getJSON(url) {
    const res = await fetch(url, { headers: { Accept: "application/json" } });
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
    return res.json();
  }

  // ---- model list and limits -------------------------------------------------------------
  async function loadInfo() {
    try {
      const info = await getJSON("/api/v1/info");
      state.info = info;
      el.version.textContent = `tinct ${info.version}`;
      el.limits.textContent = `JPEG, PNG, TIFF, WebP, BMP or GIF · up to ${formatBytes(info.max_body_bytes)} ` +
        `and ${Math.round(info.max_pixels / 1e6)} megapixels`;
      el.size.min = info.min_working_size;
      el.size.max = info.max_working_size;
    } catch (e) {
      console.warn("no /api/v1/info", e);
    }
  }

  async function loadModels() {
    try {
      state.models = await getJSON("/api/v1/models");
    } catch (e) {
      showError(0, `Could not load the model list (${e.message}); the server's default model will be used.`);
      return;
    }
    el.model.replaceChildren(...state.models.map((m) => {
      const opt = document.createElement("option");
      opt.value = m.name;
      opt.textContent = (m.default ? `${m.name} (default)` : m.name) + (m.takes_hints ? " · colour points" : "");
      opt.selected = m.default;
      return opt;
    }));
    el.model.disabled = state.models.length < 2;
    describeModel();
  }

  function describeModel() {
    const m = state.models.find((x) => x.name === el.model.value);
    if (!m) { el.modelDesc.textContent = ""; return; }
    const bits = [m.description, `working size ${m.working_size} px`];
    if (m.parameters) bits.push(`${(m.parameters / 1e6).toFixed(1)} M parameters`);
    if (m.val_psnr != null) bits.push(`validation PSNR ${m.val_psnr.toFixed(2)} dB`);
    el.modelDesc.textContent = bits.join(" · ");
    el.size.placeholder = String(m.working_size);
    updateGuide();
  }

  // ---- colour points and reference image -------------------------------------------------
  function selectedModel() {
    const name = el.model.value || (state.models.find((m) => m.default) || {}).name;
    return state.models.find((m) => m.name === name);
  }

  // Points are sent only to a model that takes them, and never together with a reference image.
  function hintsUsable() {
    const m = selectedModel();
    return Boolean(m && m.takes_hints) && !state.reference;
  }

  function updateGuide() {
    const usable = hintsUsable();
    if (!usable && state.placing) setPlacing(false);
    el.hintPlace.disabled = !usable || !state.hasResult;
    el.hintClear.disabled = state.hints.length === 0;
    const n = state.hints.length;
    el.hintCount.textContent = n ? `${n} point${n > 1 ? "s" : ""}${usable ? "" : " (not used)"}` : "no points";
    if (state.reference) {
      el.hintHelp.textContent = "A reference image is chosen: its colours are used, not the points.";
    } else if (!usable) {
      el.hintHelp.textContent = "The chosen model takes no colour points; choose one marked “colour points”.";
    } else {
      el.hintHelp.textContent = "Press “Add points”, then click the image to give that spot this colour " +
        "(click a point again to remove it); “Done” colorizes with them.";
    }
    el.referenceClear.disabled = !state.reference;
    drawHints();
  }

  function setPlacing(on) {
    state.placing = on;
    el.hintPlace.setAttribute("aria-pressed", String(on));
    el.hintPlace.textContent = on ? "Done" : "Add points";
    el.compare.classList.toggle("placing", on);
    drawHints();
  }

  // Each point is a small button over the image, in the colour it asks for.
  function drawHints() {
    const w = el.after.naturalWidth;
    const h = el.after.naturalHeight;
    const dots = !w || !h ? [] : state.hints.map((p, i) => {
      const dot = document.createElement("button");
      dot.type = "button";
      dot.className = "hint-dot";
      dot.tabIndex = state.placing ? 0 : -1;
      dot.dataset.index = String(i);
      dot.style.left = `${((p.x + 0.5) / w) * 100}%`;
      dot.style.top = `${((p.y + 0.5) / h) * 100}%`;
      dot.style.setProperty("--dot", p.color);
      dot.title = `${p.color} at x ${p.x}, y ${p.y}` + (state.placing ? " (click to remove)" : "");
      dot.setAttribute("aria-label", dot.title);
      return dot;
    });
    el.hintLayer.replaceChildren(...dots);
  }

  // A click while placing: on a point removes it, elsewhere on the image adds one there, in the
  // pixel coordinates of the image itself (the result has the input's size and orientation).
  function onImageClick(e) {
    if (!state.placing || el.compare.dataset.state !== "done") return;
    e.preventDefault();
    const dot = e.target.closest(".hint-dot");
    if (dot) {
      state.hints.splice(Number(dot.dataset.index), 1);
    } else {
      const rect = el.after.getBoundingClientRect();
      const w = el.after.naturalWidth;
      const h = el.after.naturalHeight;
      if (!rect.width || !rect.height || !w || !h) return;
      const x = Math.floor(((e.clientX - rect.left) / rect.width) * w);
      const y = Math.floor(((e.clientY - rect.top) / rect.height) * h);
      if (x < 0 || y < 0 || x >= w || y >= h) return;
      state.hints.push({ x, y, color: el.hintColor.value });
    }
    state.dirty = true;
    updateGuide();
  }

  function clearHints() {
    const used = state.hints.length > 0 && hintsUsable();
    state.hints = [];
    updateGuide();
    if (used && state.hasResult) run();
  }

  function setReference(file) {
    state.reference = file || null;
    if (!file) el.reference.value = "";
    updateGuide();
    if (state.file) run();
  }

  // ---- errors ----------------------------------------------------------------------------
  function showError(status, message) {
    el.errorTitle.textContent = TITLES[status] || (status >= 500 ? "Server error" : "Request refused");
    el.errorStatus.textContent = status ? `HTTP ${status}` : "";
    el.errorMessage.textContent = message;
    el.error.hidden = false;
  }

  function clearError() { el.error.hidden = true; }

  async function errorText(res) {
    const body = await res.text();
    try {
      const parsed = JSON.parse(body);
      if (parsed && typeof parsed.error === "string") return parsed.error;
    } catch (_) { /* not JSON */ }
    return body.trim().slice(0, 300) || res.statusText || "no details";
  }

  // ---- views -----------------------------------------------------------------------------
  function setView(view) {
    el.compare.dataset.state = view;
    el.drop.hidden = view !== "idle";
    el.work.hidden = view === "idle";
    el.compare.classList.toggle("pending", view === "pending");
    const busy = view === "pending";
    el.again.disabled = busy || !state.file;
    el.download.setAttribute("aria-disabled", String(busy || !state.hasResult));
  }

  function setPos(percent) {
    el.compare.style.setProperty("--pos", `${percent}%`);
  }

  function revoke(key) {
    if (state[key]) URL.revokeObjectURL(state[key]);
    state[key] = null;
  }

  function loadImage(img, url) {
    img.src = url;
    return img.decode();
  }

  // A gray "before" made from the result when the browser cannot show the original (e.g. TIFF):
  // the result keeps the original's luminance, so its luminance is the original's gray image.
  async function grayFrom(img) {
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(img, 0, 0);
    const data = ctx.getImageData(0, 0, canvas.width, canvas.height);
    const lin = new Float32Array(256);
    for (let i = 0; i < 256; i++) {
      const c = i / 255;
      lin[i] = c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    }
    const p = data.data;
    for (let i = 0; i < p.length; i += 4) {
      const y = 0.2126 * lin[p[i]] + 0.7152 * lin[p[i + 1]] + 0.0722 * lin[p[i + 2]];
      const v = Math.round(255 * (y <= 0.0031308 ? 12.92 * y : 1.055 * y ** (1 / 2.4) - 0.055));
      p[i] = p[i + 1] = p[i + 2] = v;
    }
    ctx.putImageData(data, 0, 0);
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/png"));
    revoke("grayURL");
    state.grayURL = URL.createObjectURL(blob);
    return state.grayURL;
  }

  function startTimer() {
    const t0 = performance.now();
    stopTimer();
    el.busyText.textContent = "Colorizing…";
    state.timer = setInterval(() => {
      el.busyText.textContent = `Colorizing… ${((performance.now() - t0) / 1000).toFixed(1)} s`;
    }, 100);
  }

  function stopTimer() {
    if (state.timer) clearInterval(state.timer);
    state.timer = null;
  }

  // ---- the work --------------------------------------------------------------------------
  function pick(file) {
    if (!file) return;
    clearError();
    const limit = state.info && state.info.max_body_bytes;
    if (limit && file.size > limit) {
      showError(413, `${file.name} is ${formatBytes(file.size)}; this server accepts up to ${formatBytes(limit)}.`);
      return;
    }
    if (file.size === 0) {
      showError(400, `${file.name} is empty (0 bytes).`);
      return;
    }
    state.file = file;
    state.hasResult = false;
    state.hints = [];  // points belong to the image they were put on
    setPlacing(false);
    updateGuide();
    revoke("originalURL");
    state.originalURL = URL.createObjectURL(file);
    run();
  }

  async function run() {
    if (!state.file) return;
    clearError();
    if (state.controller) state.controller.abort();
    const controller = new AbortController();
    state.controller = controller;

    // While waiting, show the original (dimmed) when the browser can display it.
    el.after.classList.add("after-preview");
    el.after.hidden = false;
    setView("pending");
    startTimer();
    if (!state.hasResult) {
      const preview = state.originalURL;
      loadImage(el.after, preview).catch(() => { if (el.after.src === preview) el.after.hidden = true; });
    }

    const form = new FormData();
    form.append("file", state.file, state.file.name || "image");
    if (el.model.value) form.append("model", el.model.value);
    if (el.format.value) form.append("format", el.format.value);
    if (el.size.value) form.append("size", el.size.value);
    if (state.reference) {
      form.append("reference", state.reference, state.reference.name || "reference");
      form.append("method", el.method.value);
    } else if (hintsUsable() && state.hints.length) {
      form.append("hints", JSON.stringify(state.hints));
    }
    state.dirty = false;

    const t0 = performance.now();
    try {
      const res = await fetch("/api/v1/colorize", { method: "POST", body: form, signal: controller.signal });
      if (!res.ok) throw Object.assign(new Error(await errorText(res)), { status: res.status });
      const blob = await res.blob();
      if (state.controller !== controller) return;
      await showResult(blob, res, (performance.now() - t0) / 1000);
    } catch (e) {
      if (controller.signal.aborted || state.controller !== controller) return;
      const status = e.status || 0;
      showError(status, status ? e.message : `No answer from the server (${e.message}). Is it still running?`);
      backToLastResult();
    } finally {
      if (state.controller === controller) {
        state.controller = null;
        stopTimer();
      }
    }
  }

  async function showResult(blob, res, seconds) {
    revoke("resultURL");
    state.resultURL = URL.createObjectURL(blob);
    el.after.hidden = false;
    el.after.classList.remove("after-preview");
    await loadImage(el.after, state.resultURL);
    try {
      await loadImage(el.before, state.originalURL);
    } catch (_) {
      await loadImage(el.before, await grayFrom(el.after));
    }
    state.hasResult = true;
    updateGuide();
    const disposition = res.headers.get("Content-Disposition") || "";
    const match = /filename="([^"]+)"/.exec(disposition);
    el.download.href = state.resultURL;
    el.download.download = match ? match[1] : "colorized";
    const type = { "image/jpeg": "JPEG", "image/png": "PNG", "image/webp": "WebP" }[blob.type] || blob.type;
    el.meta.textContent = [
      res.headers.get("X-Tinct-Model") || el.model.value,
      `${el.after.naturalWidth} × ${el.after.naturalHeight}`,
      `${type} ${formatBytes(blob.size)}`,
      `${seconds.toFixed(1)} s`,
    ].join(" · ");
    setView("done");
  }

  // After a failed or cancelled run: the previous result if there is one, else the start.
  function backToLastResult() {
    el.after.classList.remove("after-preview");
    setView(state.hasResult ? "done" : "idle");
  }

  function reset() {
    if (state.controller) state.controller.abort();
    state.controller = null;
    stopTimer();
    state.file = null;
    state.hasResult = false;
    state.hints = [];
    setPlacing(false);
    ["originalURL", "resultURL", "grayURL"].forEach(revoke);
    el.after.removeAttribute("src");
    el.before.removeAttribute("src");
    el.meta.textContent = "";
    clearError();
    setView("idle");
    updateGuide();
    el.drop.focus();
  }

  // ---- events ----------------------------------------------------------------------------
  el.drop.addEventListener("click", () => el.file.click());
  el.drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); el.file.click(); }
  });
  el.file.addEventListener("change", () => {
    pick(el.file.files[0]);
    el.file.value = "";  // picking the same file again still fires "change"
  });

  // Dropping anywhere on the page works (and never navigates away to the dropped file).
  let dragDepth = 0;
  window.addEventListener("dragenter", (e) => { e.preventDefault(); dragDepth++; el.drop.classList.add("over"); });
  window.addEventListener("dragleave", () => { if (--dragDepth <= 0) { dragDepth = 0; el.drop.classList.remove("over"); } });
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => {
    e.preventDefault();
    dragDepth = 0;
    el.drop.classList.remove("over");
    const file = e.dataTransfer && e.dataTransfer.files[0];
    if (file) pick(file);
  });
  window.addEventListener("paste", (e) => {
    const file = e.clipboardData && [...e.clipboardData.files].find((f) => f.type.startsWith("image/"));
    if (file) pick(file);
  });

  el.slider.addEventListener("input", () => setPos(el.slider.value));
  el.cancel.addEventListener("click", () => {
    if (state.controller) state.controller.abort();
    state.controller = null;
    stopTimer();
    backToLastResult();
  });
  el.again.addEventListener("click", run);
  el.reset.addEventListener("click", reset);
  el.errorClose.addEventListener("click", clearError);
  el.model.addEventListener("change", describeModel);
  el.hintPlace.addEventListener("click", () => {
    const wasPlacing = state.placing;
    setPlacing(!state.placing);
    if (wasPlacing && state.dirty && state.file) run();  // "Done": colorize with the new points
  });
  el.hintClear.addEventListener("click", clearHints);
  el.compare.addEventListener("click", onImageClick);
  el.reference.addEventListener("change", () => setReference(el.reference.files[0]));
  el.referenceClear.addEventListener("click", () => setReference(null));
  el.method.addEventListener("change", () => { if (state.reference && state.file) run(); });
  el.download.addEventListener("click", (e) => { if (!state.hasResult) e.preventDefault(); });

  setPos(el.slider.value);
  setView("idle");
  updateGuide();
  loadInfo();
  loadModels();
})();
