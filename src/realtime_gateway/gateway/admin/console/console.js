// The admin console: every action is a call to /admin/v1 with the admin token, kept in this
// tab's sessionStorage only. Everything shown is set as text (never as HTML).

const $ = (id) => document.getElementById(id);
const state = { token: sessionStorage.getItem("rtg-admin-token") || "", tenant: null };

function setStatus(text, error = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", error);
}

async function api(method, path, body) {
  const headers = { Authorization: `Bearer ${state.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const answer = await fetch(`/admin/v1${path}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
  });
  const data = await answer.json().catch(() => ({}));
  if (!answer.ok) {
    throw new Error(`${data.error_code || answer.status}: ${data.message || "refused"}`);
  }
  return data;
}

function cell(row, text) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "" : String(text);
  row.append(td);
  return td;
}

function button(label, onClick, danger = false) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  if (danger) b.className = "danger";
  b.addEventListener("click", () => run(onClick));
  return b;
}

async function run(action) {
  try {
    await action();
    await refresh();
  } catch (error) {
    setStatus(`error ${error.message}`, true);
  }
}

function fill(tableId, rows, render) {
  const body = $(tableId).querySelector("tbody");
  body.replaceChildren();
  for (const row of rows) {
    const tr = document.createElement("tr");
    render(tr, row);
    body.append(tr);
  }
}

function timeLeft(deadline, nowMs) {
  const seconds = Math.max(0, Math.round((Date.parse(deadline) - nowMs) / 1000));
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, "0")}`;
}

function isoDay(ms) {
  return new Date(ms).toISOString().slice(0, 10);
}

async function refresh() {
  if (!state.token) return;
  const { tenants } = await api("GET", "/tenants");
  fill("tenants", tenants, (tr, t) => {
    tr.dataset.tenant = t.name;
    cell(tr, t.name);
    cell(tr, t.source);
    cell(tr, t.disabled ? "disabled" : "active");
    cell(tr, JSON.stringify(t.policy));
    cell(tr, t.effective.max_call_seconds);
    const actions = cell(tr, "");
    if (!t.read_only) {
      actions.append(button(`Keys of ${t.name}`, async () => { state.tenant = t.name; }));
      actions.append(button(`Issue key for ${t.name}`, async () => {
        const issued = await api("POST", `/tenants/${encodeURIComponent(t.name)}/keys`);
        state.tenant = t.name;
        $("new-key-value").textContent = issued.key;
        $("new-key").hidden = false;
      }));
      if (!t.disabled) {
        actions.append(button(`Disable ${t.name}`, () =>
          api("DELETE", `/tenants/${encodeURIComponent(t.name)}`), true));
      }
    }
  });

  $("keys-tenant").textContent = state.tenant || "(choose a tenant)";
  const keys = state.tenant
    ? (await api("GET", `/tenants/${encodeURIComponent(state.tenant)}/keys`)).keys
    : [];
  fill("keys", keys, (tr, k) => {
    cell(tr, k.id);
    cell(tr, `${k.prefix}…`);
    cell(tr, new Date(k.created_ms).toISOString());
    cell(tr, "").append(button(`Revoke ${k.prefix}`, () =>
      api("DELETE", `/tenants/${encodeURIComponent(state.tenant)}/keys/${k.id}`), true));
  });

  const calls = await api("GET", "/calls");
  fill("calls", calls.calls, (tr, c) => {
    tr.dataset.call = c.id;
    cell(tr, c.id);
    cell(tr, c.tenant);
    cell(tr, c.transport);
    cell(tr, c.model);
    cell(tr, timeLeft(c.deadline, calls.now_ms));
    cell(tr, c.usage.audio_seconds);
    cell(tr, "").append(button(`Hang up ${c.id}`, () =>
      api("DELETE", `/calls/${encodeURIComponent(c.id)}`), true));
  });

  const from = isoDay(calls.now_ms - 29 * 86400000);
  const usage = await api("GET", `/usage?from=${from}&to=${isoDay(calls.now_ms)}`);
  const perDay = new Map();
  for (const d of usage.days) perDay.set(d.day, (perDay.get(d.day) || 0) + d.calls);
  const most = Math.max(1, ...perDay.values());
  const chart = $("usage-chart");
  chart.replaceChildren();
  for (const [day, count] of [...perDay.entries()].sort()) {
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.style.height = `${(100 * count) / most}%`;
    bar.title = `${day}: ${count} calls`;
    bar.dataset.day = day;
    bar.dataset.calls = String(count);
    chart.append(bar);
  }
  fill("usage", usage.days.filter((d) => d.calls > 0), (tr, d) => {
    cell(tr, d.day);
    cell(tr, d.tenant);
    cell(tr, d.calls);
    cell(tr, (d.audio_seconds / 60).toFixed(2));
    cell(tr, d.tokens.input + d.tokens.output);
  });

  const hooks = await api("GET", "/webhooks");
  $("hooks-summary").textContent = hooks.configured
    ? `${hooks.pending} pending, ${hooks.failures.length} failed`
    : "not configured (GATEWAY_USAGE_WEBHOOK_URL)";
  fill("hooks", hooks.failures, (tr, f) => {
    cell(tr, f.id);
    cell(tr, f.attempts);
    cell(tr, f.error);
    cell(tr, "").append(button(`Retry ${f.id}`, () =>
      api("POST", `/webhooks/${encodeURIComponent(f.id)}/retry`)));
  });
  setStatus(`connected; ${tenants.length} tenants, ${calls.calls.length} live calls`);
}

$("login").addEventListener("submit", (event) => {
  event.preventDefault();
  state.token = $("token").value.trim();
  sessionStorage.setItem("rtg-admin-token", state.token);
  run(async () => {});
});
$("refresh").addEventListener("click", () => run(async () => {}));
$("new-tenant").addEventListener("submit", (event) => {
  event.preventDefault();
  run(async () => {
    const text = $("tenant-policy").value.trim();
    const policy = text ? JSON.parse(text) : {};
    await api("POST", "/tenants", { name: $("tenant-name").value.trim(), policy });
  });
});
if (state.token) {
  $("token").value = state.token;
  run(async () => {});
}
setInterval(() => { if (state.token) refresh().catch(() => {}); }, 2000);
