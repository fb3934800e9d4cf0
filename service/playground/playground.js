// RNN Zoo playground: vanilla JS, no dependencies. Every request goes to this service's own API (paths
// relative to the page, so a reverse proxy's prefix keeps working); every error it returns is shown.
"use strict";

const $ = (id) => document.getElementById(id);

// Series colours; tests/test_playground.py counts these pixels in screenshots of the charts.
const COLOURS = {
  closes: "#1c7ed6",   // price history line
  band: "#ffd8a8",     // 10%-90% forecast band (opaque)
  median: "#e8590c",   // 50% forecast line
  risk: "#c2255c",     // mortality risk line
  primer: "#868e96",   // piano roll: the primer's notes
  notes: "#7048e8",    // piano roll: the generated notes
  attention: "#1971c2",  // attention heat map: a cell's weight is this colour's opacity
  axis: "#868e96", grid: "#f1f3f5", text: "#495057",
};

// --- talking to the API ---------------------------------------------------------------------------
class ApiError extends Error {
  constructor(title, message) {
    super(message);
    this.title = title;
  }
}

/** The {"error", "detail"} body of a failed response (or its raw text) as an ApiError. */
async function apiError(method, path, response) {
  const text = await response.text();
  let message = text.trim() || "(empty body)";
  try {
    let body = JSON.parse(text);
    if (Array.isArray(body) && body.length === 1) body = body[0];
    if (body && typeof body.error === "string") {
      message = body.error;
      if (body.detail !== undefined && body.detail !== null && body.detail !== "") {
        message += `\n${typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)}`;
      }
    }
  } catch (_) { /* not JSON: the text as it came */ }
  const status = `${response.status}${response.statusText ? " " + response.statusText : ""}`;
  return new ApiError(`${method} /${path} answered ${status}`, message);
}

async function request(method, path, body, signal) {
  let response;
  try {
    response = await fetch(path, {
      method, signal,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(`${method} /${path} failed`, `cannot reach the service: ${error.message}`);
  }
  if (!response.ok) throw await apiError(method, path, response);
  return response;
}

const getJSON = async (path) => (await request("GET", path)).json();
const postJSON = async (path, body) => (await request("POST", path, body)).json();

function showError(id, error) {
  const box = $(id);
  box.replaceChildren();
  if (!error) {
    box.hidden = true;
    return;
  }
  const title = document.createElement("strong");
  title.textContent = error instanceof ApiError ? error.title : "Error in the page";
  box.append(title, document.createTextNode(error.message || String(error)));
  box.hidden = false;
  if (!(error instanceof ApiError)) console.warn(error);  // a bug here, not an API answer: keep the stack
}

/** Runs `action` with the button disabled; any error lands in the section's error box. */
async function guarded(button, errorId, action) {
  button.disabled = true;
  showError(errorId, null);
  try {
    await action();
  } catch (error) {
    showError(errorId, error);
  } finally {
    button.disabled = false;
  }
}

// --- the catalogue: which models each section offers ----------------------------------------------
const SECTIONS = {
  generation: { select: "gen-model", summary: "gen-model-summary", button: "gen-run" },
  sentiment: { select: "sent-model", summary: "sent-model-summary", button: "sent-run" },
  forecasting: { select: "fc-model", summary: "fc-model-summary", button: "fc-run" },
  vitals: { select: "vit-model", summary: "vit-model-summary", button: "vit-run" },
  music: { select: "mus-model", summary: "mus-model-summary", button: "mus-run" },
  speech: { select: "sp-model", summary: "sp-model-summary", button: "sp-run" },
  translation: { select: "tr-model", summary: "tr-model-summary", button: "tr-run" },
};
const cards = {};  // name -> card

function describe(task) {
  const { select, summary } = SECTIONS[task];
  const card = cards[$(select).value];
  const metric = card && card.metrics && card.metrics[0];
  $(summary).textContent = card
    ? `${card.summary || card.name}` + (metric ? ` — ${metric.name.replaceAll("_", " ")} ${metric.value}` : "")
    : "The service picks its best model for this task.";
}

async function loadCatalogue() {
  try {
    const catalogue = await getJSON("models");
    const models = catalogue.models || [];
    for (const card of models) cards[card.name] = card;
    for (const [task, { select, button }] of Object.entries(SECTIONS)) {
      const names = models.filter((card) => card.task === task).map((card) => card.name).sort();
      const menu = $(select);
      menu.replaceChildren(new Option("default (the service's best)", ""),
                           ...names.map((name) => new Option(name, name)));
      menu.addEventListener("change", () => describe(task));
      describe(task);
      if (!names.length) {
        $(button).disabled = true;
        $(SECTIONS[task].summary).textContent = `No ${task} model is served.`;
      }
    }
    const broken = Object.entries(catalogue.broken || {});
    $("catalogue-status").textContent = `${models.length} models served.`;
    if (broken.length) {
      $("catalogue-warning").textContent = "Not served (refused at start-up):\n" +
        broken.map(([name, reason]) => `${name}: ${reason}`).join("\n");
      $("catalogue-warning").hidden = false;
    }
  } catch (error) {
    $("catalogue-status").textContent = "";
    showError("catalogue-error", error);
  }
}

/** The selected model, or nothing: the service then uses its default. */
function withModel(body, selectId) {
  const model = $(selectId).value;
  if (model) body.model = model;
  return body;
}

/** A number field's value as a number; anything else as typed, so the API says what is wrong with it. */
function numberOrRaw(text) {
  const trimmed = String(text).trim();
  const value = Number(trimmed);
  return trimmed !== "" && Number.isFinite(value) ? value : trimmed;
}

// --- 1. generation, streamed ----------------------------------------------------------------------
let generation = null;  // the AbortController of the stream in flight

/** Server-sent events from a fetch body: yields {event, data} per event (the spec's parsing, in short). */
async function* serverSentEvents(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer = (buffer + value).replace(/\r\n/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = "message";
        const data = [];
        for (const line of block.split("\n")) {
          if (!line || line.startsWith(":")) continue;  // comments keep connections alive
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let value = colon < 0 ? "" : line.slice(colon + 1);
          if (value.startsWith(" ")) value = value.slice(1);
          if (field === "event") event = value;
          else if (field === "data") data.push(value);
        }
        if (data.length) yield { event, data: data.join("\n") };
      }
      yield null;  // the end of one network read: a moment to draw
    }
  } finally {
    reader.releaseLock();
  }
}

async function generate() {
  const output = $("gen-output"), text = $("gen-text"), status = $("gen-status");
  const prompt = $("gen-prompt").value;
  const body = withModel({
    prompt, temperature: Number($("gen-temperature").value), max_new_tokens: numberOrRaw($("gen-length").value),
  }, "gen-model");
  if ($("gen-seed").value.trim() !== "") body.seed = numberOrRaw($("gen-seed").value);
  $("gen-output-prompt").textContent = prompt;
  text.textContent = "";
  status.textContent = "Starting…";
  status.dataset.state = "running";
  generation = new AbortController();
  $("gen-stop").disabled = false;
  const started = performance.now();
  let generated = "", done = null;
  try {
    const response = await request("POST", "generate_stream", body, generation.signal);
    output.classList.add("streaming");
    for await (const message of serverSentEvents(response.body)) {
      if (message === null) {  // draw once per network read, not once per character
        text.textContent = generated;
        output.scrollTop = output.scrollHeight;
        status.textContent = `Streaming… ${generated.length} characters`;
      } else if (message.event === "message") {
        const { token } = JSON.parse(message.data);
        if (typeof token === "string") generated += token;
      } else if (message.event === "done") {
        done = JSON.parse(message.data);
      } else if (message.event === "error") {
        throw new ApiError("the stream reported an error", message.data);
      }
    }
    if (done === null) {
      throw new ApiError("the stream ended early", `the connection closed before the final "done" event, after ` +
                         `${generated.length} characters (kept above)`);
    }
    text.textContent = done.text;
    const seconds = (performance.now() - started) / 1000;
    status.textContent = `${done.model}: ${done.tokens_generated} characters in ${seconds.toFixed(1)} s ` +
                         `(finish reason: ${done.finish_reason})`;
    status.dataset.state = "done";
    if (done.finish_reason === "error") {
      throw new ApiError("the generation failed part-way", "a model step failed on the server (finish_reason " +
                         "\"error\"); the text above is what came before it");
    }
  } catch (error) {
    if (error.name === "AbortError") {
      text.textContent = generated;
      status.textContent = `Stopped after ${generated.length} characters.`;
      status.dataset.state = "stopped";
      return;
    }
    if (status.dataset.state !== "done") {
      status.textContent = "";
      status.dataset.state = "failed";
    }
    throw error;
  } finally {
    output.classList.remove("streaming");
    $("gen-stop").disabled = true;
    generation = null;
  }
}

// --- 2. sentiment -------------------------------------------------------------------------------------
async function classify() {
  const texts = $("sent-texts").value.split("\n").map((line) => line.trim()).filter((line) => line);
  const list = $("sent-results");
  list.replaceChildren();
  $("sent-status").textContent = "";
  const answer = await postJSON("sentiment", withModel({ texts }, "sent-model"));
  answer.predictions.forEach((prediction, i) => {
    const row = document.createElement("li");
    row.dataset.label = prediction.label;
    const sentence = document.createElement("span");
    sentence.className = "sentence";
    sentence.textContent = texts[i];
    const badge = document.createElement("span");
    badge.className = `badge ${prediction.label}`;
    badge.textContent = prediction.label;
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.title = `P(positive) = ${prediction.positive.toFixed(4)}`;
    const fill = document.createElement("div");
    fill.style.width = `${(100 * prediction.positive).toFixed(1)}%`;
    bar.append(fill);
    const probability = document.createElement("span");
    probability.className = "probability";
    probability.textContent = `${(100 * prediction.positive).toFixed(1)}%`;
    row.append(sentence, badge, bar, probability);
    list.append(row);
  });
  $("sent-status").textContent = `${answer.model}: the bar and the number are P(positive).`;
}

// --- charts -----------------------------------------------------------------------------------------
/** The canvas sized to its box (sharp on high-DPI screens), cleared to white: {ctx, width, height}. */
function prepare(canvas) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || 640, height = canvas.clientHeight || 320;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, width, height);
  return { ctx, width, height };
}

/** A blank chart while a new answer is awaited: an old chart must not pass for the new input's. */
function clearChart(canvas) {
  prepare(canvas);
  delete canvas.dataset.rendered;
}

/** Round tick values covering [low, high]. */
function ticks(low, high, count = 5) {
  if (!(high > low)) { const pad = Math.abs(low) * 0.05 || 1; low -= pad; high += pad; }
  const rough = (high - low) / count;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = magnitude * [1, 2, 2.5, 5, 10].find((m) => m * magnitude >= rough);
  const first = Math.floor(low / step) * step, last = Math.ceil(high / step) * step;
  const values = [];
  for (let v = first; v <= last + step / 2; v += step) values.push(Number(v.toPrecision(12)));
  return { low: first, high: last, step, values };
}

/** Digits after the point that a tick step needs (2.5 -> 1, 0.02 -> 2, 10 -> 0). */
function decimals(step) {
  return (String(Number(step.toPrecision(6))).split(".")[1] || "").length;
}

/** Axes, grid, tick labels and axis titles; returns the data -> pixel maps of the plot area. */
function frame(ctx, width, height, x, y, labels) {
  const box = { left: 64, right: width - 18, top: 34, bottom: height - 46 };
  const px = (v) => box.left + (v - x.low) / (x.high - x.low) * (box.right - box.left);
  const py = (v) => box.bottom - (v - y.low) / (y.high - y.low) * (box.bottom - box.top);
  ctx.font = "12px system-ui, sans-serif";
  ctx.lineWidth = 1;
  ctx.fillStyle = COLOURS.text;
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const v of y.values) {
    ctx.strokeStyle = COLOURS.grid;
    ctx.beginPath(); ctx.moveTo(box.left, Math.round(py(v)) + 0.5); ctx.lineTo(box.right, Math.round(py(v)) + 0.5);
    ctx.stroke();
    ctx.fillText(labels.y(v), box.left - 7, py(v));
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (const v of x.values) {
    ctx.strokeStyle = COLOURS.axis;
    ctx.beginPath(); ctx.moveTo(Math.round(px(v)) + 0.5, box.bottom); ctx.lineTo(Math.round(px(v)) + 0.5, box.bottom + 4);
    ctx.stroke();
    ctx.fillText(labels.x(v), px(v), box.bottom + 7);
  }
  ctx.strokeStyle = COLOURS.axis;
  ctx.beginPath();
  ctx.moveTo(box.left + 0.5, box.top); ctx.lineTo(box.left + 0.5, box.bottom + 0.5); ctx.lineTo(box.right, box.bottom + 0.5);
  ctx.stroke();
  ctx.fillText(labels.xTitle, (box.left + box.right) / 2, box.bottom + 25);
  ctx.save();
  ctx.translate(15, (box.top + box.bottom) / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textBaseline = "middle";
  ctx.fillText(labels.yTitle, 0, 0);
  ctx.restore();
  return { box, px, py };
}

/** A legend row above the plot: entries {label, colour, kind: "line" | "box"}. */
function legend(ctx, box, entries) {
  ctx.font = "12px system-ui, sans-serif";
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  let x = box.left;
  const y = 14;
  for (const { label, colour, kind } of entries) {
    if (kind === "box") {
      ctx.fillStyle = colour;
      ctx.fillRect(x, y - 6, 18, 12);
    } else {
      ctx.strokeStyle = colour;
      ctx.lineWidth = 2.5;
      ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x + 18, y); ctx.stroke();
    }
    ctx.fillStyle = COLOURS.text;
    ctx.fillText(label, x + 24, y);
    x += 24 + ctx.measureText(label).width + 18;
  }
}

function line(ctx, points, colour, width) {
  ctx.strokeStyle = colour;
  ctx.lineWidth = width;
  ctx.lineJoin = "round";
  ctx.lineCap = "round";
  ctx.beginPath();
  points.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
  ctx.stroke();
}

// --- 3. stock forecast --------------------------------------------------------------------------------
const SHOWN_CLOSES = 60;  // history drawn before the fan: enough context, and the fan stays readable
let lastForecast = null;

function countCloses() {
  const count = $("fc-closes").value.split(/[\s,;]+/).filter((t) => t).length;
  $("fc-count").textContent = `${count} values`;
}

async function forecast() {
  $("fc-status").textContent = "";
  $("fc-table").hidden = true;
  lastForecast = null;
  clearChart($("fc-chart"));
  const closes = $("fc-closes").value.split(/[\s,;]+/).filter((t) => t).map(numberOrRaw);
  const answer = await postJSON("stock_forecast", withModel({ closes, horizon: Number($("fc-horizon").value) },
                                                             "fc-model"));
  lastForecast = { closes: closes.map(Number), answer };
  drawForecast();
  const rows = answer.forecast.map((day) => {
    const row = document.createElement("tr");
    for (const value of [`+${day.day}`, day.p10.toFixed(2), day.p50.toFixed(2), day.p90.toFixed(2)]) {
      const cell = document.createElement("td");
      cell.textContent = value;
      row.append(cell);
    }
    return row;
  });
  $("fc-table").tBodies[0].replaceChildren(...rows);
  $("fc-table").hidden = false;
  $("fc-status").textContent = `${answer.model}: forecast from the last close, ${answer.last_close.toFixed(2)}.`;
}

function drawForecast() {
  if (!lastForecast) return;
  const canvas = $("fc-chart");
  const { ctx, width, height } = prepare(canvas);
  const { closes, answer } = lastForecast;
  const shown = closes.slice(-SHOWN_CLOSES);
  const history = shown.map((close, i) => [i - (shown.length - 1), close]);  // day 0 = the last close
  const days = answer.forecast;
  const horizon = days[days.length - 1].day;
  const prices = [...shown, ...days.flatMap((d) => [d.p10, d.p90])];
  const y = ticks(Math.min(...prices), Math.max(...prices), 6);
  const x = ticks(history[0][0], horizon, 7);
  x.low = history[0][0]; x.high = horizon;
  x.values = x.values.filter((v) => v >= x.low && v <= x.high);
  if (!x.values.includes(horizon)) x.values.push(horizon);
  const { box, px, py } = frame(ctx, width, height, x, y, {
    x: (v) => (v > 0 ? `+${v}` : `${v}`), y: (v) => v.toFixed(decimals(y.step)),
    xTitle: `trading days relative to the last close (showing the last ${shown.length} of ${closes.length})`,
    yTitle: "price",
  });
  const last = answer.last_close;
  // the fan: from the last close out to p90 above and p10 below, opaque so it reads on any background
  ctx.fillStyle = COLOURS.band;
  ctx.beginPath();
  ctx.moveTo(px(0), py(last));
  for (const d of days) ctx.lineTo(px(d.day), py(d.p90));
  for (const d of [...days].reverse()) ctx.lineTo(px(d.day), py(d.p10));
  ctx.closePath();
  ctx.fill();
  ctx.setLineDash([4, 4]);
  line(ctx, [[px(0), box.top], [px(0), box.bottom]], COLOURS.axis, 1);
  ctx.setLineDash([]);
  line(ctx, history.map(([d, c]) => [px(d), py(c)]), COLOURS.closes, 2);
  const median = [[px(0), py(last)], ...days.map((d) => [px(d.day), py(d.p50)])];
  line(ctx, median, COLOURS.median, 2.5);
  ctx.fillStyle = COLOURS.median;
  for (const [mx, my] of median.slice(1)) { ctx.beginPath(); ctx.arc(mx, my, 3, 0, 2 * Math.PI); ctx.fill(); }
  legend(ctx, box, [
    { label: "closes", colour: COLOURS.closes, kind: "line" },
    { label: "forecast median (p50)", colour: COLOURS.median, kind: "line" },
    { label: "10%–90% band", colour: COLOURS.band, kind: "box" },
  ]);
  canvas.dataset.rendered = String(Number(canvas.dataset.rendered || 0) + 1);
}

// --- 4. ICU vitals ------------------------------------------------------------------------------------
let lastVitals = null;

async function loadSampleStay() {
  const response = await request("GET", "playground/sample_stay.csv");
  $("vit-record").value = await response.text();
  $("vit-status").textContent = "Loaded a synthetic 40-hour surgical ICU stay (not a real patient).";
}

async function assess() {
  $("vit-summary").hidden = true;
  $("vit-status").textContent = "";
  lastVitals = null;
  clearChart($("vit-chart"));
  const answer = await postJSON("vitals", withModel({ record: $("vit-record").value }, "vit-model"));
  lastVitals = answer;
  drawRisk();
  const summary = $("vit-summary");
  summary.replaceChildren();
  const headline = document.createElement("div");
  const risk = document.createElement("span");
  risk.className = "risk";
  risk.textContent = `${(100 * answer.mortality_risk).toFixed(1)}%`;
  headline.append("Mortality risk after ", String(answer.hours_observed), " observed hours: ", risk);
  const table = document.createElement("table");
  table.className = "numbers";
  const names = Object.keys(answer.next_hour);
  table.innerHTML = "<thead><tr><th>Next hour</th></tr></thead><tbody><tr><td>expected</td></tr></tbody>";
  for (const name of names) {
    const th = document.createElement("th"); th.textContent = name; table.tHead.rows[0].append(th);
    const td = document.createElement("td"); td.textContent = answer.next_hour[name].toFixed(1); table.tBodies[0].rows[0].append(td);
  }
  summary.append(headline, table);
  if (answer.clipped.length) {
    const note = document.createElement("div");
    note.className = "warning";
    note.textContent = "Values outside physiological limits were clipped:\n" + answer.clipped.map(
      (c) => `${c.time} ${c.parameter} ${c.value} → ${c.clipped_to}`).join("\n");
    summary.append(note);
  }
  summary.hidden = false;
  $("vit-status").textContent = `${answer.model}: risk after each of ${answer.risk_by_hour.length} hours.`;
}

function drawRisk() {
  if (!lastVitals) return;
  const canvas = $("vit-chart");
  const { ctx, width, height } = prepare(canvas);
  const risks = lastVitals.risk_by_hour;
  const hours = risks.length;
  const y = ticks(0, Math.min(1, Math.max(...risks) * 1.15), 5);
  y.low = 0; y.high = Math.min(y.high, 1);
  y.values = y.values.filter((v) => v >= 0 && v <= y.high);
  const x = ticks(0, Math.max(hours, 6), 8);
  x.low = 0;
  const { box, px, py } = frame(ctx, width, height, x, y, {
    x: (v) => `${v}`, y: (v) => `${(100 * v).toFixed(Math.max(0, decimals(y.step) - 2))}%`,
    xTitle: "hours since ICU admission", yTitle: "mortality risk",
  });
  const points = risks.map((r, i) => [px(i + 1), py(r)]);
  // a light area under the line, then the line and its points
  ctx.globalAlpha = 0.1;
  ctx.fillStyle = COLOURS.risk;
  ctx.beginPath();
  ctx.moveTo(points[0][0], py(0));
  points.forEach(([a, b]) => ctx.lineTo(a, b));
  ctx.lineTo(points[points.length - 1][0], py(0));
  ctx.closePath();
  ctx.fill();
  ctx.globalAlpha = 1;
  line(ctx, points, COLOURS.risk, 2.5);
  ctx.fillStyle = COLOURS.risk;
  for (const [a, b] of points) { ctx.beginPath(); ctx.arc(a, b, 2.8, 0, 2 * Math.PI); ctx.fill(); }
  const [lx, ly] = points[points.length - 1];
  ctx.font = "bold 12px system-ui, sans-serif";
  ctx.textAlign = lx > box.right - 60 ? "right" : "left";
  ctx.textBaseline = "bottom";
  ctx.fillText(`${(100 * risks[hours - 1]).toFixed(1)}%`, lx + (ctx.textAlign === "left" ? 6 : -4), ly - 6);
  legend(ctx, box, [{ label: `in-hospital mortality risk after each hour (${lastVitals.model})`, colour: COLOURS.risk,
                      kind: "line" }]);
  canvas.dataset.rendered = String(Number(canvas.dataset.rendered || 0) + 1);
}

// --- 5. music -----------------------------------------------------------------------------------------
const FRAME_SECONDS = 0.25;  // an eighth note at 120 bpm: the tempo of the service's MIDI files
let lastPiece = null;  // {model, primer, frames}
let playing = null;  // {context, timer} while the piece sounds

/** The primer box: one frame per line, MIDI pitches separated by spaces or commas; a blank line is a rest. */
function parsePrimer(text) {
  const lines = text.replace(/\s+$/, "").split("\n");
  if (lines.length === 1 && lines[0].trim() === "") return [];
  return lines.map((line) => line.split(/[\s,]+/).filter(Boolean).map(numberOrRaw));
}

async function compose() {
  stopPlaying();
  const status = $("mus-status"), canvas = $("mus-roll");
  const primer = parsePrimer($("mus-primer").value);
  const body = withModel({ primer, steps: numberOrRaw($("mus-steps").value),
                           temperature: Number($("mus-temperature").value) }, "mus-model");
  if ($("mus-seed").value.trim() !== "") body.seed = numberOrRaw($("mus-seed").value);
  lastPiece = null;
  clearChart(canvas);
  $("mus-play").disabled = true;
  $("mus-midi").hidden = true;
  status.textContent = "Composing…";
  const started = performance.now();
  const answer = await postJSON("music/generate", body);
  lastPiece = { model: answer.model, primer, frames: answer.frames };
  drawPianoRoll();
  $("mus-midi").href = `data:audio/midi;base64,${answer.midi}`;
  $("mus-midi").hidden = false;
  $("mus-play").disabled = false;
  const notes = answer.frames.reduce((sum, frame) => sum + frame.length, 0);
  status.textContent = `${answer.model}: ${answer.frames.length} frames (${notes} sounding keys) in ` +
                       `${((performance.now() - started) / 1000).toFixed(1)} s (finish reason: ${answer.finish_reason})`;
}

function drawPianoRoll() {
  const canvas = $("mus-roll");
  if (!lastPiece) return;
  const { ctx, width, height } = prepare(canvas);
  const all = [...lastPiece.primer, ...lastPiece.frames];
  const pitches = all.flat();
  const low = pitches.length ? Math.min(...pitches) - 2 : 55, high = pitches.length ? Math.max(...pitches) + 2 : 75;
  const x = { low: 0, high: Math.max(all.length, 1), values: ticks(0, Math.max(all.length, 1), 8).values
    .filter((v) => v <= all.length) };
  const y = { low: low - 0.5, high: high + 0.5, values: ticks(low, high, 6).values.filter((v) => v >= low && v <= high) };
  const { box, px, py } = frame(ctx, width, height, x, y, {
    x: (v) => String(v), y: (v) => String(v), xTitle: "frame (an eighth note)", yTitle: "MIDI pitch" });
  const cellWidth = Math.max(1, px(1) - px(0) - 0.5), cellHeight = Math.max(1, py(0) - py(1) - 0.5);
  all.forEach((pitchesOfFrame, t) => {
    ctx.fillStyle = t < lastPiece.primer.length ? COLOURS.primer : COLOURS.notes;
    for (const pitch of pitchesOfFrame) ctx.fillRect(px(t), py(pitch + 0.5), cellWidth, cellHeight);
  });
  legend(ctx, box, [{ label: "primer", colour: COLOURS.primer, kind: "box" },
                    { label: `generated by ${lastPiece.model}`, colour: COLOURS.notes, kind: "box" }]);
  canvas.dataset.rendered = String(Number(canvas.dataset.rendered || 0) + 1);
}

/** Notes from frames: a pitch held over consecutive frames is one note, as in the MIDI file. */
function notesOf(frames) {
  const notes = [], open = new Map();  // pitch -> start frame
  [...frames, []].forEach((pitches, t) => {
    const now = new Set(pitches);
    for (const [pitch, start] of open) {
      if (!now.has(pitch)) { notes.push({ pitch, start, end: t }); open.delete(pitch); }
    }
    for (const pitch of now) if (!open.has(pitch)) open.set(pitch, t);
  });
  return notes;
}

/** Plain Web Audio: one triangle oscillator per note with a short attack and release; nothing is fetched. */
function play() {
  stopPlaying();
  if (!lastPiece) return;
  const frames = [...lastPiece.primer, ...lastPiece.frames];
  const context = new AudioContext();
  const start = context.currentTime + 0.1;
  const master = context.createGain();
  master.gain.value = 0.18;
  master.connect(context.destination);
  for (const { pitch, start: first, end } of notesOf(frames)) {
    const oscillator = context.createOscillator(), gain = context.createGain();
    oscillator.type = "triangle";
    oscillator.frequency.value = 440 * 2 ** ((pitch - 69) / 12);
    const on = start + first * FRAME_SECONDS, off = start + end * FRAME_SECONDS;
    gain.gain.setValueAtTime(0, on);
    gain.gain.linearRampToValueAtTime(1, on + 0.01);
    gain.gain.setValueAtTime(1, Math.max(on + 0.01, off - 0.03));
    gain.gain.linearRampToValueAtTime(0, off);
    oscillator.connect(gain).connect(master);
    oscillator.start(on);
    oscillator.stop(off + 0.01);
  }
  const seconds = frames.length * FRAME_SECONDS;
  $("mus-status").dataset.playing = "true";
  playing = { context, timer: setTimeout(stopPlaying, seconds * 1000 + 300) };
  $("mus-stop").disabled = false;
}

function stopPlaying() {
  if (!playing) return;
  clearTimeout(playing.timer);
  playing.context.close();
  playing = null;
  delete $("mus-status").dataset.playing;
  $("mus-stop").disabled = true;
}

// --- 6. spoken digits ---------------------------------------------------------------------------------
const MAX_RECORDING_S = 10;  // the service takes 60 s; a learner's digits fit in ten
let recording = null;  // {recorder, chunks, timer} while the microphone records

function base64Of(bytes) {
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

/** A mono 16-bit PCM WAV file of `samples` (floats in [-1, 1]) at `rate`: what /transcribe reads. */
function wavOf(samples, rate) {
  const view = new DataView(new ArrayBuffer(44 + 2 * samples.length));
  const text = (offset, value) => [...value].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF"); view.setUint32(4, 36 + 2 * samples.length, true); text(8, "WAVE");
  text(12, "fmt "); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, 2 * rate, true); view.setUint16(32, 2, true);
  view.setUint16(34, 16, true); text(36, "data"); view.setUint32(40, 2 * samples.length, true);
  samples.forEach((x, i) => view.setInt16(44 + 2 * i, Math.max(-32768, Math.min(32767, Math.round(x * 32768))), true));
  return new Uint8Array(view.buffer);
}

async function transcribe(wavBytes, source) {
  const status = $("sp-status");
  $("sp-text").textContent = "";
  $("sp-digits").hidden = true;
  status.textContent = `Transcribing ${source}…`;
  const started = performance.now();
  const answer = await postJSON("transcribe", withModel({ audio: base64Of(wavBytes) }, "sp-model"));
  $("sp-text").textContent = answer.text ? `Heard: ${answer.text}` : "No digit heard.";
  $("sp-digits").querySelector("tbody").replaceChildren(...answer.digits.map((d) => {
    const row = document.createElement("tr");
    for (const value of [d.digit, d.start_s.toFixed(2), d.end_s.toFixed(2), d.confidence.toFixed(2)]) {
      row.append(Object.assign(document.createElement("td"), { textContent: String(value) }));
    }
    return row;
  }));
  $("sp-digits").hidden = answer.digits.length === 0;
  status.textContent = `${answer.model}: ${answer.digits.length} digit(s) in ${answer.duration_s.toFixed(2)} s of ` +
                       `audio (${source}), answered in ${((performance.now() - started) / 1000).toFixed(2)} s`;
  status.dataset.done = String(Number(status.dataset.done || 0) + 1);
}

async function transcribeFile() {
  const file = $("sp-file").files[0];
  if (!file) throw new Error("Choose a WAV file first (or record from the microphone).");
  await transcribe(new Uint8Array(await file.arrayBuffer()), file.name);
}

async function startRecording() {
  if (!navigator.mediaDevices || !window.MediaRecorder) {
    throw new Error("This browser cannot record here (the microphone needs https or localhost); choose a file.");
  }
  $("sp-record").disabled = true;  // before any await: a second click must not open a second recorder
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (error) {
    $("sp-record").disabled = false;
    throw error;
  }
  const recorder = new MediaRecorder(stream);
  const chunks = [];  // the recorder's own: its last piece arrives with "stop", after `recording` is cleared
  recording = { recorder, chunks, timer: setTimeout(stopRecording, MAX_RECORDING_S * 1000) };
  recorder.addEventListener("dataavailable", (event) => chunks.push(event.data));
  recorder.start();
  $("sp-stop").disabled = false;
  $("sp-status").textContent = `Recording (at most ${MAX_RECORDING_S} s): say some digits, then Stop.`;
}

async function stopRecording() {
  if (!recording) return;
  const { recorder, chunks, timer } = recording;
  recording = null;  // before any await: a second Stop (or the time limit) finds nothing left to stop
  $("sp-stop").disabled = true;
  clearTimeout(timer);
  const stopped = new Promise((resolve) => recorder.addEventListener("stop", resolve, { once: true }));
  recorder.stop();
  await stopped;
  recorder.stream.getTracks().forEach((track) => track.stop());
  $("sp-record").disabled = false;
  // The browser records a compressed format; decode it here and send plain PCM, which the service takes.
  const context = new AudioContext();
  const audio = await context.decodeAudioData(await new Blob(chunks).arrayBuffer());
  context.close();
  const mono = new Float32Array(audio.length);
  for (let c = 0; c < audio.numberOfChannels; c++) {
    audio.getChannelData(c).forEach((x, i) => { mono[i] += x / audio.numberOfChannels; });
  }
  await transcribe(wavOf(mono, audio.sampleRate), "the microphone");
}

// --- translation --------------------------------------------------------------------------------------
let attention = null;  // the first translation's {source_pieces, target_pieces, attention}, redrawn on resize

async function translate() {
  const texts = $("tr-texts").value.split("\n").map((line) => line.trim()).filter((line) => line);
  if (!texts.length) throw new Error("Type a German sentence first (one per line).");
  const started = performance.now();
  attention = null;
  drawAttention();  // blank while the new answer is awaited
  $("tr-status").textContent = `Translating ${texts.length} sentence(s)…`;
  const answer = await postJSON("translate", withModel({ texts, beam_size: numberOrRaw($("tr-beam").value),
                                                         attention: true }, "tr-model"));
  $("tr-results").replaceChildren(...answer.translations.map((t) => {
    const item = Object.assign(document.createElement("li"), { textContent: t.text });
    if (t.unknown_characters.length) {
      item.append(Object.assign(document.createElement("span"), {
        className: "unknown", textContent: `  (read as unknown: ${t.unknown_characters.join(" ")})` }));
    }
    return item;
  }));
  attention = answer.translations[0];
  drawAttention();
  $("tr-status").textContent = `${answer.model}: ${texts.length} sentence(s) in ` +
                               `${((performance.now() - started) / 1000).toFixed(2)} s`;
  $("tr-status").dataset.done = String(Number($("tr-status").dataset.done || 0) + 1);
}

/** The heat map: a row per English piece, a column per German piece, darker where the weight is higher. */
function drawAttention() {
  const canvas = $("tr-attention");
  if (!attention) return clearChart(canvas);
  const { ctx, width, height } = prepare(canvas);
  const rows = attention.target_pieces, columns = attention.source_pieces;
  const left = 110, top = 12, bottom = 90;
  const cell = Math.min((width - left - 10) / columns.length, (height - top - bottom) / rows.length);
  ctx.font = "12px system-ui, sans-serif";
  ctx.fillStyle = COLOURS.text;
  const [r, g, b] = [1, 3, 5].map((i) => parseInt(COLOURS.attention.slice(i, i + 2), 16));
  rows.forEach((piece, i) => {
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    ctx.fillStyle = COLOURS.text;
    ctx.fillText(piece, left - 6, top + (i + 0.5) * cell);
    columns.forEach((_, j) => {
      ctx.fillStyle = `rgba(${r}, ${g}, ${b}, ${attention.attention[i][j]})`;
      ctx.fillRect(left + j * cell, top + i * cell, cell - 1, cell - 1);
    });
  });
  columns.forEach((piece, j) => {
    ctx.save();
    ctx.translate(left + (j + 0.5) * cell, top + rows.length * cell + 6);
    ctx.rotate(-Math.PI / 3);
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    ctx.fillStyle = COLOURS.text;
    ctx.fillText(piece, 0, 0);
    ctx.restore();
  });
  canvas.dataset.rendered = String(Number(canvas.dataset.rendered || 0) + 1);
}

// --- wiring -------------------------------------------------------------------------------------------
function start() {
  $("gen-temperature").addEventListener("input", () => {
    $("gen-temperature-value").textContent = Number($("gen-temperature").value).toFixed(2);
  });
  $("gen-run").addEventListener("click", () => guarded($("gen-run"), "gen-error", generate));
  $("gen-stop").addEventListener("click", () => generation && generation.abort());
  $("sent-run").addEventListener("click", () => guarded($("sent-run"), "sent-error", classify));
  $("fc-run").addEventListener("click", () => guarded($("fc-run"), "fc-error", forecast));
  $("fc-closes").addEventListener("input", countCloses);
  $("vit-sample").addEventListener("click", () => guarded($("vit-sample"), "vit-error", loadSampleStay));
  $("vit-run").addEventListener("click", () => guarded($("vit-run"), "vit-error", assess));
  $("mus-temperature").addEventListener("input", () => {
    $("mus-temperature-value").textContent = Number($("mus-temperature").value).toFixed(2);
  });
  $("mus-run").addEventListener("click", () => guarded($("mus-run"), "mus-error", compose));
  $("mus-play").addEventListener("click", play);
  $("mus-stop").addEventListener("click", stopPlaying);
  $("sp-run").addEventListener("click", () => guarded($("sp-run"), "sp-error", transcribeFile));
  $("tr-run").addEventListener("click", () => guarded($("tr-run"), "tr-error", translate));
  for (const [id, action] of [["sp-record", startRecording], ["sp-stop", stopRecording]]) {
    // not guarded(): these set which of the two buttons is enabled themselves
    $(id).addEventListener("click", () => {
      showError("sp-error", null);
      action().catch((error) => showError("sp-error", error));
    });
  }
  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(() => { drawForecast(); drawRisk(); drawPianoRoll(); drawAttention(); }, 100);
  });
  countCloses();
  loadCatalogue();
}

start();
