/**
 * Markdown tables and number formats shared by the benchmarks' console output and the
 * BENCHMARKS.md generator.
 *
 * @module
 */

/** A Markdown table: a header row, then one line per row; `|` in cells is escaped. */
export function markdownTable(headers: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.map((c) => c.replaceAll("|", "\\|")).join(" | ")} |`;
  return [line(headers), line(headers.map(() => "---")), ...rows.map(line)].join("\n");
}

/** A rate with three significant digits, or "–" when not measured. */
export function rate(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return "–";
  return value >= 100 ? value.toFixed(0) : value.toPrecision(3);
}

/** A ratio such as "2.41×", or "–". */
export function ratio(value: number | undefined): string {
  return value === undefined || !Number.isFinite(value) ? "–" : `${value.toFixed(2)}×`;
}

/** Milliseconds from seconds, three significant digits. */
export function millis(seconds: number): string {
  return rate(seconds * 1000);
}

/** Bytes in GiB or MiB. */
export function bytes(n: number): string {
  return n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(2)} GiB` : `${(n / 2 ** 20).toFixed(1)} MiB`;
}
