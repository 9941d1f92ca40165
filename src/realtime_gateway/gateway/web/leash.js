// The leash as a brokered call's page sees it: the gateway's deadline, the tenant's audio budget
// left today, and why the gateway ended the call. Read from GET /realtime_calls/{id} with the
// call token (the page holds no tenant credential for it).

const POLL_MS = 1000;

export const ENDED_REASONS = {
  max_duration: "the call reached its time limit",
  quota_exceeded: "the tenant's daily audio budget is spent",
  provider_closed: "the provider ended the call",
  caller_hangup: "the call was hung up",
  gateway_hangup: "the gateway hung up",
};

export class LeashWatch {
  constructor(callUrl, token, { onFigures, onEnded }) {
    this.callUrl = callUrl;
    this.token = token;
    this.onFigures = onFigures;
    this.onEnded = onEnded;
    this.timer = null;
    this.stopped = false;
  }

  start() {
    this.poll();
    this.timer = setInterval(() => this.poll(), POLL_MS);
  }

  stop() {
    this.stopped = true;
    clearInterval(this.timer);
  }

  // True (and onEnded called) when the gateway says the call has ended.
  async poll() {
    if (this.stopped) return false;
    let view;
    try {
      const response = await fetch(this.callUrl, {
        headers: { Authorization: `Bearer ${this.token}` },
        cache: "no-store",
      });
      if (!response.ok) return false;
      view = await response.json();
    } catch {
      return false;
    }
    if (this.stopped) return false;
    if (view.status === "ended") {
      this.stop();
      this.onEnded(view.ended_reason ?? "gateway_hangup");
      return true;
    }
    this.onFigures({
      deadline: Date.parse(view.deadline),
      budgetLeft: view.audio_seconds_left_today ?? null,
      readAt: Date.now(),
    });
    return false;
  }
}
