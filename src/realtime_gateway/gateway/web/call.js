// One realtime call: microphone, a freshly minted session, WebRTC with the provider, levels.

import { CallError } from "./errors.js";
import { brokeredCallUrl, callMode, endBrokeredCall } from "./brokered.js";
import { mintSession } from "./gateway.js";
import { LeashWatch } from "./leash.js";
import { LevelProbe } from "./levels.js";

const ICE_GATHERING_LIMIT_MS = 3000;
const ICE_SETTLE_MS = 40;
const CONNECT_LIMIT_MS = 20000;
const LEVEL_INTERVAL_MS = 20;
// A peak above this (about -34 dBFS) counts as heard: decoded silence and comfort noise stay below.
export const AUDIBLE_PEAK = 0.02;

function microphoneError(error) {
  switch (error?.name) {
    case "NotAllowedError":
    case "SecurityError":
      return new CallError(
        "microphone_denied",
        "The microphone was refused. Allow it in the browser's site settings, then try again.",
      );
    case "NotFoundError":
    case "OverconstrainedError":
      return new CallError("microphone_unavailable", "No microphone was found on this device.");
    case "NotReadableError":
      return new CallError(
        "microphone_unavailable",
        "The microphone is in use by another application or could not be opened.",
      );
    default:
      return new CallError("microphone_unavailable", `The microphone could not be opened: ${error?.message ?? error}`);
  }
}

// Resolves when the offer holds every candidate worth sending. The peer has no ICE servers, so
// all candidates are host ones: Chromium gives its UDP ones at once, then about 100 ms later its
// "tcptype active" ones, which carry port 9 and are never connected to (an active TCP candidate
// reaches the far side by dialling out, and is learnt there as peer-reflexive). So: complete, or
// the UDP candidates settled for a moment, or the hard limit, whichever comes first.
function waitForIceGathering(pc, limitMs, settleMs = ICE_SETTLE_MS) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    let settleTimer = null;
    const done = () => {
      clearTimeout(limitTimer);
      clearTimeout(settleTimer);
      pc.removeEventListener("icegatheringstatechange", onChange);
      pc.removeEventListener("icecandidate", onCandidate);
      resolve();
    };
    const onChange = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    const onCandidate = (event) => {
      const candidate = event.candidate;
      if (!candidate || (candidate.protocol === "tcp" && candidate.tcpType === "active")) return;
      clearTimeout(settleTimer);
      settleTimer = setTimeout(done, settleMs);
    };
    // Bounded: the candidates gathered so far are in the offer either way.
    const limitTimer = setTimeout(done, limitMs);
    pc.addEventListener("icegatheringstatechange", onChange);
    pc.addEventListener("icecandidate", onCandidate);
  });
}

function waitForConnection(pc, limitMs, signal) {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      clearTimeout(timer);
      pc.removeEventListener("connectionstatechange", onChange);
      signal.removeEventListener("abort", onAbort);
    };
    const onChange = () => {
      if (pc.connectionState === "connected") {
        cleanup();
        resolve();
      } else if (pc.connectionState === "failed" || pc.connectionState === "closed") {
        cleanup();
        reject(new CallError("webrtc_failed", `The WebRTC connection ${pc.connectionState}.`));
      }
    };
    const onAbort = () => {
      cleanup();
      reject(new DOMException("Hung up", "AbortError"));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(
        new CallError(
          "webrtc_failed",
          `No WebRTC connection within ${limitMs / 1000} s (ICE ${pc.iceConnectionState}).`,
        ),
      );
    }, limitMs);
    pc.addEventListener("connectionstatechange", onChange);
    signal.addEventListener("abort", onAbort, { once: true });
    onChange();
  });
}

// Where the offer goes: the gateway itself in brokered mode, else the provider.
function offerPeer(session) {
  return callMode(session) === "brokered" ? "The gateway" : "The provider";
}

function negotiatingWith(session) {
  return callMode(session) === "brokered" ? "the provider, through the gateway" : "the provider";
}

async function postOffer(session, sdp, signal) {
  try {
    return await fetch(session.webrtc_url, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${session.client_secret.value}`,
        "Content-Type": "application/sdp",
      },
      body: sdp,
      cache: "no-store",
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new CallError(
      "network_error",
      `${offerPeer(session)} could not be reached: ${error.message}`,
    );
  }
}

// A brokered gateway answers its documented error body (with `Retry-After` when there is a
// time to wait); a provider answers its own.
function offerRefused(session, response, text) {
  let body = null;
  try {
    body = JSON.parse(text);
  } catch {
    body = null;
  }
  const retryHeader = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
  const retryAfter = Number.isFinite(retryHeader) ? retryHeader : null;
  if (typeof body?.error_code === "string" && typeof body?.message === "string") {
    return new CallError(body.error_code, body.message, { retryAfter });
  }
  const brokered = callMode(session) === "brokered";
  return new CallError(
    brokered ? "gateway_error" : "provider_error",
    `${offerPeer(session)} answered ${response.status} ${response.statusText} to the SDP offer.`,
    { retryAfter },
  );
}

export class Call {
  // hooks: onState(state, detail), onEvent(event), onLevels({input, output}),
  //        onFirstAudio(ms), onSession(session), onMicrophone(stream), onDrop(error)
  constructor({ settings, audioElement, clickedAt, hooks }) {
    this.settings = settings;
    this.audioElement = audioElement;
    this.clickedAt = clickedAt;
    this.hooks = hooks;
    this.abort = new AbortController();
    this.pc = null;
    this.channel = null;
    this.microphone = null;
    this.audioContext = null;
    this.inputProbe = null;
    this.outputProbe = null;
    this.levelTimer = null;
    this.firstAudioMs = null;
    this.ended = false;
    this.brokered = null; // { url, token } of a brokered call, to end it at the gateway
    this.leash = null; // a brokered call's deadline, budget and end, read from the gateway
  }

  async start() {
    const { signal } = this.abort;
    this.hooks.onState("minting", "Asking for the microphone…");
    if (!navigator.mediaDevices?.getUserMedia) {
      throw new CallError(
        "microphone_unavailable",
        "This page cannot use a microphone here: open it over https or from localhost.",
      );
    }
    try {
      this.microphone = await navigator.mediaDevices.getUserMedia({ audio: true, video: false });
    } catch (error) {
      throw microphoneError(error);
    }
    this.hooks.onMicrophone(this.microphone);
    this.checkNotEnded();
    this.mark("microphone");

    this.audioContext = new AudioContext();
    // Created inside the click, so resuming is allowed; never wait on it (it can stall headless).
    this.audioContext.resume().catch(() => {});
    this.inputProbe = new LevelProbe(this.audioContext, this.microphone);
    this.levelTimer = setInterval(() => this.sampleLevels(), LEVEL_INTERVAL_MS);

    // The offer and its ICE candidates need no session: gather them while the gateway mints.
    // No ICE servers: the provider has a public address, and waitForIceGathering counts on it.
    const pc = new RTCPeerConnection();
    this.pc = pc;
    for (const track of this.microphone.getAudioTracks()) pc.addTrack(track, this.microphone);
    pc.addEventListener("track", (event) => this.attachRemote(event));
    this.channel = pc.createDataChannel("oai-events");
    this.channel.addEventListener("message", (event) => this.receive(event.data));
    // A model speaks only when asked: ask for the first response as soon as the channel opens.
    this.channel.addEventListener(
      "open",
      () => this.channel.send(JSON.stringify({ type: "response.create" })),
      { once: true },
    );
    pc.addEventListener("connectionstatechange", () => {
      if (pc.connectionState === "failed" && !this.ended) this.connectionLost();
    });
    const offerReady = (async () => {
      await pc.setLocalDescription(await pc.createOffer());
      await waitForIceGathering(pc, ICE_GATHERING_LIMIT_MS);
      this.mark("offer");
      return pc.localDescription.sdp;
    })();
    // If minting fails first, the offer's outcome no longer matters.
    offerReady.catch(() => {});

    this.hooks.onState("minting", "Minting a session at the gateway…");
    let session = await mintSession(this.settings, { signal });
    this.checkNotEnded();
    this.mark("minted");
    this.hooks.onSession(session);

    this.hooks.onState("connecting", `Negotiating WebRTC with ${negotiatingWith(session)}…`);
    const offer = await offerReady;
    this.checkNotEnded();

    let response = await postOffer(session, offer, signal);
    if (response.status === 401) {
      // The secret expired between minting and offering: one fresh mint, one retry.
      this.hooks.onState("minting", "The secret expired; minting a fresh one…");
      session = await mintSession(this.settings, { signal });
      this.checkNotEnded();
      this.hooks.onSession(session);
      this.hooks.onState("connecting", `Negotiating WebRTC with ${negotiatingWith(session)}…`);
      response = await postOffer(session, offer, signal);
    }
    const answer = await response.text();
    if (response.ok) {
      const url = brokeredCallUrl(session, response.headers.get("Location"));
      if (url) this.brokered = { url, token: session.client_secret.value };
    }
    this.checkNotEnded();
    if (!response.ok) throw offerRefused(session, response, answer);
    this.mark("answered");
    await pc.setRemoteDescription({ type: "answer", sdp: answer });
    await waitForConnection(pc, CONNECT_LIMIT_MS, signal);
    this.checkNotEnded();
    this.mark("connected");
    this.hooks.onState("connected", "Connected. Speak to the model.");
    if (this.brokered) {
      this.leash = new LeashWatch(this.brokered.url, this.brokered.token, {
        onFigures: (figures) => this.hooks.onLeash(figures),
        onEnded: (reason) => this.hooks.onEnded(reason),
      });
      this.leash.start();
    }
  }

  // A dropped brokered call may have been ended by the gateway: say why, if so.
  async connectionLost() {
    if (this.leash && (await this.leash.poll())) return;
    if (!this.ended) {
      this.hooks.onDrop(new CallError("webrtc_failed", "The WebRTC connection was lost."));
    }
  }

  // Phases as User Timing marks ("rtg:<phase>", ms after the click in `detail`): visible in
  // the browser's performance tools, to see where a slow start spends its time.
  mark(phase) {
    const detail = Math.round(performance.now() - this.clickedAt);
    performance.mark(`rtg:${phase}`, { detail });
  }

  checkNotEnded() {
    if (this.ended) throw new DOMException("Hung up", "AbortError");
  }

  attachRemote(event) {
    const stream = event.streams[0] ?? new MediaStream([event.track]);
    // WebAudio reads a remote track as silence unless a media element also plays it.
    this.audioElement.srcObject = stream;
    this.audioElement.play().catch((error) => {
      this.hooks.onState(null, `The browser blocked playback (${error.name}); click the page to allow audio.`);
    });
    if (this.outputProbe) this.outputProbe.disconnect();
    this.outputProbe = new LevelProbe(this.audioContext, stream);
  }

  sampleLevels() {
    const input = this.inputProbe ? this.inputProbe.read() : { rms: 0, peak: 0 };
    const output = this.outputProbe ? this.outputProbe.read() : { rms: 0, peak: 0 };
    if (this.firstAudioMs === null && output.peak >= AUDIBLE_PEAK) {
      this.firstAudioMs = Math.round(performance.now() - this.clickedAt);
      this.mark("first-audio");
      this.hooks.onFirstAudio(this.firstAudioMs);
    }
    this.hooks.onLevels({ input, output });
  }

  receive(data) {
    let event;
    try {
      event = JSON.parse(data);
    } catch {
      event = { type: "(unparsable message)", raw: String(data).slice(0, 200) };
    }
    this.hooks.onEvent(event);
  }

  hangUp() {
    if (this.ended) return;
    this.ended = true;
    this.abort.abort();
    if (this.leash) this.leash.stop();
    if (this.brokered) endBrokeredCall(this.brokered.url, this.brokered.token);
    clearInterval(this.levelTimer);
    if (this.channel) this.channel.close();
    if (this.pc) this.pc.close();
    if (this.microphone) for (const track of this.microphone.getTracks()) track.stop();
    if (this.inputProbe) this.inputProbe.disconnect();
    if (this.outputProbe) this.outputProbe.disconnect();
    this.audioElement.pause();
    this.audioElement.srcObject = null;
    if (this.audioContext) this.audioContext.close().catch(() => {});
  }
}
