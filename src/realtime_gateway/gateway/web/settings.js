// The operator's settings, kept in this browser so they survive a reload. The gateway key is a
// credential: it lives in this tab's sessionStorage (gone when the tab closes) unless the
// operator ticks "Remember the key on this device", which keeps it in localStorage as the
// other settings are.

const STORAGE_KEY = "realtimeGateway.settings";
const KEY_STORAGE_KEY = "realtimeGateway.gatewayKey";
const FIELDS = ["gatewayKey", "model", "voice", "endpoint"];

export const DEFAULTS = Object.freeze({
  gatewayKey: "",
  model: "gpt-realtime",
  voice: "verse",
  endpoint: "",
  rememberKey: false,
});

function read(storage, name) {
  try {
    return storage.getItem(name);
  } catch {
    return null; // storage disabled (private mode): the page still works for this visit
  }
}

function write(storage, name, value) {
  try {
    if (value === null) storage.removeItem(name);
    else storage.setItem(name, value);
  } catch {
    // Storage full or disabled: the page still works for this visit.
  }
}

export function loadSettings() {
  let stored = {};
  try {
    stored = JSON.parse(read(localStorage, STORAGE_KEY) ?? "{}") ?? {};
  } catch {
    // A corrupt entry (edited by hand, another version) must not break the page.
    stored = {};
  }
  const settings = { ...DEFAULTS };
  for (const name of FIELDS) {
    if (name !== "gatewayKey" && typeof stored[name] === "string") settings[name] = stored[name];
  }
  settings.rememberKey = stored.rememberKey === true;
  const key = settings.rememberKey
    ? read(localStorage, KEY_STORAGE_KEY)
    : read(sessionStorage, KEY_STORAGE_KEY);
  if (typeof key === "string") settings.gatewayKey = key;
  return settings;
}

export function saveSettings(settings) {
  const picked = { rememberKey: Boolean(settings.rememberKey) };
  for (const name of FIELDS) {
    if (name !== "gatewayKey") picked[name] = String(settings[name] ?? "");
  }
  write(localStorage, STORAGE_KEY, JSON.stringify(picked));
  const key = String(settings.gatewayKey ?? "");
  // One place for the key at a time: the other is cleared.
  write(picked.rememberKey ? localStorage : sessionStorage, KEY_STORAGE_KEY, key);
  write(picked.rememberKey ? sessionStorage : localStorage, KEY_STORAGE_KEY, null);
}

export function forgetSettings() {
  for (const storage of [localStorage, sessionStorage]) {
    write(storage, STORAGE_KEY, null);
    write(storage, KEY_STORAGE_KEY, null);
  }
}

// The form's fields by settings name; the form uses the same names.
export function readForm(form) {
  const settings = {};
  for (const name of FIELDS) settings[name] = form.elements[name].value.trim();
  settings.rememberKey = form.elements.rememberKey.checked;
  return settings;
}

export function fillForm(form, settings) {
  for (const name of FIELDS) form.elements[name].value = settings[name] ?? "";
  form.elements.rememberKey.checked = Boolean(settings.rememberKey);
}
