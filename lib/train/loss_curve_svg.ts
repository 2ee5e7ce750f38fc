/**
 * A loss-curve chart as a standalone SVG document (no dependencies), written beside the
 * adapter at the end of training.
 *
 * @module
 */

import type { LossPoint } from "./train_lora.ts";

/**
 * Renders training (and optional validation) losses at their steps as an SVG line chart.
 *
 * @example
 * ```ts
 * const svg = lossCurveSvg(result.losses, { validation: [{ step: 30, loss: 1.9 }] });
 * await Deno.writeTextFile("./lora_output/loss_curve.svg", svg);
 * ```
 */
export function lossCurveSvg(
  losses: LossPoint[],
  options: { title?: string; validation?: LossPoint[] } = {},
): string {
  const W = 640, H = 360, left = 56, right = 16, top = 36, bottom = 40;
  const points = [...losses, ...(options.validation ?? [])];
  const values = points.map((p) => p.loss).filter(Number.isFinite);
  const lo = values.length ? Math.min(...values) : 0, hi = values.length ? Math.max(...values) : 1;
  const span = hi - lo || 1;
  const steps = Math.max(2, ...points.map((p) => p.step));
  const x = (step: number) => left + ((step - 1) / (steps - 1)) * (W - left - right);
  const y = (loss: number) => top + (1 - (loss - lo) / span) * (H - top - bottom);
  const path = losses.map((p, i) =>
    `${i ? "L" : "M"}${x(p.step).toFixed(1)},${y(p.loss).toFixed(1)}`
  )
    .join(" ");
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => lo + f * span);
  const escape = (s: string) => s.replace(/[<>&"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const validation = (options.validation ?? []).map((v) =>
    `<circle cx="${x(v.step).toFixed(1)}" cy="${y(v.loss).toFixed(1)}" r="4" fill="#d62728"/>`
  ).join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">
<rect width="${W}" height="${H}" fill="white"/>
<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${
    escape(options.title ?? "Training loss")
  }</text>
${
    ticks.map((t) =>
      `<line x1="${left}" x2="${W - right}" y1="${y(t).toFixed(1)}" y2="${
        y(t).toFixed(1)
      }" stroke="#eee"/><text x="${left - 6}" y="${(y(t) + 4).toFixed(1)}" text-anchor="end">${
        t.toFixed(3)
      }</text>`
    ).join("\n")
  }
<line x1="${left}" x2="${left}" y1="${top}" y2="${H - bottom}" stroke="#444"/>
<line x1="${left}" x2="${W - right}" y1="${H - bottom}" y2="${H - bottom}" stroke="#444"/>
<text x="${left}" y="${H - 22}">1</text><text x="${W - right}" y="${
    H - 22
  }" text-anchor="end">${steps}</text>
<text x="${W / 2}" y="${H - 8}" text-anchor="middle">optimizer step</text>
<path d="${path}" fill="none" stroke="#1f77b4" stroke-width="2"/>
${validation}
</svg>
`;
}
