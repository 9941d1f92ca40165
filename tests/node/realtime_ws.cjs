// One turn of a Realtime WebSocket session with openai for node (`OpenAIRealtimeWS`), as a
// server-side agent runs it: GATEWAY_BASE_URL (https://...), TENANT_KEY; the CA to trust in
// NODE_EXTRA_CA_CERTS. Prints one JSON line: the events seen and the response's usage.
const { OpenAI } = require("openai");
const { OpenAIRealtimeWS } = require("openai/realtime/ws");

const client = new OpenAI({
  apiKey: process.env.TENANT_KEY,
  baseURL: process.env.GATEWAY_BASE_URL + "/v1",
});
const rt = new OpenAIRealtimeWS({ model: "gpt-realtime" }, client);
const seen = [];
const timer = setTimeout(() => {
  console.log(JSON.stringify({ ok: false, why: "timeout", seen }));
  process.exit(3);
}, 20000);

rt.on("error", (error) => {
  console.log(JSON.stringify({ ok: false, why: String(error && error.message), seen }));
  process.exit(2);
});
rt.on("event", (event) => {
  seen.push(event.type);
  if (event.type === "session.created") {
    rt.send({ type: "response.create" });
  } else if (event.type === "response.done") {
    clearTimeout(timer);
    console.log(JSON.stringify({ ok: true, url: rt.url.toString(), usage: event.response.usage, seen }));
    rt.close();
  }
});
