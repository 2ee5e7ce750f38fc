/**
 * Runs a command-line example as a user does, `deno run -A examples/NAME.ts ARGS`, in a
 * subprocess, for the CLI tests.
 *
 * @module
 */

/** What a finished example printed, and its exit status. */
export interface ExampleRun {
  /** Exit status. */
  code: number;
  /** Standard output, decoded. */
  stdout: string;
  /** Standard error, decoded. */
  stderr: string;
}

/** Runs `examples/{name}.ts` with `args` from the repository root. */
export async function runExample(name: string, args: string[]): Promise<ExampleRun> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `examples/${name}.ts`, ...args],
    cwd: new URL("..", import.meta.url),
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
  return { code: output.code, stdout: decode(output.stdout), stderr: decode(output.stderr) };
}
