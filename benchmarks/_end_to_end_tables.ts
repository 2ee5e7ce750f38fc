/**
 * The tables of the end-to-end measurements (`_end_to_end.ts`): tokens/s of each phase, the
 * efficiency counters, and each phase against the bound a machine's peaks set.
 *
 * @module
 */
import { type EndToEndResult, LLAMA_1B, type Traffic, trafficMinus } from "./_end_to_end.ts";
import { bytes, markdownTable, rate } from "./_table.ts";

/** The command that measures a model's numbers again. */
function modelCommand(label: string): string {
  const env = label === LLAMA_1B.label ? "BENCH_1B=1 " : "";
  return `${env}deno bench -A benchmarks/end_to_end_bench.ts --filter "${label}"`;
}

/** Decode's share of a generation: the generation minus its prefill, per decoded token. */
function perDecodedToken(r: EndToEndResult): Traffic & { seconds: number } {
  const d = r.plan.decodeTokens;
  return {
    seconds: (r.generate.seconds - r.prefill.seconds) / d,
    ...trafficMinus(r.generate.traffic, r.prefill.traffic, d),
  };
}

/** Tokens/s of prefill, decode and training, and the training peak memory. */
export function throughputTable(results: EndToEndResult[]): string {
  const rows = results.map((r) => {
    const { promptTokens: P, decodeTokens: D, batchSize: B, seqLen: T, rank } = r.plan;
    return [
      r.label,
      r.load.parameters.toLocaleString("en-US"),
      `${rate(P / r.prefill.seconds)} (P = ${P}, with the first token)`,
      `${rate(1 / perDecodedToken(r).seconds)} (D = ${D}, greedy)`,
      `${rate(B * T / r.train.seconds)} (B ${B} × T ${T}, r ${rank} all-linear)`,
      bytes(r.trainPeakBytes),
      `\`${modelCommand(r.label)}\``,
    ];
  });
  return markdownTable([
    "model",
    "parameters",
    "prefill tokens/s",
    "decode tokens/s",
    "training tokens/s",
    "peak GPU memory, training",
    "command",
  ], rows);
}

/** A machine's published peaks, for {@linkcode limitsTable}. */
export interface MachinePeaks {
  /** Memory bandwidth, GB/s. */
  gbPerSecond: number;
  /** Arithmetic rate of the precision the kernels compute in (f32), GFLOP/s. */
  gflopPerSecond: number;
}

/**
 * Each model's measured tokens/s against the bound the machine's peaks set: decode reads every
 * weight once a token (weight bytes / bandwidth; the KV cache and activations are left out),
 * prefill does 2·params FLOPs a token, and LoRA training 4·params (the forward and the input
 * gradients; the LoRA products, attention and the LM head's recompute are left out), so every
 * bound is generous.
 */
export function limitsTable(results: EndToEndResult[], peaks: MachinePeaks): string {
  const rows = results.flatMap((r) => {
    const { promptTokens: P, batchSize: B, seqLen: T } = r.plan;
    const params = r.load.parameters;
    const flopBound = (flopsPerToken: number) => (peaks.gflopPerSecond * 1e9) / flopsPerToken;
    const phases: [string, number, number][] = [
      ["decode", 1 / perDecodedToken(r).seconds, (peaks.gbPerSecond * 1e9) / r.load.weightBytes],
      ["prefill", P / r.prefill.seconds, flopBound(2 * params)],
      ["training", (B * T) / r.train.seconds, flopBound(4 * params)],
    ];
    return phases.map(([phase, measured, bound]) => [
      r.label,
      phase,
      rate(measured),
      rate(bound),
      `${((100 * measured) / bound).toPrecision(3)}%`,
    ]);
  });
  return markdownTable(
    ["model", "phase", "measured tokens/s", "bound tokens/s", "of the bound"],
    rows,
  );
}

/** The efficiency counters. */
export function counterTable(results: EndToEndResult[]): string {
  const rows = results.map((r) => {
    const token = perDecodedToken(r);
    const step = r.train.traffic;
    const p = r.pipelines;
    return [
      r.label,
      token.dispatches.toFixed(1),
      token.submits.toFixed(3),
      token.readbacks.toFixed(3),
      token.bindGroups.toFixed(3),
      `${step.submits} (${step.dispatches} dispatches, ${step.readbacks} readbacks, ` +
      `${step.bindGroups} new bind groups)`,
      `${p.model - p.tuning} + ${p.trainer - p.afterGenerate}` +
      (p.tuning ? ` (${p.tuning} on the device before: tuning)` : ""),
      `${p.afterGenerate - p.model} + ${p.afterTrain - p.trainer}`,
      (r.load.weightBytes / r.load.parameters).toFixed(3),
      `\`${modelCommand(r.label)}\``,
    ];
  });
  return markdownTable([
    "model",
    "dispatches per decoded token",
    "submits per decoded token",
    "readbacks per decoded token",
    "bind groups created per decoded token",
    "submits per training step",
    "pipelines built at load: model + trainer",
    "pipelines built after load: inference + training",
    "weight bytes on the GPU per parameter",
    "command",
  ], rows);
}
