/**
 * Builds the GPU kit's carried folder (default `.benchkit/`, git-ignored), which `run.sh` runs
 * on a lent machine that has no network: this Deno binary xz-compressed, `gpu_bench.ts` bundled
 * with `deno bundle --platform deno` (so no npm cache travels) and xz-compressed, and the
 * Vulkan loader packages the device tool's README names (`apt-get download`, amd64). Checks
 * that the working tree that travels plus the folder fit the device tool's 64 MiB, and writes
 * `manifest.json` with what is in it.
 *
 * ```sh
 * deno task bench:pack [--out .benchkit] [--xz-level 6] [--no-debs]
 * ```
 *
 * @module
 */
import { fail, numberFlag, runCommand } from "../../examples/_cli.ts";
import { parseCommand } from "../../examples/_flags.ts";
import { writeFileAtomic } from "../../lib/format/fs_model_source.ts";

/** What the device tool carries at most: the working tree and the carried paths together. */
const CARRY_LIMIT_BYTES = 64 * 2 ** 20;
/** The Vulkan loader and the GL dispatch libraries NVIDIA's Vulkan driver links against. */
const DEBS = ["libvulkan1", "libglvnd0", "libgl1", "libglx0", "libegl1", "libopengl0", "libgles2"];

const flags = parseCommand(Deno.args, {
  name: "pack",
  path: "benchmarks/device/pack.ts",
  summary: "Build the GPU kit's carried folder: Deno, the bundled benchmark, Vulkan loader debs.",
  usage: "[--out DIR] [--xz-level N] [--no-debs]",
  flags: {
    out: { value: "DIR", help: "The folder to build (default .benchkit)" },
    "xz-level": { value: "N", help: "xz preset, 0 (fast) to 9 (small); default 6" },
    "no-debs": { type: "boolean", help: "Leave the Vulkan loader packages out" },
  },
});

const repoRoot = new URL("../../", import.meta.url).pathname;

/** Runs a command; its stdout as text; throws with its stderr when it fails. */
async function run(cmd: string, args: string[], options: Deno.CommandOptions = {}) {
  const { success, stdout, stderr } = await new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
    ...options,
  }).output();
  if (!success) {
    throw new Error(`${cmd} ${args.join(" ")} failed: ${new TextDecoder().decode(stderr).trim()}`);
  }
  return new TextDecoder().decode(stdout);
}

/** xz-compresses `source` into `target` (through a .part file, renamed when whole). */
async function xz(source: string, target: string, level: number): Promise<void> {
  const part = `${target}.part`;
  const file = await Deno.open(part, { write: true, create: true, truncate: true });
  const child = new Deno.Command("xz", {
    args: ["-T0", `-${level}`, "-c", source],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  await child.stdout.pipeTo(file.writable);
  if (!(await child.status).success) throw new Error(`xz failed on ${source}`);
  await Deno.rename(part, target);
}

/** Downloads the amd64 .debs of `names` into `dir` (the README's recipe on other CPUs). */
async function downloadDebs(dir: string, names: string[]): Promise<void> {
  if (Deno.build.arch === "x86_64") {
    await run("apt-get", ["download", ...names], { cwd: dir });
    return;
  }
  const lists = await Deno.makeTempDir({ prefix: "benchkit-apt-" });
  await Deno.mkdir(`${lists}/partial`);
  const amd64 = [
    "-oAPT::Architecture=amd64",
    "-oAPT::Architectures=amd64",
    `-oDir::State::Lists=${lists}`,
  ];
  await run("apt-get", [...amd64, "update"]);
  await run("apt-get", [...amd64, "download", ...names], { cwd: dir });
}

/** Bytes of the files under `path`. */
async function treeBytes(path: string): Promise<number> {
  const stat = await Deno.stat(path);
  if (!stat.isDirectory) return stat.size;
  let total = 0;
  for await (const entry of Deno.readDir(path)) total += await treeBytes(`${path}/${entry.name}`);
  return total;
}

/** Bytes of the working tree that travels: tracked and untracked files git does not ignore. */
async function workingTreeBytes(): Promise<number> {
  const listed = await run("git", ["ls-files", "-co", "--exclude-standard", "-z"], {
    cwd: repoRoot,
  });
  let total = 0;
  for (const path of listed.split("\0").filter(Boolean)) {
    total += await Deno.stat(`${repoRoot}${path}`).then((s) => s.size, () => 0);
  }
  return total;
}

await runCommand(async () => {
  const out = flags.out ?? `${repoRoot}.benchkit`;
  const level = numberFlag(flags["xz-level"], "xz-level", 6);
  if (!Number.isInteger(level) || level < 0 || level > 9) {
    fail(`--xz-level must be an integer from 0 to 9, got ${level}`);
  }
  await Deno.mkdir(out, { recursive: true });
  const log = (message: string) => console.error(message);

  log(`Compressing ${Deno.execPath()} (Deno ${Deno.version.deno})`);
  await xz(Deno.execPath(), `${out}/deno.xz`, level);

  log("Bundling benchmarks/device/gpu_bench.ts");
  const bundle = `${out}/gpu_bench.js`;
  await run(Deno.execPath(), [
    "bundle",
    "--platform",
    "deno",
    "-o",
    bundle,
    `${repoRoot}benchmarks/device/gpu_bench.ts`,
  ], { cwd: repoRoot });
  await xz(bundle, `${bundle}.xz`, level);
  await Deno.remove(bundle);

  const debs = `${out}/debs`;
  await Deno.remove(debs, { recursive: true }).catch(() => {});
  await Deno.mkdir(debs);
  if (!flags["no-debs"]) {
    log(`Downloading ${DEBS.join(", ")} (amd64)`);
    await downloadDebs(debs, DEBS);
  }

  const packBytes = await treeBytes(out);
  const treeSize = await workingTreeBytes();
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
  const manifest = {
    deno: Deno.version.deno,
    xzLevel: level,
    files: await Array.fromAsync(Deno.readDir(out), (e) => e.name),
    debs: await Array.fromAsync(Deno.readDir(debs), (e) => e.name),
    packBytes,
    workingTreeBytes: treeSize,
  };
  await writeFileAtomic(`${out}/manifest.json`, JSON.stringify(manifest, null, 1));
  const total = packBytes + treeSize;
  console.log(
    `${out}: ${mib(packBytes)}; with the working tree (${mib(treeSize)}) ${mib(total)} of ` +
      `the ${mib(CARRY_LIMIT_BYTES)} the device tool carries`,
  );
  if (total > CARRY_LIMIT_BYTES) {
    fail(`The kit and the working tree (${mib(total)}) exceed ${mib(CARRY_LIMIT_BYTES)}`);
  }
});
