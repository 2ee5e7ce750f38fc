/**
 * The server's Prometheus metrics (`GET /metrics`, text format 0.0.4), named after vLLM's where
 * one exists: requests by finish reason, prompt and generated tokens, requests running and
 * waiting, batch occupancy, time-to-first-token and inter-token latency histograms, and
 * training jobs by status.
 *
 * @module
 */

/** Histogram bucket bounds in seconds (vLLM's for time to first token). */
const LATENCY_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80];

/** A cumulative histogram of seconds. */
class Histogram {
  readonly counts = new Array<number>(LATENCY_BUCKETS.length).fill(0);
  count = 0;
  sum = 0;

  observe(seconds: number): void {
    this.count += 1;
    this.sum += seconds;
    LATENCY_BUCKETS.forEach((bound, i) => {
      if (seconds <= bound) this.counts[i] += 1;
    });
  }

  lines(name: string): string[] {
    return [
      ...LATENCY_BUCKETS.map((bound, i) => `${name}_bucket{le="${bound}"} ${this.counts[i]}`),
      `${name}_bucket{le="+Inf"} ${this.count}`,
      `${name}_sum ${this.sum}`,
      `${name}_count ${this.count}`,
    ];
  }
}

/** Gauges read when the metrics are rendered. */
export interface MetricsGauges {
  /** Generations holding a batch row (or the model's turn). */
  running: number;
  /** Generations waiting. */
  waiting: number;
  /** Mean sequences per batch step so far (0 before the first step). */
  batchOccupancy: number;
  /** Training jobs by status. */
  jobs: Record<string, number>;
}

/** Counters and histograms of the generations served. */
export class ServerMetrics {
  readonly #finished = new Map<string, number>();
  #promptTokens = 0;
  #generationTokens = 0;
  readonly #ttft = new Histogram();
  readonly #itl = new Histogram();

  /** A generation's first text arrived `seconds` after it was accepted. */
  firstToken(seconds: number): void {
    this.#ttft.observe(seconds);
  }

  /** Text arrived `seconds` after the previous text of the same generation. */
  betweenTokens(seconds: number): void {
    this.#itl.observe(seconds);
  }

  /** A generation ended (`reason`: stop, length, abort or error). */
  finished(reason: string, promptTokens: number, generatedTokens: number): void {
    this.#finished.set(reason, (this.#finished.get(reason) ?? 0) + 1);
    this.#promptTokens += promptTokens;
    this.#generationTokens += generatedTokens;
  }

  /** The Prometheus text of every metric, with `gauges` read now. */
  render(model: string, gauges: MetricsGauges): string {
    const label = `model_name="${model.replace(/["\\\n]/g, "_")}"`;
    const out: string[] = [];
    const metric = (name: string, type: string, help: string, lines: string[]) => {
      out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, ...lines);
    };
    metric(
      "vllm:request_success_total",
      "counter",
      "Generations finished, by finish reason.",
      [...this.#finished].map(([reason, n]) =>
        `vllm:request_success_total{${label},finished_reason="${reason}"} ${n}`
      ),
    );
    metric("vllm:prompt_tokens_total", "counter", "Prompt tokens processed.", [
      `vllm:prompt_tokens_total{${label}} ${this.#promptTokens}`,
    ]);
    metric("vllm:generation_tokens_total", "counter", "Tokens generated.", [
      `vllm:generation_tokens_total{${label}} ${this.#generationTokens}`,
    ]);
    metric("vllm:num_requests_running", "gauge", "Generations in the batch.", [
      `vllm:num_requests_running{${label}} ${gauges.running}`,
    ]);
    metric("vllm:num_requests_waiting", "gauge", "Generations waiting for a batch row.", [
      `vllm:num_requests_waiting{${label}} ${gauges.waiting}`,
    ]);
    metric("webgpu_lora:batch_occupancy", "gauge", "Mean sequences sampled per batch step.", [
      `webgpu_lora:batch_occupancy{${label}} ${gauges.batchOccupancy}`,
    ]);
    metric(
      "vllm:time_to_first_token_seconds",
      "histogram",
      "Seconds from a generation's acceptance to its first text.",
      this.#ttft.lines("vllm:time_to_first_token_seconds").map((l) => withLabel(l, label)),
    );
    metric(
      "vllm:inter_token_latency_seconds",
      "histogram",
      "Seconds between successive texts of a generation.",
      this.#itl.lines("vllm:inter_token_latency_seconds").map((l) => withLabel(l, label)),
    );
    metric(
      "webgpu_lora:fine_tuning_jobs",
      "gauge",
      "Fine-tuning jobs by status.",
      Object.entries(gauges.jobs).map(([status, n]) =>
        `webgpu_lora:fine_tuning_jobs{status="${status}"} ${n}`
      ),
    );
    return out.join("\n") + "\n";
  }
}

/** Adds `label` to a sample line's labels. */
function withLabel(line: string, label: string): string {
  const [name, value] = line.split(" ");
  const at = name.indexOf("{");
  return at < 0
    ? `${name}{${label}} ${value}`
    : `${name.slice(0, at)}{${label},${name.slice(at + 1)} ${value}`;
}
