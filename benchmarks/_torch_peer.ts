/**
 * The end-to-end peer: `benchmarks/torch_peer.py`, plain PyTorch (eager, f32) on the CPU, run
 * as a subprocess on the same model folder, tokens and LoRA step as ours. It needs `python3`
 * with `torch` (Debian's `python3-torch`), a benchmark dependency only: where they are missing
 * the caller gets the reason instead of a result.
 *
 * Dimensions: P prompt tokens, D decoded tokens, T training tokens, V vocabulary.
 *
 * @module
 */
import { z } from "zod";

/** What the peer runs: the model folder, the tokens and the LoRA step. */
export interface TorchJob {
  /** A Hugging Face model folder: config.json and safetensors. */
  model: string;
  /** The prompt (P ids) of prefill and decode. */
  prompt: readonly number[];
  /** D: tokens decoded greedily after the prompt's first. */
  decodeTokens: number;
  /** The training sequence (T ids), inputs and labels alike. */
  trainIds: readonly number[];
  /** LoRA rank on all seven projections. */
  rank: number;
  /** LoRA alpha (scale alpha / rank). */
  alpha: number;
  /** LoRA dropout on each projection's input. */
  dropout: number;
  /** Timed runs of each phase after its warm-up; the fastest counts. */
  repeat: number;
}

const TorchOutput = z.object({
  torch: z.string(),
  threads: z.number().int().positive(),
  blas: z.string(),
  prefillSeconds: z.number().positive(),
  decodeSecondsPerToken: z.number().positive(),
  forwardSeconds: z.number().positive(),
  trainStepSeconds: z.number().positive(),
  trainLoss: z.number(),
  promptLogits: z.string(),
});

/** What the peer measured. */
export interface TorchResult {
  /** PyTorch's version. */
  torch: string;
  /** Its intra-op CPU threads. */
  threads: number;
  /** The BLAS library behind libblas.so.3 (the reference BLAS is an order of magnitude slower). */
  blas: string;
  /** Seconds of the P-token prefill (the last position's logits, as generation needs). */
  prefillSeconds: number;
  /** Seconds per greedily decoded token with a KV cache. */
  decodeSecondsPerToken: number;
  /** Seconds of the training step's forward alone (logits at all T positions, the loss). */
  forwardSeconds: number;
  /** Seconds of one AdamW step on the T-token sequence. */
  trainStepSeconds: number;
  /** That step's loss. */
  trainLoss: number;
  /** Logits (V) that follow the prompt. */
  promptLogits: Float32Array;
}

/**
 * Runs the peer on `job` with the interpreter `python` (Debian's `python3-torch` installs into
 * /usr/bin/python3's packages); the reason it could not run, when it could not.
 */
export async function runTorchPeer(
  job: TorchJob,
  python: string,
): Promise<TorchResult | { error: string }> {
  const script = new URL("./torch_peer.py", import.meta.url).pathname;
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(python, {
      args: [script],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    return { error: `${python} did not start: ${(e as Error).message}` };
  }
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(JSON.stringify(job)));
  await writer.close();
  const { success, stdout, stderr } = await child.output();
  if (!success) {
    const lines = new TextDecoder().decode(stderr).trim().split("\n");
    return { error: `benchmarks/torch_peer.py failed: ${lines.at(-1)}` };
  }
  const parsed = TorchOutput.safeParse(JSON.parse(new TextDecoder().decode(stdout)));
  if (!parsed.success) {
    return { error: `benchmarks/torch_peer.py printed unexpected JSON: ${parsed.error.message}` };
  }
  const raw = Uint8Array.from(atob(parsed.data.promptLogits), (c) => c.charCodeAt(0));
  return { ...parsed.data, promptLogits: new Float32Array(raw.buffer) };
}

/** How far two logit vectors are apart. */
export interface LogitsAgreement {
  /** ‖ours − peer‖ / ‖peer‖. */
  relativeError: number;
  /** The largest |ours − peer|. */
  maxAbsDiff: number;
  /** Whether the largest logit is at the same id. */
  sameArgmax: boolean;
}

/** Compares two logit vectors (V each). */
export function compareLogits(ours: Float32Array, peer: Float32Array): LogitsAgreement {
  if (ours.length !== peer.length) {
    throw new Error(`Logits have ${ours.length} and ${peer.length} entries`);
  }
  let diff2 = 0, peer2 = 0, maxAbsDiff = 0, argOurs = 0, argPeer = 0;
  for (let i = 0; i < ours.length; i++) {
    const d = ours[i] - peer[i];
    diff2 += d * d;
    peer2 += peer[i] * peer[i];
    maxAbsDiff = Math.max(maxAbsDiff, Math.abs(d));
    if (ours[i] > ours[argOurs]) argOurs = i;
    if (peer[i] > peer[argPeer]) argPeer = i;
  }
  return { relativeError: Math.sqrt(diff2 / peer2), maxAbsDiff, sameArgmax: argOurs === argPeer };
}
