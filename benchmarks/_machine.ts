/**
 * Facts about the machine a benchmark runs on, for the reports' machine lines.
 *
 * @module
 */

/** The first line of /proc/cpuinfo naming the CPU model, or the platform where there is none. */
export async function cpuModel(): Promise<string> {
  const info = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  return info.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? `${Deno.build.os} ${Deno.build.arch}`;
}

/** The load averages over 1, 5 and 15 minutes, e.g. "1.02, 0.98, 0.75". */
export function loadavg(): string {
  return Deno.loadavg().map((x) => x.toFixed(2)).join(", ");
}
