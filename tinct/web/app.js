// tinct web page: pick or drop an image, POST it to /api/v1/colorize, compare before/after;
// optionally guide the colours with colour points (hint models) or a reference image. DICOM,
// NIfTI and FITS files go to the same endpoint: one frame, slice or plane comes back as a PNG (the
// browser cannot show the file itself), with their own options and, for DICOM and NIfTI, a
// download of the whole file in colour.
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
    referenceClear: $("reference-clear"), options: $("options"), formatField: $("format-field"),
    medical: $("medical"), medicalLegend: $("medical-legend"), medicalHelp: $("medical-help"),
    windowMode: $("window-mode"), windowField: $("window-field"), window: $("window"),
    frame: $("frame"), frameLabel: $("frame-label"), mode: $("mode"), anonymize: $("anonymize"),
    stretch: $("stretch"), stretchField: $("stretch-field"),
    busyNote: $("busy-note"), exportLink: $("export"),
    vivid: $("vivid"), vividField: $("vivid-field"), vividValue: $("vivid-value"), vividHelp: $("vivid-help"),
  };

  const state = {
    file: null, originalURL: null, resultURL: null, grayURL: null,
    controller: null, timer: null, info: null, models: [], hasResult: false, modelChosen: false,
    // colour points in the input image's pixels ({x, y, color: "#rrggbb"}), the reference image file,
    // whether clicks on the image add points, and whether the guidance changed since the last run
    hints: [], reference: null, placing: false, dirty: false,
    // "dicom", "nifti" or "fits" while such a file is chosen (else null); the whole file in colour once
    // downloaded (a blob URL), and a counter that makes answers to outdated requests ignored
    kind: null, exportURL: null, exportBusy: false, runs: 0,
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
  const MEDICAL_TITLES = {
    415: "This server cannot read this file",
    422: "This file could not be used",
  };
  // what a DICOM, NIfTI or FITS file is called, how its frames are named, and its whole-file
  // download (none for FITS: the server answers a FITS file with a PNG only)
  const KINDS = {
    dicom: { label: "DICOM", part: "frame", format: "dcm", download: "Download DICOM",
      help: "One frame is shown (a PNG); “Download DICOM” saves every frame as a colour Secondary Capture." },
    nifti: { label: "NIfTI", part: "slice", format: "nii", download: "Download NIfTI",
      help: "One slice is shown (a PNG); “Download NIfTI” saves every slice as an RGB NIfTI (.nii.gz)." },
    fits: { label: "FITS", part: "plane", format: null, download: null,
      help: "One plane is shown (a PNG), which “Download PNG” saves; FITS files are answered as PNG only." },
  };
  const FITS_EXTENSIONS = [".fits", ".fit", ".fts", ".fits.gz", ".fit.gz", ".fts.gz"];
  const FITS_MAGIC = "SIMPLE  =";  // how a FITS file starts: its primary header's first card
  const capitalized = (word) => word.charAt(0).toUpperCase() + word.slice(1);

  function formatBytes(n) {
    if (n == null) return "?";
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} kB`;
    return `${(n / 1024 / 1024).toFixed(1)} MB`;
  }

  // ---- the access token (a server started with --token / TINCT_TOKEN) -----------------------
  // Asked for once, on the first 401, kept for this tab only (sessionStorage), sent as a Bearer header.
  let asking = null;  // one prompt for the requests that meet the 401 together
  async function api(url, init = {}) {
    const send = () => {
      const headers = new Headers(init.headers || {});
      const token = sessionStorage.getItem("tinct-token");
      if (token) headers.set("Authorization", `Bearer ${token}`);
      return fetch(url, { ...init, headers });
    };
    let res = await send();
    if (res.status === 401) {
      asking = asking || Promise.resolve(window.prompt("This tinct server needs an access token (ask whoever runs it):"));
      const token = await asking;
      if (token) {
        sessionStorage.setItem("tinct-token", token.trim());
        res = await send();
      }
      if (res.status === 401) asking = null;  // a wrong token: ask again next time
    }
    return res;
  }

  async function getJSON(url) {
    const res = await api(url, { headers: { Accept: "application/json" } });
    if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
    return res.json();
  }

  // ---- model list and limits -------------------------------------------------------------
  async function loadInfo() {
    try {
      const info = await getJSON("/api/v1/info");
      state.info = info;
      el.version.textContent = `tinct ${info.version}`;
      const medical = info.medical === false
        ? "DICOM, NIfTI and FITS need the server's medical extra (pip install 'tinct[medical]')"
        : "DICOM, NIfTI or FITS";
      el.limits.textContent = `JPEG, PNG, TIFF, WebP, BMP or GIF; ${medical} · up to ${formatBytes(info.max_body_bytes)} ` +
        `and ${Math.round(info.max_pixels / 1e6)} megapixels`;
      if (info.medical === false) el.file.accept = "image/*,.tif,.tiff";
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
      const marks = [m.default && "default", m.scan_default && "default for DICOM, NIfTI, FITS"].filter(Boolean);
      opt.textContent = m.name + (marks.length ? ` (${marks.join("; ")})` : "") + (m.takes_hints ? " · colour points" : "");
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
    // the colour/accuracy slider, for the models whose vividness can be chosen, at the model's own
    el.vividField.hidden = el.vividHelp.hidden = m.vivid == null;
    if (m.vivid != null) el.vivid.value = String(m.vivid);
    showVivid();
    updateGuide();
  }

  function showVivid() {
    el.vividValue.textContent = Number(el.vivid.value).toFixed(3).replace(/0+$/, "").replace(/\.$/, "");
  }

  // the slider's value when it differs from the model's own (else the server uses the model's)
  function chosenVivid() {
    const m = selectedModel();
    if (!m || m.vivid == null || el.vividField.hidden) return null;
    return Number(el.vivid.value) === m.vivid ? null : el.vivid.value;
  }

  // the model field of a request: the one shown, except that a DICOM, NIfTI or FITS file gets the
  // server's choice for scans (its scan_default, or the photo default for a vividness) until the
  // user picks a model, as `tinct colorize` without --model does
  function appendModel(form) {
    if (el.model.value && (!state.kind || state.modelChosen)) form.append("model", el.model.value);
  }

  // ---- colour points and reference image -------------------------------------------------
  function selectedModel() {
    const name = el.model.value || (state.models.find((m) => m.default) || {}).name;
    return state.models.find((m) => m.name === name);
  }

  // Points are sent only to a model that takes them, never together with a reference image, and
  // never for a DICOM, NIfTI or FITS file.
  function hintsUsable() {
    const m = selectedModel();
    return Boolean(m && m.takes_hints) && !state.reference && !state.kind;
  }

  function updateGuide() {
    const usable = hintsUsable();
    if (!usable && state.placing) setPlacing(false);
    el.hintPlace.disabled = !usable || !state.hasResult;
    el.hintClear.disabled = state.hints.length === 0;
    const n = state.hints.length;
    el.hintCount.textContent = n ? `${n} point${n > 1 ? "s" : ""}${usable ? "" : " (not used)"}` : "no points";
    if (state.kind) {
      el.hintHelp.textContent = "Colour points and reference images are for photos, not DICOM, NIfTI or FITS files.";
    } else if (state.reference) {
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
    if (state.file && !state.kind) run();
  }

  // ---- errors ----------------------------------------------------------------------------
  function showError(status, message) {
    el.errorTitle.textContent = (state.kind && MEDICAL_TITLES[status]) || TITLES[status] ||
      (status >= 500 ? "Server error" : "Request refused");
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
    el.exportLink.setAttribute("aria-disabled", String(busy || !state.hasResult || state.exportBusy));
    const medical = Boolean(state.kind) && view !== "idle";
    el.exportLink.hidden = !medical || !KINDS[state.kind].format;  // FITS: the PNG is the only download
    el.medical.hidden = !medical;
    el.stretchField.hidden = state.kind !== "fits";
    el.formatField.hidden = medical;  // a DICOM/NIfTI/FITS frame is always shown as a PNG
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

  // ---- DICOM, NIfTI and FITS -------------------------------------------------------------
  // What the server will take the file for (as tinct.medical.upload_kind): "dicom" for the DICM
  // marker at byte 128 or a .dcm/.dicom/.dic name, "fits" for the "SIMPLE  =" card at byte 0 or a
  // .fits/.fit/.fts(.gz) name, "nifti" for a .nii/.nii.gz name or a NIfTI-1/2 header (FITS and
  // NIfTI gzipped or not), else null (an ordinary image). Reads at most the first 64 kB.
  async function medicalKind(file) {
    const name = (file.name || "").toLowerCase();
    let head;
    try {
      head = new Uint8Array(await file.slice(0, 1 << 16).arrayBuffer());
    } catch (_) {
      head = new Uint8Array(0);
    }
    const ascii = (bytes, at, text) => [...text].every((c, i) => bytes[at + i] === c.charCodeAt(0));
    if (head.length >= 132 && ascii(head, 128, "DICM")) return "dicom";
    if (ascii(head, 0, FITS_MAGIC)) return "fits";
    if (name.endsWith(".nii") || name.endsWith(".nii.gz")) return "nifti";
    if (FITS_EXTENSIONS.some((ext) => name.endsWith(ext))) return "fits";
    if ([".dcm", ".dicom", ".dic"].some((ext) => name.endsWith(ext))) return "dicom";
    if (head[0] === 0x1f && head[1] === 0x8b) {
      head = await gunzipHead(head, 544);
      if (ascii(head, 0, FITS_MAGIC)) return "fits";
    }
    return niftiMagic(head) ? "nifti" : null;
  }

  function niftiMagic(h) {
    if (h.length < 12) return false;
    const view = new DataView(h.buffer, h.byteOffset, h.byteLength);
    const size = [view.getInt32(0, true), view.getInt32(0, false)];
    if (h.length >= 348 && h[344] === 0x6e && h[345] === 0x2b && h[346] === 0x31 && h[347] === 0) {
      return size.includes(348);  // "n+1\0"
    }
    return h[4] === 0x6e && h[5] === 0x2b && h[6] === 0x32 && h[7] === 0 && size.includes(540);  // "n+2\0"
  }

  // The first n bytes of a gzip stream (of which only the start is at hand); empty when not gzip.
  async function gunzipHead(bytes, n) {
    if (typeof DecompressionStream !== "function") return new Uint8Array(0);
    const reader = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip")).getReader();
    const out = new Uint8Array(n);
    let got = 0;
    try {
      while (got < n) {
        const { done, value } = await reader.read();
        if (done) break;
        const take = Math.min(value.length, n - got);
        out.set(value.subarray(0, take), got);
        got += take;
      }
    } catch (_) { /* not gzip, or cut short at 64 kB: what came out so far */ }
    reader.cancel().catch(() => {});
    return out.subarray(0, got);
  }

  function windowValue() {
    if (el.windowMode.value === "custom") return el.window.value.trim() || "auto";
    return el.windowMode.value;
  }

  // The DICOM/NIfTI/FITS fields of a request; the frame only for the PNG shown (not whole-file
  // answers), the stretch only for a FITS file.
  function appendMedical(form, withFrame) {
    const win = windowValue();
    if (win !== "auto") form.append("window", win);
    if (withFrame && el.frame.value !== "") form.append("frame", el.frame.value);
    if (el.mode.value !== "realistic") form.append("mode", el.mode.value);
    if (state.kind === "fits" && el.stretch.value !== "linear") form.append("stretch", el.stretch.value);
    if (el.anonymize.checked) form.append("anonymize", "true");
  }

  // The file as a form part: a DICOM/NIfTI/FITS file as application/octet-stream (browsers give such
  // files no type or one of their own), so the server looks at its bytes and name.
  function filePart() {
    if (!state.kind) return state.file;
    return state.file.slice(0, state.file.size, "application/octet-stream");
  }

  function setKind(kind) {
    state.kind = kind;
    el.download.textContent = kind ? "Download PNG" : "Download";
    if (!kind) return;
    const k = KINDS[kind];
    el.medicalLegend.textContent = `${k.label} options`;
    el.medicalHelp.textContent = k.help;
    el.frameLabel.textContent = capitalized(k.part);
    el.frame.value = "";  // the middle one
    el.frame.removeAttribute("max");
    el.frame.disabled = false;
    el.exportLink.textContent = k.download || "";
  }

  function dropExport() {
    revoke("exportURL");
    el.exportLink.href = "#";
  }

  // "Download DICOM/NIfTI": the whole file in colour, asked for on the first click (a POST with
  // format dcm or nii), then saved by the link itself. FITS files have no such download.
  async function exportWhole(e) {
    if (state.exportURL) return;  // ready: the link downloads it
    e.preventDefault();
    if (!state.kind || !state.hasResult || state.exportBusy) return;
    const k = KINDS[state.kind];
    if (!k.format) return;
    const ticket = state.runs;
    const form = new FormData();
    form.append("file", filePart(), state.file.name || "upload");
    form.append("format", k.format);
    appendModel(form);
    if (el.size.value) form.append("size", el.size.value);
    appendMedical(form, false);
    state.exportBusy = true;
    el.exportLink.setAttribute("aria-disabled", "true");
    el.exportLink.textContent = "Preparing…";
    clearError();
    try {
      const res = await api("/api/v1/colorize", { method: "POST", body: form });
      if (!res.ok) throw Object.assign(new Error(await errorText(res)), { status: res.status });
      const blob = await res.blob();
      if (ticket !== state.runs) return;  // the file or its options changed meanwhile
      const match = /filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") || "");
      state.exportURL = URL.createObjectURL(blob);
      el.exportLink.href = state.exportURL;
      el.exportLink.download = match ? match[1] : `colorized.${k.format}`;
      el.exportLink.click();
    } catch (err) {
      if (ticket !== state.runs) return;
      const status = err.status || 0;
      showError(status, status ? err.message : `No answer from the server (${err.message}). Is it still running?`);
    } finally {
      state.exportBusy = false;
      if (state.kind) el.exportLink.textContent = KINDS[state.kind].download || "";
      el.exportLink.setAttribute("aria-disabled", String(!state.hasResult || el.compare.dataset.state === "pending"));
    }
  }

  // ---- the work --------------------------------------------------------------------------
  async function pick(file) {
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
    const kind = await medicalKind(file);
    state.file = file;
    state.hasResult = false;
    state.hints = [];  // points belong to the image they were put on
    setKind(kind);
    setPlacing(false);
    updateGuide();
    revoke("originalURL");
    revoke("grayURL");
    el.before.removeAttribute("src");
    // a DICOM/NIfTI/FITS file cannot be shown by the browser: its gray "before" comes from the result
    if (!kind) state.originalURL = URL.createObjectURL(file);
    run();
  }

  async function run() {
    if (!state.file) return;
    clearError();
    if (state.controller) state.controller.abort();
    const controller = new AbortController();
    state.controller = controller;
    state.runs++;
    dropExport();

    // While waiting, show the original (dimmed) when the browser can display it.
    el.after.classList.add("after-preview");
    el.after.hidden = false;
    setView("pending");
    startTimer();
    el.busyNote.hidden = !state.kind || state.hasResult;
    if (state.kind) {
      el.busyNote.textContent = `${KINDS[state.kind].label} file: preview after colorizing`;
    }
    if (!state.hasResult && state.kind) {
      el.after.hidden = true;
      el.after.removeAttribute("src");
    } else if (!state.hasResult) {
      const preview = state.originalURL;
      loadImage(el.after, preview).catch(() => { if (el.after.src === preview) el.after.hidden = true; });
    }

    const form = new FormData();
    form.append("file", filePart(), state.file.name || (state.kind ? "upload" : "image"));
    appendModel(form);
    if (el.format.value && !state.kind) form.append("format", el.format.value);
    if (el.size.value) form.append("size", el.size.value);
    const vivid = state.kind ? null : chosenVivid();
    if (vivid != null) form.append("vivid", vivid);
    if (state.kind) {
      appendMedical(form, true);
    } else if (state.reference) {
      form.append("reference", state.reference, state.reference.name || "reference");
      form.append("method", el.method.value);
    } else if (hintsUsable() && state.hints.length) {
      form.append("hints", JSON.stringify(state.hints));
    }
    state.dirty = false;

    const t0 = performance.now();
    try {
      const res = await api("/api/v1/colorize", { method: "POST", body: form, signal: controller.signal });
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
      if (!state.originalURL) throw new Error("no original the browser can show");
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
    const model = res.headers.get("X-Tinct-Model") || el.model.value;
    const bits = [
      res.headers.get("X-Tinct-Mode") === "pseudo" ? `pseudo-colour (${model})` : model,
      `${el.after.naturalWidth} × ${el.after.naturalHeight}`,
    ];
    if (state.kind) bits.push(...medicalMeta(res));
    bits.push(`${type} ${formatBytes(blob.size)}`, `${seconds.toFixed(1)} s`);
    el.meta.textContent = bits.join(" · ");
    setView("done");
  }

  // The frame or slice shown and the window, from the answer's headers; the frame field follows.
  function medicalMeta(res) {
    const k = KINDS[state.kind];
    const frames = Number.parseInt(res.headers.get("X-Tinct-Frames") || "", 10);
    const frame = Number.parseInt(res.headers.get("X-Tinct-Frame") || "", 10);
    const bits = [];
    if (Number.isFinite(frames) && Number.isFinite(frame)) {
      el.frame.max = String(frames - 1);
      el.frame.value = String(frame);
      el.frame.disabled = frames < 2;
      el.frameLabel.textContent = `${capitalized(k.part)} (0 to ${frames - 1})`;
      bits.push(`${k.label} ${k.part} ${frame} (0 to ${frames - 1})`);
    } else {
      bits.push(k.label);
    }
    const win = res.headers.get("X-Tinct-Window");
    if (win) bits.push(`window ${win}`);
    return bits;
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
    state.runs++;
    setKind(null);
    setPlacing(false);
    ["originalURL", "resultURL", "grayURL"].forEach(revoke);
    dropExport();
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
  el.model.addEventListener("change", () => { state.modelChosen = true; describeModel(); });
  el.vivid.addEventListener("input", showVivid);
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
  el.exportLink.addEventListener("click", exportWhole);
  el.options.addEventListener("submit", (e) => e.preventDefault());  // Enter in a field sends nothing
  // DICOM/NIfTI/FITS options apply at once (a custom window once its text is entered)
  const rerun = () => { if (state.file && state.kind) run(); };
  el.windowMode.addEventListener("change", () => {
    const custom = el.windowMode.value === "custom";
    el.windowField.hidden = !custom;
    if (custom) el.window.focus();
    if (!custom || el.window.value.trim()) rerun();
  });
  el.window.addEventListener("change", rerun);
  el.frame.addEventListener("change", rerun);
  el.mode.addEventListener("change", rerun);
  el.stretch.addEventListener("change", rerun);
  el.anonymize.addEventListener("change", rerun);

  setPos(el.slider.value);
  setView("idle");
  updateGuide();
  loadInfo();
  loadModels();
})();
