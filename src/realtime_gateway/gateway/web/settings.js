// The operator's settings, kept in this browser's localStorage so they survive a reload.

const STORAGE_KEY = "realtimeGateway.settings";
const FIELDS = ["gatewayKey", "model", "voice", "endpoint"];

export const DEFAULTS = Object.freeze({
  gatewayKey: "",
  model: "gpt-realtime",
  voice: "verse",
  endpoint: "",
});

export function loadSettings() {
  let stored = {};
  try {
    stored = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "{}") ?? {};
  } catch {
    // A corrupt entry (edited by hand, another version) must not break the page.
    stored = {};
  }
  const settings = { ...DEFAULTS };
  for (const name of FIELDS) {
    if (typeof stored[name] === "string") settings[name] = stored[name];
  }
  return settings;
}

export function saveSettings(settings) {
  const picked = {};
  for (const name of FIELDS) picked[name] = String(settings[name] ?? "");
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(picked));
  } catch {
    // Storage full or disabled (private mode): the page still works for this visit.
  }
}

export function forgetSettings() {
  try {
    localStorage.removeItem(STORAGE_KEY);
  } catch {
    // Nothing stored, nothing to forget.
  }
}

// The form's fields by settings name; the form uses the same names.
export function readForm(form) {
  const settings = {};
  for (const name of FIELDS) settings[name] = form.elements[name].value.trim();
  return settings;
}

export function fillForm(form, settings) {
  for (const name of FIELDS) form.elements[name].value = settings[name] ?? "";
}
