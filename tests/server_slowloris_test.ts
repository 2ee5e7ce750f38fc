/**
 * Slow clients (slowloris) against `server/main.ts` over raw TCP: a request head or body that
 * trickles in is cut off at `--header-timeout` / `--body-timeout`, while whole requests
 * (plain, chunked, several on one connection) pass. Also the framing tracker on its own.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { RequestFraming } from "../server/request_framing.ts";
import { fixtureFolders, healthy, start } from "./_server_process.ts";

const encode = (text: string) => new TextEncoder().encode(text);

/** Milliseconds until the server closes `conn` (reading and dropping what it sends). */
async function closedAfter(conn: Deno.Conn, started: number): Promise<number> {
  const buffer = new Uint8Array(4096);
  while ((await conn.read(buffer).catch(() => null)) !== null) { /* drain */ }
  return performance.now() - started;
}

Deno.test("framing: heads, Content-Length and chunked bodies, several requests in a row", () => {
  const framing = new RequestFraming();
  const phases: string[] = [];
  const feed = (text: string) => {
    framing.feed(encode(text));
    phases.push(framing.phase);
  };
  feed("POST /a HTTP/1.1\r\nContent-Length: 5\r\n");
  feed("\r\nab");
  feed("cde");
  feed("GET /b HTTP/1.1\r\n\r\n");
  feed("POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
  feed("0\r\n\r\n");
  feed("PO");
  assert.deepEqual(phases, ["head", "body", "idle", "idle", "body", "idle", "head"]);
  assert.throws(
    () => new RequestFraming().feed(encode("POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n")),
    /Invalid Content-Length/,
  );
});

Deno.test("slowloris: trickled heads and bodies are cut off; whole requests pass", async () => {
  const { root, modelDir } = await fixtureFolders();
  const server = await start([
    "--model",
    modelDir,
    "--backend",
    "cpu",
    "--adapters-dir",
    join(root, "adapters"),
    "--header-timeout",
    "1",
    "--body-timeout",
    "2",
  ]);
  const { hostname, port } = new URL(server.url);
  const connect = () => Deno.connect({ hostname, port: Number(port) });
  try {
    await healthy(server.url);
    // A head that never ends, a byte every 200 ms: closed at the 1 s header timeout.
    const trickle = await connect();
    const started = performance.now();
    const closing = closedAfter(trickle, started);
    const head = "POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nX-Slow: ";
    let sent = 0;
    const sender = setInterval(() => {
      trickle.write(encode(head[sent++ % head.length])).catch(() => clearInterval(sender));
    }, 200);
    const headMs = await closing;
    clearInterval(sender);
    trickle.close();
    // A body of 100 bytes of which 10 come: closed at the 2 s body timeout.
    const short = await connect();
    const bodyStarted = performance.now();
    await short.write(encode(
      "POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" +
        'Content-Length: 100\r\n\r\n{"model":',
    ));
    const bodyMs = await closedAfter(short, bodyStarted);
    short.close();
    console.log(
      `slow head closed after ${headMs.toFixed(0)} ms, short body after ${bodyMs.toFixed(0)} ms`,
    );
    assert.ok(headMs >= 900 && headMs < 4000, `head: ${headMs} ms`);
    assert.ok(bodyMs >= 1900 && bodyMs < 5000, `body: ${bodyMs} ms`);

    // Whole requests on one kept-alive connection, the second with a chunked body, pass.
    const whole = await connect();
    const body = JSON.stringify({ model: "tiny-model", prompt: "Hi", max_tokens: 2 });
    await whole.write(encode(
      "GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n" +
        "POST /v1/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n" +
        `Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n${
          body.length.toString(16)
        }\r\n${body}\r\n0\r\n\r\n`,
    ));
    const answer = new TextDecoder().decode(await new Response(whole.readable).arrayBuffer());
    const statuses = [...answer.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1]);
    assert.deepEqual(statuses, ["200", "200"], answer.slice(0, 400));
    assert.match(answer, /"completion_tokens":2/);
    assert.equal((await (await fetch(`${server.url}/health`)).json()).status, "ok");
  } finally {
    const { code, stderr } = await server.stop();
    assert.equal(code, 0, stderr);
  }
});
