// OpenAI's node SDK, unchanged but for its base URL, against the gateway's /v1 surface.
// argv: <path of the openai package> ; env: GATEWAY_V1, TENANT_KEY ; stdin: one JSON line
// {"offers": [sdp, sdp]} ; then, once the test has connected the peers, the line "hangup".
// Prints one JSON line after creating the calls and one after hanging them up.
const OpenAI = require(process.argv[2]);
const readline = require("node:readline");

const baseURL = process.env.GATEWAY_V1;
const session = { type: "realtime", model: "gpt-realtime", audio: { output: { voice: "verse" } } };

async function main() {
  const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const { offers } = JSON.parse((await lines.next()).value);
  const tenant = new OpenAI({ baseURL, apiKey: process.env.TENANT_KEY, maxRetries: 0 });

  const secret = await tenant.realtime.clientSecrets.create({ session });
  const withToken = new OpenAI({ baseURL, apiKey: secret.value, maxRetries: 0 });
  const byToken = await withToken.realtime.calls.create({ sdp: offers[0] }).asResponse();
  const byTenant = await tenant.realtime.calls.create({ sdp: offers[1], session }).asResponse();
  const calls = [];
  for (const response of [byToken, byTenant]) {
    calls.push({
      status: response.status,
      location: response.headers.get("location"),
      answer: await response.text(),
    });
  }
  let refusal = null;
  try {
    await new OpenAI({ baseURL, apiKey: "not-a-tenant-key", maxRetries: 0 })
      .realtime.clientSecrets.create({ session });
  } catch (error) {
    refusal = {
      authenticationError: error instanceof OpenAI.AuthenticationError,
      status: error.status,
      code: error.code,
    };
  }
  console.log(JSON.stringify({ token: secret.value, calls, refusal }));

  await lines.next(); // "hangup"
  for (const call of calls) {
    await tenant.realtime.calls.hangup(call.location.split("/").pop());
  }
  console.log(JSON.stringify({ hungUp: calls.length }));
  process.exit(0); // stdin stays open under the reader
}

main().catch((error) => {
  console.log(JSON.stringify({ failed: String(error), status: error.status ?? null }));
  process.exit(1);
});
