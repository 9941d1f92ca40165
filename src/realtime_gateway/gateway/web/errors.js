// Every failure of a call, as the page shows it: the gateway's error_code, or one of ours.

export class CallError extends Error {
  // `code` is the gateway's error_code, or one of ours for failures in the browser
  // (microphone_denied, microphone_unavailable, network_error, webrtc_failed).
  constructor(code, message, { retryAfter = null } = {}) {
    super(message);
    this.name = "CallError";
    this.code = code;
    this.retryAfter = retryAfter;
  }
}
