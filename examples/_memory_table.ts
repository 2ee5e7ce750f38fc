/**
 * Text tables of GPU memory breakdowns for the command-line examples (the estimator and the
 * Llama-3.2-1B-shaped run): one row per category, one column per breakdown.
 *
 * @module
 */
import type { MemoryBreakdown } from "../mod.ts";

/** A column of a memory table. */
export interface MemoryColumn {
  /** Heading. */
  title: string;
  /** Bytes by category. */
  breakdown: MemoryBreakdown;
}

/** Bytes in binary units: `512 B`, `16.0 KiB`, `96.0 MiB`, `2.30 GiB`. */
export function formatBytes(bytes: number): string {
  if (Math.abs(bytes) < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let value = bytes / 1024, unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit >= 2 ? 2 : 1)} ${units[unit]}`;
}

/** The categories as rows; `weightsLabel` names the weights row (e.g. "weights (BF16)"). */
export function memoryTable(columns: MemoryColumn[], weightsLabel = "weights"): string {
  const rows: [string, keyof MemoryBreakdown][] = [
    [weightsLabel, "weights"],
    ["LoRA parameters", "lora"],
    ["LoRA gradients", "gradients"],
    ["optimizer state", "optimizer"],
    ["activations", "activations"],
    ["KV cache", "kvCache"],
    ["workspace", "workspace"],
    ["total", "total"],
  ];
  const cells = [
    ["", ...columns.map((c) => c.title)],
    ...rows.map(([label, key]) => [label, ...columns.map((c) => formatBytes(c.breakdown[key]))]),
  ];
  const widths = cells[0].map((_, j) => Math.max(...cells.map((row) => row[j].length)));
  return cells
    .map((row) =>
      row.map((cell, j) => j === 0 ? cell.padEnd(widths[j]) : cell.padStart(widths[j])).join("   ")
    )
    .join("\n");
}
