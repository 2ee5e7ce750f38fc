/**
 * What a benchmark ran on, for the reports: the CPU's model and the machine in one line.
 *
 * @module
 */
import type { Gpu } from "../mod.ts";

/** The first line of /proc/cpuinfo naming the CPU model, or the platform where there is none. */
export async function cpuModel(): Promise<string> {
  const info = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  return info.match(/^model name\s*:\s*(.+)$/m)?.[1] ?? `${Deno.build.os} ${Deno.build.arch}`;
}

/** The adapter, the CPU and its core count, and the load average (1, 5, 15 min) now. */
export async function machineLine(gpu: Gpu): Promise<string> {
  const load = Deno.loadavg().map((x) => x.toFixed(2)).join(", ");
  return `${gpu.adapterName}${gpu.isFallback ? " (software fallback)" : ""} on ` +
    `${await cpuModel()}, nproc ${navigator.hardwareConcurrency}, load average ${load}`;
}
