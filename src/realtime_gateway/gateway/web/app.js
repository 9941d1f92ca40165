// The operator console: wires the settings form, the call button and the read-outs together.

import { Call } from "./call.js";
import { CallError } from "./errors.js";
import { callMode, endingCalls } from "./brokered.js";
import { CallsPanel } from "./calls.js";
import { ENDED_REASONS } from "./leash.js";
import { fillForm, forgetSettings, loadSettings, readForm, saveSettings } from "./settings.js";

const MAX_LOG_ENTRIES = 300;

const $ = (id) => document.getElementById(id);
const ui = {
  form: $("settings"),
  keyHint: $("gateway-key-hint"),
  forget: $("forget"),
  button: $("call-button"),
  state: $("state"),
  detail: $("state-detail"),
  error: $("error"),
  errorCode: $("error-code"),
  errorMessage: $("error-message"),
  retryHint: $("retry-hint"),
  inputLevel: $("input-level"),
  outputLevel: $("output-level"),
  firstAudio: $("first-audio-ms"),
  connected: $("connected-ms"),
  sessionId: $("session-id"),
  callMode: $("call-mode"),
  timeLeft: $("time-left"),
  budgetLeft: $("budget-left"),
  microphone: $("microphone-state"),
  audio: $("remote-audio"),
  transcript: $("transcript"),
  eventLog: $("event-log"),
  eventCount: $("event-count"),
};

const status = {
  state: "idle",
  errorCode: null,
  sessionId: null,
  callMode: null,
  firstAudioMs: null,
  connectedMs: null,
  peakOutputLevel: 0,
  peakInputLevel: 0,
  eventCount: 0,
  endedReason: null,
};
let leashFigures = null;
let leashTimer = null;
let call = null;
let countdownTimer = null;
let callStartedAt = 0;
let microphoneTracks = [];
const transcriptLines = new Map();

// A read-only debug surface for operators (and scripts): the same facts the page shows.
Object.defineProperty(window, "realtimeGateway", {
  value: Object.freeze({
    get state() { return status.state; },
    get errorCode() { return status.errorCode; },
    get sessionId() { return status.sessionId; },
    get callMode() { return status.callMode; },
    get endedReason() { return status.endedReason; },
    get firstAudioMs() { return status.firstAudioMs; },
    get connectedMs() { return status.connectedMs; },
    get peakOutputLevel() { return status.peakOutputLevel; },
    get peakInputLevel() { return status.peakInputLevel; },
    get eventCount() { return status.eventCount; },
    get microphone() { return microphoneState(); },
  }),
  writable: false,
  configurable: false,
});

function setState(state, detail) {
  if (state) {
    status.state = state;
    ui.state.textContent = state;
    ui.state.dataset.state = state;
    document.body.dataset.state = state;
  }
  if (detail !== undefined) ui.detail.textContent = detail;
  const inCall = ["minting", "connecting", "connected"].includes(status.state);
  ui.button.textContent = inCall ? "Hang up" : "Enable microphone";
  ui.button.classList.toggle("danger", inCall);
  ui.button.classList.toggle("primary", !inCall);
}

// Errors the Gateway key field can fix: the page points at that field.
const KEY_ERRORS = new Set(["unauthorized", "missing_gateway_key"]);

// The countdown line states when to retry, and keeps counting; the message's own static
// "try again in N s" would say it a second time and go stale.
function withoutRetryTime(message) {
  return message.replace(/[;,.]?\s*try again in \d+ s(econds?)?\.?\s*$/i, "");
}

const KEY_HINT = ui.keyHint.textContent;
const REFUSED_KEY_HINT =
  "This key was refused. Paste the key this gateway gave you (the demo prints it at start).";

function markKeyField(refused) {
  const field = ui.form.elements.gatewayKey;
  ui.keyHint.textContent = refused ? REFUSED_KEY_HINT : KEY_HINT;
  ui.keyHint.classList.toggle("hint-error", refused);
  if (refused) {
    field.setAttribute("aria-invalid", "true");
    field.focus();
    field.select();
  } else {
    field.removeAttribute("aria-invalid");
  }
}

function clearError() {
  markKeyField(false);
  clearInterval(countdownTimer);
  countdownTimer = null;
  status.errorCode = null;
  ui.error.hidden = true;
  ui.errorCode.textContent = "";
  ui.errorMessage.textContent = "";
  ui.retryHint.hidden = true;
  ui.retryHint.textContent = "";
}

function showError(error) {
  clearError();
  const code = error instanceof CallError ? error.code : "unexpected_error";
  status.errorCode = code;
  ui.errorCode.textContent = code;
  const retryAfter = error instanceof CallError ? error.retryAfter : null;
  const message = error.message || String(error);
  ui.errorMessage.textContent = retryAfter !== null ? withoutRetryTime(message) : message;
  ui.error.hidden = false;
  if (retryAfter !== null) startCountdown(retryAfter);
  setState("error", "");
  if (KEY_ERRORS.has(code)) markKeyField(true);
}

function startCountdown(seconds) {
  const until = Date.now() + seconds * 1000;
  const tick = () => {
    const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
    ui.retryHint.textContent =
      left > 0 ? `Try again in ${left} s.` : "You can try again now.";
    if (left === 0) {
      clearInterval(countdownTimer);
      countdownTimer = null;
    }
  };
  ui.retryHint.hidden = false;
  tick();
  countdownTimer = setInterval(tick, 1000);
}

// The leash's figures tick between the gateway's answers: time to the deadline, budget left.
function showLeash() {
  if (!leashFigures) return;
  const elapsed = (Date.now() - leashFigures.readAt) / 1000;
  const left = Math.max(0, Math.ceil((leashFigures.deadline - Date.now()) / 1000));
  ui.timeLeft.textContent = `${left} s`;
  const budget = leashFigures.budgetLeft;
  ui.budgetLeft.textContent =
    budget === null ? "no limit" : `${Math.max(0, Math.floor(budget - elapsed))} s`;
}

function stopLeash() {
  clearInterval(leashTimer);
  leashTimer = null;
  leashFigures = null;
}

function resetReadouts() {
  stopLeash();
  status.endedReason = null;
  ui.timeLeft.textContent = "–";
  ui.budgetLeft.textContent = "–";
  status.firstAudioMs = null;
  status.connectedMs = null;
  status.peakOutputLevel = 0;
  status.peakInputLevel = 0;
  status.sessionId = null;
  status.callMode = null;
  ui.callMode.textContent = "–";
  ui.firstAudio.textContent = "–";
  ui.connected.textContent = "–";
  ui.sessionId.textContent = "–";
  ui.inputLevel.value = 0;
  ui.outputLevel.value = 0;
  ui.transcript.replaceChildren();
  transcriptLines.clear();
}

function logEvent(event) {
  status.eventCount += 1;
  ui.eventCount.textContent = String(status.eventCount);
  const item = document.createElement("li");
  const time = document.createElement("span");
  time.className = "event-time";
  time.textContent = `+${((performance.now() - callStartedAt) / 1000).toFixed(2)} s`;
  const type = document.createElement("code");
  type.className = "event-type";
  // Break long names at their dots and underscores, never mid-word.
  for (const part of String(event.type ?? "(no type)").split(/(?<=[._])/)) {
    type.append(part, document.createElement("wbr"));
  }
  const body = document.createElement("span");
  body.append(type);
  const summary = summarise(event);
  if (summary) {
    const text = document.createElement("span");
    text.className = "event-summary";
    text.textContent = ` ${summary}`;
    body.append(text);
  }
  item.append(time, body);
  if (event.type === "error") item.classList.add("event-error");
  const log = ui.eventLog;
  const following = log.scrollTop + log.clientHeight >= log.scrollHeight - 2;
  log.append(item);
  while (log.childElementCount > MAX_LOG_ENTRIES) log.firstElementChild.remove();
  if (following) followNewestEvent();
}

// Shows the newest row, scrolled so that the first visible row starts at the top edge rather
// than being cut: rows differ in height, so up to one row of space is left below the newest.
// Only the log scrolls, never the page; a reader who scrolled up is left where they are.
function followNewestEvent() {
  const log = ui.eventLog;
  log.style.paddingBottom = "0px";
  const bottom = log.scrollHeight - log.clientHeight;
  if (bottom <= 0) return;
  const firstWhole = [...log.children].find((row) => row.offsetTop >= bottom);
  const top = firstWhole ? firstWhole.offsetTop : bottom;
  log.style.paddingBottom = `${top - bottom}px`;
  log.scrollTop = top;
}

function summarise(event) {
  if (event.type === "error") return event.error?.message ?? "";
  if (typeof event.delta === "string") return JSON.stringify(event.delta);
  if (typeof event.transcript === "string") return JSON.stringify(event.transcript);
  if (event.session?.id) return event.session.id;
  if (event.response?.status) return event.response.status;
  return "";
}

function transcriptLine(key, speaker) {
  let line = transcriptLines.get(key);
  if (!line) {
    line = document.createElement("p");
    line.className = `line line-${speaker}`;
    const who = document.createElement("span");
    who.className = "speaker";
    who.textContent = speaker === "user" ? "You: " : "Model: ";
    const text = document.createElement("span");
    text.className = "text";
    line.append(who, text);
    ui.transcript.append(line);
    transcriptLines.set(key, line);
  }
  return line.querySelector(".text");
}

function updateTranscript(event) {
  const type = event.type ?? "";
  const key = `${event.response_id ?? ""}/${event.item_id ?? ""}`;
  // GA names (response.output_audio_transcript.*) and beta names (response.audio_transcript.*).
  if (/^response\.(output_)?audio_transcript\.delta$/.test(type)) {
    transcriptLine(key, "model").textContent += event.delta ?? "";
  } else if (/^response\.(output_)?audio_transcript\.done$/.test(type)) {
    if (typeof event.transcript === "string") transcriptLine(key, "model").textContent = event.transcript;
  } else if (type === "conversation.item.input_audio_transcription.completed") {
    transcriptLine(`user/${event.item_id ?? ""}`, "user").textContent = event.transcript ?? "";
  } else if (type === "session.output_transcript.delta") {
    // The Live API's one running transcript per side.
    transcriptLine("live/model", "model").textContent += event.delta ?? "";
  } else if (type === "session.input_transcript.delta") {
    transcriptLine("live/user", "user").textContent += event.delta ?? "";
  } else {
    return;
  }
  ui.transcript.scrollTop = ui.transcript.scrollHeight;
}

// Read from the tracks themselves, so "released" means the browser really let go of the mic.
function microphoneState() {
  if (microphoneTracks.length === 0) return "off";
  return microphoneTracks.some((track) => track.readyState === "live") ? "in use" : "released";
}

function showMicrophone() {
  ui.microphone.textContent = microphoneState();
}

function endCall() {
  if (call) call.hangUp();
  call = null;
  stopLeash();
  showMicrophone();
}

async function startCall(clickedAt) {
  const settings = readForm(ui.form);
  saveSettings(settings);
  clearError();
  resetReadouts();
  if (!settings.gatewayKey) {
    showError(new CallError("missing_gateway_key", "Enter the Gateway key first."));
    return;
  }
  callStartedAt = clickedAt;
  const thisCall = new Call({
    settings,
    audioElement: ui.audio,
    clickedAt,
    hooks: {
      onState: (state, detail) => {
        if (call !== thisCall) return;
        if (state === "connected" && status.connectedMs === null) {
          status.connectedMs = Math.round(performance.now() - clickedAt);
          ui.connected.textContent = `${status.connectedMs} ms`;
        }
        setState(state, detail);
      },
      onSession: (session) => {
        status.sessionId = session.id ?? null;
        ui.sessionId.textContent = session.id ?? "–";
        status.callMode = callMode(session);
        ui.callMode.textContent = status.callMode;
      },
      onEvent: (event) => {
        logEvent(event);
        updateTranscript(event);
      },
      onLevels: ({ input, output }) => {
        ui.inputLevel.value = Math.min(1, input.rms * 4);
        ui.outputLevel.value = Math.min(1, output.rms * 4);
        status.peakInputLevel = Math.max(status.peakInputLevel, input.peak);
        status.peakOutputLevel = Math.max(status.peakOutputLevel, output.peak);
      },
      onFirstAudio: (ms) => {
        status.firstAudioMs = ms;
        ui.firstAudio.textContent = `${ms} ms`;
      },
      onMicrophone: (stream) => {
        microphoneTracks = stream.getTracks();
        showMicrophone();
      },
      onLeash: (figures) => {
        if (call !== thisCall) return;
        leashFigures = figures;
        showLeash();
        if (leashTimer === null) leashTimer = setInterval(showLeash, 250);
      },
      onEnded: (reason) => {
        if (call !== thisCall) return;
        endCall();
        status.endedReason = reason;
        ui.timeLeft.textContent = "–";
        setState("idle", `ended: ${reason} (${ENDED_REASONS[reason] ?? "the gateway ended the call"}).`);
      },
      onDrop: (error) => {
        if (call !== thisCall) return;
        endCall();
        showError(error);
      },
    },
  });
  call = thisCall;
  try {
    await thisCall.start();
  } catch (error) {
    if (call !== thisCall) return; // hung up meanwhile; that path already reset the page
    endCall();
    if (error?.name === "AbortError") return;
    console.error("call failed", error);
    showError(error);
  }
}

function hangUp() {
  endCall();
  ui.inputLevel.value = 0;
  ui.outputLevel.value = 0;
  setState("idle", "Call ended; the microphone is released.");
}

ui.button.addEventListener("click", () => {
  const clickedAt = performance.now();
  if (call) hangUp();
  else startCall(clickedAt);
});

ui.form.addEventListener("input", (event) => {
  saveSettings(readForm(ui.form));
  if (event.target === ui.form.elements.gatewayKey) markKeyField(false);
});
ui.form.addEventListener("submit", (event) => event.preventDefault());
ui.forget.addEventListener("click", () => {
  forgetSettings();
  fillForm(ui.form, loadSettings());
  setState(null, "Settings forgotten in this browser.");
});
window.addEventListener("pagehide", endCall);

fillForm(ui.form, loadSettings());
setState("idle", "Fill in the Gateway key, then enable the microphone.");
new CallsPanel(
  $("tenant-calls"),
  $("tenant-calls-note"),
  () => readForm(ui.form).gatewayKey,
  () => call !== null || endingCalls() > 0,
).start();
