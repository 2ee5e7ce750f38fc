import assert from "node:assert/strict";
import { errorForStatus, type FailureContext } from "./hub_error.ts";

const context: FailureContext = {
  hub: "Hugging Face",
  what: "repository org/m at revision main",
  tokenEnv: "HF_TOKEN",
  hasToken: false,
};

Deno.test("errorForStatus explains gated repositories and how to pass a token", () => {
  for (const status of [401, 403]) {
    const e = errorForStatus(status, context, "Access restricted");
    assert.equal(e.kind, "auth");
    assert.equal(e.retryable, false);
    assert.equal(
      e.message,
      `Hugging Face denied access to repository org/m at revision main with HTTP ${status} ` +
        "(Access restricted): if the model id is right, the repository is gated or private: " +
        "accept its license on the hub, then pass an access token with HF_TOKEN=<token>",
    );
  }
  assert.match(
    errorForStatus(401, { ...context, hasToken: true }).message,
    /the token in HF_TOKEN was refused/,
  );
});

Deno.test("errorForStatus names what is missing on 404 and retries only 429 and 5xx", () => {
  const missing = errorForStatus(404, context);
  assert.equal(missing.kind, "not_found");
  assert.match(
    missing.message,
    /^Hugging Face has no repository org\/m at revision main \(HTTP 404\)/,
  );
  assert.deepEqual(
    [400, 410, 429, 500, 503].map((s) => errorForStatus(s, context).retryable),
    [false, false, true, true, true],
  );
  assert.doesNotMatch(errorForStatus(500, context).message, /\.$/);
});
