/**
 * Request helpers of the server tests: JSON posts through `app.request()`, and checks of
 * OpenAI-shaped error answers.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { Hono } from "hono";

/** POSTs `body` (JSON-encoded unless a string) to `path` of `app`, as `application/json`. */
export function post(
  app: Hono,
  path: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return Promise.resolve(app.request(path, {
    method: "POST",
    body: typeof body === "string" ? body : JSON.stringify(body),
    headers: { "content-type": "application/json", ...headers },
  }));
}

/**
 * Asserts `response` is an OpenAI error with `status` (and `param`, when given); returns the
 * error object.
 */
export async function expectError(
  response: Response,
  status: number,
  param?: string | null,
): Promise<{ message: string; type: string; param: string | null; code: string | null }> {
  const body = await response.json();
  assert.equal(response.status, status, JSON.stringify(body));
  assert.deepEqual(Object.keys(body), ["error"]);
  assert.deepEqual(Object.keys(body.error).sort(), ["code", "message", "param", "type"]);
  assert.match(body.error.message, /^[A-Z]/);
  if (param !== undefined) assert.equal(body.error.param, param, body.error.message);
  return body.error;
}
