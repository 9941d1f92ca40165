// Talks to the gateway: mints one short-lived realtime session per connection.

import { CallError } from "./errors.js";

export async function mintSession(settings, { signal } = {}) {
  const body = { model: settings.model, voice: settings.voice };
  if (settings.endpoint) body.endpoint = settings.endpoint;
  let response;
  try {
    response = await fetch("/realtime_session", {
      method: "POST",
      headers: {
        Authorization: `Bearer ${settings.gatewayKey}`,
        "Content-Type": "application/json",
      },
      body: JSON.stringify(body),
      cache: "no-store",
      signal,
    });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new CallError("network_error", `The gateway could not be reached: ${error.message}`);
  }
  const payload = await response.json().catch(() => null);
  if (!response.ok) {
    const retryHeader = Number.parseInt(response.headers.get("Retry-After") ?? "", 10);
    throw new CallError(
      payload?.error_code ?? `http_${response.status}`,
      payload?.message ?? `The gateway answered ${response.status} ${response.statusText}`,
      { retryAfter: Number.isFinite(retryHeader) ? retryHeader : null },
    );
  }
  const session = payload?.session;
  if (!session?.client_secret?.value || !session?.webrtc_url) {
    throw new CallError("invalid_response", "The gateway answered without a usable session.");
  }
  return session;
}

// Brokered: the gateway hands out its own single-use call token and takes the offer itself;
// no provider credential reaches this page. Direct: the provider's ephemeral secret.
export function callMode(session) {
  return String(session?.client_secret?.value ?? "").startsWith("rtg_ct_") ? "brokered" : "direct";
}

// A brokered call's gateway URL (from the answer's Location), to read or end it.
export function brokeredCallUrl(session, location) {
  if (callMode(session) !== "brokered" || !location) return null;
  return new URL(location, session.webrtc_url).toString();
}

// Ends a brokered call at the gateway, which hangs up at the provider. Best effort: the page
// may be closing (keepalive lets the request outlive it).
export function endBrokeredCall(callUrl, token) {
  fetch(callUrl, {
    method: "DELETE",
    headers: { Authorization: `Bearer ${token}` },
    keepalive: true,
    cache: "no-store",
  }).catch(() => {});
}
