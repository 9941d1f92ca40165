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
