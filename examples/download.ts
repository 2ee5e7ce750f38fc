/**
 * Downloads a model's config, tokenizer and safetensors weights from ModelScope (the default)
 * or Hugging Face into `./model_cache/<owner>/<name>`, the layout of ModelScope's
 * `snapshot_download(model_id, cache_dir="./model_cache")` (dots in the name become `___`).
 * Interrupted downloads resume; complete files are skipped.
 *
 * ```sh
 * deno run -A examples/download.ts [--model LLM-Research/Llama-3.2-1B] \
 *   [--source modelscope|huggingface] [--revision R] [--out ./model_cache] [--endpoint URL] [--json]
 * ```
 *
 * Tokens come from `MODELSCOPE_API_TOKEN` or `HF_TOKEN`; endpoints from `MODELSCOPE_DOMAIN` or
 * `HF_ENDPOINT` unless `--endpoint` is given.
 *
 * @module
 */
import cliProgress from "cli-progress";
import {
  DEFAULT_MODEL,
  type DownloadEvent,
  downloadModel,
  type DownloadModelOptions,
  HUB_SOURCES,
  type HubSource,
} from "../mod.ts";
import { fail } from "./_cli.ts";
import { parseCommand, usageLine } from "./_flags.ts";
import { formatBytes } from "./_memory_table.ts";

const command = {
  name: "download",
  summary: "Download a model's config, tokenizer and safetensors weights from a hub.",
  usage: "[--model ID] [--source modelscope|huggingface] [options]",
  flags: {
    model: { value: "ID", help: `The model id, owner/name (default ${DEFAULT_MODEL})` },
    source: { value: HUB_SOURCES.join("|"), help: "The hub (default modelscope)" },
    revision: { value: "R", help: "A branch, tag or commit (default the main branch)" },
    out: { value: "DIR", help: "The cache folder (default ./model_cache)" },
    endpoint: {
      value: "URL",
      help: "The hub's URL (default from MODELSCOPE_DOMAIN or HF_ENDPOINT)",
    },
    json: { type: "boolean", help: "No progress; print one JSON object describing the files" },
  },
  notes: "Tokens come from MODELSCOPE_API_TOKEN or HF_TOKEN. The folder gets .hub_source.json, " +
    "which train.ts and merge.ts read to name the base model by its hub id.",
} as const;

/** Parses the command line into download options; bad flags exit with status 2. */
async function parseCommandLine(args: string[]): Promise<DownloadModelOptions & { json: boolean }> {
  const values = parseCommand(args, command);
  const source = values.source ?? "modelscope";
  if (!(HUB_SOURCES as readonly string[]).includes(source)) {
    fail(`--source must be ${HUB_SOURCES.join(" or ")}, got ${source}\n${usageLine(command)}`);
  }
  const out = values.out ?? "./model_cache";
  const stat = await Deno.stat(out).catch(() => null);
  if (stat !== null && !stat.isDirectory) fail(`--out ${out} is a file, not a folder`);
  return {
    model: values.model ?? DEFAULT_MODEL,
    source: source as HubSource,
    revision: values.revision,
    out,
    endpoint: values.endpoint,
    json: values.json ?? false,
  };
}

/** Formats seconds as `1h02m`, `3m05s` or `42s`. */
function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--";
  const s = Math.round(seconds);
  const [h, m] = [Math.floor(s / 3600), Math.floor(s / 60) % 60];
  if (h > 0) return `${h}h${String(m).padStart(2, "0")}m`;
  return m > 0 ? `${m}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

/**
 * Shows download events: on a terminal a bar with bytes, speed and ETA; otherwise one line per
 * file. Speed is measured over the last 5 seconds, on bytes actually received.
 */
function progressDisplay(interactive: boolean) {
  const received = new Map<string, number>(); // bytes on disk per file
  const samples: [number, number][] = []; // (time ms, bytes fetched so far) in the last 5 s
  let fetched = 0;
  let total = 0;
  let multi: cliProgress.MultiBar | undefined;
  let bar: cliProgress.SingleBar | undefined;
  const note = (text: string) => multi ? multi.log(`${text}\n`) : console.log(text);
  const redraw = (file: string) => {
    const done = [...received.values()].reduce((a, b) => a + b, 0);
    const now = performance.now();
    samples.push([now, fetched]);
    while (samples.length > 2 && now - samples[0][0] > 5000) samples.shift();
    const [t0, b0] = samples[0];
    const speed = now > t0 ? (fetched - b0) / ((now - t0) / 1000) : 0;
    bar?.update(done, {
      done: formatBytes(done),
      size: formatBytes(total),
      speed: `${formatBytes(speed)}/s`,
      remaining: formatDuration(speed > 0 ? (total - done) / speed : Infinity),
      file,
    });
  };
  const onEvent = (e: DownloadEvent) => {
    switch (e.type) {
      case "plan":
        total = e.totalBytes;
        console.log(`Fetching ${e.files.length} files, ${formatBytes(total)} in all`);
        if (interactive) {
          multi = new cliProgress.MultiBar({
            format: "{bar} {percentage}% | {done} / {size} | {speed} | ETA {remaining} | {file}",
            hideCursor: true,
          }, cliProgress.Presets.shades_classic);
          bar = multi.create(Math.max(total, 1), 0);
        }
        break;
      case "skip":
        received.set(e.path, e.size);
        if (!interactive) console.log(`  ${e.path}: already complete`);
        break;
      case "start":
        received.set(e.path, e.offset);
        if (e.offset > 0) note(`  ${e.path}: resuming at ${formatBytes(e.offset)}`);
        break;
      case "progress":
        fetched += e.bytes;
        received.set(e.path, e.received);
        redraw(e.path);
        break;
      case "restart":
        received.set(e.path, 0);
        note(`  ${e.path}: starting over (${e.reason})`);
        break;
      case "retry":
        note(`  ${e.path}: ${e.error}; retrying in ${formatDuration(e.delayMs / 1000)}`);
        break;
      case "verify":
        if (e.bytes > 64 << 20) note(`  ${e.path}: checking ${formatBytes(e.bytes)} on disk`);
        break;
      case "done":
        received.set(e.path, e.size);
        if (!interactive) console.log(`  ${e.path}: ${formatBytes(e.size)} downloaded`);
        break;
    }
  };
  return { onEvent, stop: () => multi?.stop() };
}

async function main(args: string[]): Promise<number> {
  const { json, ...options } = await parseCommandLine(args);
  const display = json
    ? { onEvent: () => {}, stop: () => {} }
    : progressDisplay(Deno.stdout.isTerminal());
  const controller = new AbortController();
  const interrupt = () => controller.abort();
  Deno.addSignalListener("SIGINT", interrupt);
  try {
    const { dir, files } = await downloadModel({
      ...options,
      onEvent: display.onEvent,
      signal: controller.signal,
    });
    display.stop();
    const fresh = files.filter((f) => !f.skipped).length;
    if (json) {
      console.log(JSON.stringify({
        dir,
        model: options.model,
        source: options.source,
        revision: options.revision ?? null,
        files: files.map(({ path, size, skipped }) => ({ path, bytes: size, skipped })),
      }));
      return 0;
    }
    console.log(
      `Model ready in ${dir} (${files.length} files: ${fresh} downloaded, ` +
        `${files.length - fresh} already present)`,
    );
    return 0;
  } catch (error) {
    display.stop();
    if (controller.signal.aborted) {
      console.error("Interrupted: run the same command again to resume");
      return 130;
    }
    // Hub errors, bad ids or endpoints, and file-system errors (an unwritable --out) alike.
    console.error(`Error: ${error instanceof Error ? error.message : String(error)}`);
    return 1;
  } finally {
    Deno.removeSignalListener("SIGINT", interrupt);
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
