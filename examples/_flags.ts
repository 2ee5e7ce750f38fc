/**
 * Declarative flag tables for the command-line examples. Each command describes its flags once;
 * from the table come the parser, `--help`/`-h` (the full flag list, exit 0), `--version`
 * (exit 0), and errors for unknown flags that suggest the nearest known one (exit 2).
 *
 * @module
 */
import { parseArgs } from "node:util";
import denoJson from "../deno.json" with { type: "json" };

/** One flag of a command. */
export interface FlagSpec {
  /** "string" (takes a value, the default) or "boolean" (a switch). */
  type?: "string" | "boolean";
  /** The value's placeholder in the help, e.g. `DIR` or `N`. */
  value?: string;
  /** What it does, with its default. */
  help: string;
  /** Whether the command refuses to run without it (exit 2, naming it, with the usage line). */
  required?: boolean;
}

/** A command: its script name, what it does, its usage line and its flags. */
export interface CommandSpec {
  /** The script under examples/, without `.ts`, e.g. `train`. */
  name: string;
  /** The script's path when it is not `examples/{name}.ts`, e.g. `benchmarks/main.ts`. */
  path?: string;
  /** One sentence on what it does. */
  summary: string;
  /** The usage line's arguments, e.g. `--model DIR --data FILE --out DIR [options]`. */
  usage: string;
  /** The flags by name (without the dashes). */
  flags: Record<string, FlagSpec>;
  /** Extra notes printed at the end of `--help`. */
  notes?: string;
}

/** The parsed values of a command's flags. */
export type FlagValues<F extends Record<string, FlagSpec>> =
  & { [K in keyof F as F[K]["required"] extends true ? K : never]: string }
  & {
    [K in keyof F as F[K]["required"] extends true ? never : K]?: F[K]["type"] extends "boolean"
      ? boolean
      : string;
  };

/** This package's version, from deno.json. */
export const VERSION: string = denoJson.version;

/** The usage line of `command`. */
export function usageLine(command: CommandSpec): string {
  return `Usage: deno run -A ${command.path ?? `examples/${command.name}.ts`} ${command.usage}`;
}

/** The full `--help` text: summary, usage, and every flag with its help. */
export function helpText(command: CommandSpec): string {
  const rows: [string, string][] = Object.entries(command.flags).map(([name, flag]) => [
    `--${name}${flag.type === "boolean" ? "" : ` ${flag.value ?? "VALUE"}`}`,
    flag.help,
  ]);
  rows.push(["-h, --help", "Show this help and exit"], ["--version", "Print the version and exit"]);
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return [
    command.summary,
    "",
    usageLine(command),
    "",
    "Flags:",
    ...rows.map(([left, right]) => `  ${left.padEnd(width)}${right}`),
    ...(command.notes ? ["", command.notes] : []),
  ].join("\n");
}

/** Edit distance between two short strings, a swap of neighbours counting as one edit. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/**
 * The known flag nearest to `given` (its name without dashes), when it is close enough to be a
 * typo (at most a third of its letters off) or `given` is a prefix of exactly one flag.
 */
export function suggestFlag(given: string, known: readonly string[]): string | undefined {
  const prefixed = known.filter((k) => k.startsWith(given));
  if (given.length > 0 && prefixed.length === 1) return prefixed[0];
  let best: string | undefined, bestDistance = Infinity;
  for (const k of known) {
    const d = editDistance(given, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return bestDistance <= Math.max(1, Math.floor(given.length / 3)) ? best : undefined;
}

/** The message for a command line `parseArgs` refused. */
function parseErrorMessage(error: Error & { code?: string }, command: CommandSpec): string {
  const known = [...Object.keys(command.flags), "help", "version"];
  const unknown = /Unknown option '(-{1,2})([^']*)'/.exec(error.message);
  if (error.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && unknown) {
    const suggestion = suggestFlag(unknown[2], known);
    return `Unknown flag ${unknown[1]}${unknown[2]}` +
      (suggestion ? `: did you mean --${suggestion}?` : "");
  }
  return error.message;
}

/**
 * Parses `args` by `command`'s table. `--help`/`-h` prints the help and exits 0; `--version`
 * prints the version and exits 0; an unknown flag, a missing value or a stray argument exits 2
 * with the problem (and a suggestion for a mistyped flag) and the usage line.
 *
 * @example
 * ```ts
 * const flags = parseCommand(Deno.args, {
 *   name: "merge",
 *   summary: "Merge an adapter into its base model.",
 *   usage: "--model DIR --adapter DIR --out DIR",
 *   flags: { model: { value: "DIR", help: "The base model folder" } },
 * });
 * flags.model; // string | undefined
 * ```
 */
export function parseCommand<const F extends Record<string, FlagSpec>>(
  args: string[],
  command: CommandSpec & { flags: F },
): FlagValues<F> {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
    help: { type: "boolean", short: "h" },
    version: { type: "boolean" },
  };
  for (const [name, flag] of Object.entries(command.flags)) {
    options[name] = { type: flag.type ?? "string" };
  }
  let values: Record<string, unknown>;
  try {
    values = parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (e) {
    console.error(
      `${parseErrorMessage(e as Error, command)}\n\n${usageLine(command)}\n` +
        `Run with --help for every flag.`,
    );
    Deno.exit(2);
  }
  if (values.help) {
    console.log(helpText(command));
    Deno.exit(0);
  }
  if (values.version) {
    console.log(`webgpu-lora ${VERSION}`);
    Deno.exit(0);
  }
  delete values.help;
  delete values.version;
  for (const [name, flag] of Object.entries(command.flags)) {
    if (flag.required && !values[name]) {
      console.error(`--${name} is required\n\n${usageLine(command)}`);
      Deno.exit(2);
    }
  }
  return values as FlagValues<F>;
}
