/**
 * The machine a benchmark ran on, for the reports: the CPU's model name and the load average.
 *
 * @module
 */
import type { Gpu } from "../mod.ts";

/** The CPU's model name from /proc/cpuinfo, or the OS and architecture where it is not there. */
export async function cpuModel(): Promise<string> {
  const info = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  return info.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? `${Deno.build.os} ${Deno.build.arch}`;
}

/** The 1-, 5- and 15-minute load averages, as "a, b, c". */
export function loadavg(): string {
  return Deno.loadavg().map((x) => x.toFixed(2)).join(", ");
}

/** The adapter, the CPU and its core count, and the load average now, in one line. */
export async function machineLine(gpu: Gpu): Promise<string> {
  return `${gpu.adapterName}${gpu.isFallback ? " (software fallback)" : ""} on ` +
    `${await cpuModel()}, nproc ${navigator.hardwareConcurrency}, load average ${loadavg()}`;
}
