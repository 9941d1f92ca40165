// Bench-only stand-in for the UI's gateway.js: mints straight at the provider (the stub) with
// the provider key, and answers the session in the gateway's shape, so the UI's Call runs as is.

import { CallError } from "/web/errors.js";

export async function mintSession(settings, { signal } = {}) {
  const response = await fetch(settings.endpoint, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${settings.providerKey}`,
      "Content-Type": "application/json",
    },
    // What the gateway's GA adapter sends, with the bench's secret TTL.
    body: JSON.stringify({
      expires_after: { anchor: "created_at", seconds: 10 },
      session: {
        type: "realtime",
        model: settings.model,
        audio: { output: { voice: settings.voice } },
      },
    }),
    cache: "no-store",
    signal,
  });
  const payload = await response.json().catch(() => null);
  if (!response.ok || !payload?.value) {
    throw new CallError(`http_${response.status}`, `the provider answered ${response.status}`);
  }
  return {
    id: payload.session?.id ?? null,
    model: payload.session?.model ?? settings.model,
    voice: settings.voice,
    client_secret: { value: payload.value, expires_at: payload.expires_at },
    webrtc_url: settings.endpoint.replace(/\/realtime\/client_secrets$/, "/realtime/calls"),
  };
}
