/**
 * The machine a benchmark ran on, for the reports: the CPU's model name and the load average.
 *
 * @module
 */

/** The CPU's model name from /proc/cpuinfo, or the OS and architecture where it is not there. */
export async function cpuModel(): Promise<string> {
  const info = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  return info.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? `${Deno.build.os} ${Deno.build.arch}`;
}

/** The 1-, 5- and 15-minute load averages, as "a, b, c". */
export function loadavg(): string {
  return Deno.loadavg().map((x) => x.toFixed(2)).join(", ");
}
