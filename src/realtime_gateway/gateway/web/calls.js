// The tenant's calls as GET /realtime_calls lists them (a phone call with its numbers), polled
// while a Gateway key is filled in. A call that leaves the list is read once more
// (GET /realtime_calls/{id}) for why it ended, and kept on the list a while.

import { ENDED_REASONS } from "./leash.js";

const POLL_MS = 2000;
const READ_TIMEOUT_MS = 3000;
const KEEP_ENDED = 8;

function secondsLeft(call) {
  if (call.status !== "live") return "–";
  const left = Math.max(0, Math.round((Date.parse(call.deadline) - Date.now()) / 1000));
  return `${left} s`;
}

function numbers(call) {
  if (!call.phone) return "–";
  return call.phone.from ? `${call.phone.to} ← ${call.phone.from}` : call.phone.to;
}

function cell(row, text, title) {
  const td = document.createElement("td");
  td.textContent = text;
  if (title) td.title = title;
  row.append(td);
}

export class CallsPanel {
  // `paused()`: true while the page has a call of its own going; the list waits, so its reads
  // never compete with that call's (a hang-up asked again while the gateway answers 503).
  constructor(body, note, getKey, paused = () => false) {
    this.body = body;
    this.note = note;
    this.getKey = getKey;
    this.paused = paused;
    this.calls = new Map(); // id -> the call's last view
    this.timer = null;
  }

  // One read at a time, the next POLL_MS after the last one settled: a slow gateway (Redis
  // away) never piles the page's connections up behind the list.
  start() {
    if (this.timer !== null) return;
    const loop = async () => {
      try {
        await this.tick();
      } finally {
        this.timer = setTimeout(loop, POLL_MS);
      }
    };
    this.timer = setTimeout(loop, 0);
  }

  async read(path, key) {
    const answer = await fetch(path, {
      headers: { Authorization: `Bearer ${key}` },
      cache: "no-store",
      signal: AbortSignal.timeout(READ_TIMEOUT_MS),
    });
    if (!answer.ok) throw new Error(`${path} answered ${answer.status}`);
    return answer.json();
  }

  async tick() {
    if (this.paused()) return;
    const key = this.getKey();
    if (!key) {
      this.note.textContent = "Fill in the Gateway key to see the tenant's calls.";
      return;
    }
    let listed;
    try {
      listed = (await this.read("/realtime_calls", key)).calls;
    } catch (error) {
      this.note.textContent = `Could not list the calls: ${error.message}`;
      return;
    }
    const live = new Set(listed.map((call) => call.id));
    for (const call of listed) this.calls.set(call.id, call);
    for (const [id, call] of this.calls) {
      if (call.status === "live" && !live.has(id)) {
        try {
          this.calls.set(id, await this.read(`/realtime_calls/${encodeURIComponent(id)}`, key));
        } catch {
          this.calls.set(id, { ...call, status: "ended" });
        }
      }
    }
    const ended = [...this.calls.values()].filter((call) => call.status !== "live");
    for (const call of ended.slice(0, Math.max(0, ended.length - KEEP_ENDED))) {
      this.calls.delete(call.id);
    }
    this.note.textContent = listed.length ? "" : "No live calls.";
    this.render();
  }

  render() {
    const rows = [...this.calls.values()].sort((a, b) => (a.started_at < b.started_at ? 1 : -1));
    this.body.replaceChildren(
      ...rows.map((call) => {
        const row = document.createElement("tr");
        row.dataset.callId = call.id;
        row.dataset.transport = call.transport;
        row.dataset.status = call.status;
        cell(row, call.id.slice(0, 13) + "…", call.id);
        cell(row, call.transport);
        cell(row, numbers(call));
        cell(row, call.status);
        cell(row, secondsLeft(call));
        cell(row, call.ended_reason ?? "–", ENDED_REASONS[call.ended_reason] ?? "");
        return row;
      }),
    );
  }
}
