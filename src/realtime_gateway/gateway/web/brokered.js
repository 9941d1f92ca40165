// Brokered calls as the page sees them: which mode a session uses, and ending a brokered call
// at the gateway (kept apart from gateway.js, which only mints).

// Brokered: the gateway hands out its own single-use call token and takes the offer itself;
// no provider credential reaches this page. Direct: the provider's ephemeral secret.
export function callMode(session) {
  return String(session?.client_secret?.value ?? "").startsWith("ek_rtg_") ? "brokered" : "direct";
}

// A brokered call's gateway URL (from the answer's Location), to read or end it.
export function brokeredCallUrl(session, location) {
  if (callMode(session) !== "brokered" || !location) return null;
  return new URL(location, session.webrtc_url).toString();
}

// A 503 (the gateway's shared state briefly away: a Redis failover) is asked again after
// these many milliseconds, then given up: the gateway's reaper ends the call at its deadline.
export const END_RETRY_DELAYS_MS = [500, 1000, 2000];

let ending = 0;

// How many hang-ups are still being asked (others on the page hold their reads meanwhile).
export function endingCalls() {
  return ending;
}

// Ends a brokered call at the gateway, which hangs up at the provider. The page may be closing
// (keepalive lets the request outlive it). Resolves with the last status (0: unreachable).
export async function endBrokeredCall(callUrl, token, delays = END_RETRY_DELAYS_MS) {
  ending += 1;
  try {
    return await askToEnd(callUrl, token, delays);
  } finally {
    ending -= 1;
  }
}

async function askToEnd(callUrl, token, delays) {
  for (let attempt = 0; ; attempt += 1) {
    let status = 0;
    try {
      const response = await fetch(callUrl, {
        method: "DELETE",
        headers: { Authorization: `Bearer ${token}` },
        keepalive: true,
        cache: "no-store",
      });
      status = response.status;
    } catch {
      status = 0;
    }
    if ((status !== 503 && status !== 0) || attempt >= delays.length) return status;
    await new Promise((resolve) => setTimeout(resolve, delays[attempt]));
  }
}
