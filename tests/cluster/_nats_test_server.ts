/**
 * Starts a real `nats-server` with JetStream for the cluster tests: one node on a free loopback
 * port with its store in a temporary folder. Without the binary the tests are skipped with a
 * message, unless `REQUIRE_NATS=1` (set in CI) makes that a failure.
 *
 * @module
 */

/** The binary the tests run. */
const NATS_SERVER = Deno.env.get("NATS_SERVER") ?? "nats-server";

/** A running nats-server. */
export interface NatsTestServer {
  /** Its server name (`-n`), for matching stream leaders. */
  name: string;
  /** `nats://127.0.0.1:PORT`. */
  url: string;
  /** Its JetStream store folder. */
  storeDir: string;
  /** What it logged so far (stderr). */
  log(): string;
  /** Kills it with SIGKILL and waits for it to exit (the store is kept). */
  kill(): Promise<void>;
  /** Stops it and removes its store. */
  stop(): Promise<void>;
}

function natsAvailable(): boolean {
  try {
    const out = new Deno.Command(NATS_SERVER, {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    })
      .outputSync();
    return out.success;
  } catch {
    return false;
  }
}

/** Whether the nats-server binary runs here. */
export const available = natsAvailable();
if (!available) {
  const message = `${NATS_SERVER} not found: the NATS cluster tests are skipped ` +
    "(apt-get install nats-server; REQUIRE_NATS=1 makes this a failure)";
  if (Deno.env.get("REQUIRE_NATS") === "1") throw new Error(message);
  console.warn(`⚠ ${message}`);
}

/**
 * Registers a test that needs nats-server, skipped (visibly) when the binary is missing, or
 * when `ignore` says so for another reason (no GPU).
 */
export function natsTest(name: string, fn: () => Promise<void>, ignore = false): void {
  Deno.test({
    name,
    ignore: !available || ignore,
    sanitizeResources: false,
    sanitizeOps: false,
    fn,
  });
}

/**
 * Starts nats-server with JetStream on a free loopback port, its store in `storeDir` (a new
 * temporary folder when absent), and resolves once it accepts connections.
 */
export async function startNatsServer(
  options: { storeDir?: string; port?: number; extraArgs?: string[] } = {},
): Promise<NatsTestServer> {
  const storeDir = options.storeDir ?? await Deno.makeTempDir({ prefix: "nats-test-" });
  const portsDir = await Deno.makeTempDir({ prefix: "nats-ports-" });
  const child = new Deno.Command(NATS_SERVER, {
    args: [
      "-a",
      "127.0.0.1",
      "-p",
      String(options.port ?? -1),
      "-js",
      "-sd",
      storeDir,
      "--ports_file_dir",
      portsDir,
      ...options.extraArgs ?? [],
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = child.stderr.pipeThrough(new TextDecoderStream());
  let log = "";
  const logDone = (async () => {
    for await (const chunk of stderr) log += chunk;
  })();
  const url = await waitForPort(portsDir, child.pid, () => log);
  await Deno.remove(portsDir, { recursive: true });
  let exited = false;
  const kill = async () => {
    if (!exited) {
      child.kill("SIGKILL");
      await child.status;
      await logDone;
      exited = true;
    }
  };
  const n = options.extraArgs?.indexOf("-n") ?? -1;
  return {
    name: n >= 0 ? options.extraArgs![n + 1] : `pid-${child.pid}`,
    url,
    storeDir,
    log: () => log,
    kill,
    async stop() {
      await kill();
      if (!options.storeDir) await Deno.remove(storeDir, { recursive: true });
    },
  };
}

/** Reads the client URL from nats-server's ports file, within 30 s (a loaded 2-core machine can take more than 10 s). */
async function waitForPort(dir: string, pid: number, log: () => string): Promise<string> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      for await (const entry of Deno.readDir(dir)) {
        if (!entry.name.includes(`_${pid}.ports`)) continue;
        const ports = JSON.parse(await Deno.readTextFile(`${dir}/${entry.name}`));
        const nats = (ports.nats as string[]).find((u) => u.startsWith("nats://"));
        if (nats) return nats;
      }
    } catch {
      // The file is written once the listener is up; retry until then.
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`nats-server did not start within 30 s:\n${log()}`);
}

/** A free loopback TCP port (bound, read, released). */
function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Starts a 3-node JetStream cluster (`n1`…`n3`) on loopback, each with its own store. */
export async function startNatsCluster(): Promise<NatsTestServer[]> {
  const routePorts = [freePort(), freePort(), freePort()];
  const routes = routePorts.map((p) => `nats://127.0.0.1:${p}`).join(",");
  return await Promise.all(routePorts.map((port, i) =>
    startNatsServer({
      extraArgs: [
        "-n",
        `n${i + 1}`,
        "--cluster_name",
        "test",
        "--cluster",
        `nats://127.0.0.1:${port}`,
        "--routes",
        routes,
      ],
    })
  ));
}
