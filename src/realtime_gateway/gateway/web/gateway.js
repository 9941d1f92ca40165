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
