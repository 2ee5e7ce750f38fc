/**
 * The peer measured side by side: TensorFlow.js's WebGPU backend
 * (`@tensorflow/tfjs-backend-webgpu`) in the same process. It computes in f32, so it gets f32
 * weights. Timing mirrors ours: `reps` products, then one wait for the queue to be idle.
 *
 * Dimensions: M rows (tokens), N output features, K input features.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";

/** A running tfjs WebGPU backend. */
export interface TfjsPeer {
  /** tfjs-core's version. */
  version: string;
  /** The adapter tfjs requests (high-performance), as `GPUAdapterInfo.description` says. */
  adapterName: string;
  /** Builds `reps` products C = A·op(B) at a shape; see {@linkcode TfjsMatmul}. */
  matmul(M: number, N: number, K: number, layout: "nk" | "kn"): TfjsMatmul;
}

/** One shape's tensors and its runner. */
export interface TfjsMatmul {
  /** Runs `reps` products and resolves when the GPU is idle (`run(0)`: just the wait). */
  run(reps: number): Promise<void>;
  /** Frees the tensors. */
  dispose(): void;
}

/**
 * Starts tfjs on WebGPU. Resolves to the peer, or to the reason it cannot run (the error
 * message, or the backend tfjs fell back to).
 */
export async function startTfjs(): Promise<TfjsPeer | { error: string }> {
  try {
    await import("@tensorflow/tfjs-backend-webgpu");
    if (!(await tf.setBackend("webgpu"))) {
      return { error: `tf.setBackend("webgpu") returned false (backend ${tf.getBackend()})` };
    }
    await tf.ready();
  } catch (e) {
    return { error: `tfjs WebGPU backend failed to start: ${(e as Error).message}` };
  }
  const backend = tf.backend() as WebGPUBackend;
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  return {
    version: tf.version_core,
    adapterName: adapter?.info.description ?? "unknown",
    matmul(M, N, K, layout) {
      const a = tf.randomNormal([M, K], 0, 1, "float32"); // (M, K)
      const transposeB = layout === "nk";
      const b = tf.randomNormal(transposeB ? [N, K] : [K, N], 0, 1, "float32"); // (N, K) or (K, N)
      return {
        async run(reps) {
          for (let i = 0; i < reps; i++) tf.matMul(a, b, false, transposeB).dispose();
          // tfjs submits every 15 dispatches; send the rest now, as its own reads do.
          backend.ensureCommandEncoderReady();
          backend.endComputePassEncoder();
          backend.submitQueue();
          await backend.device.queue.onSubmittedWorkDone();
        },
        dispose() {
          a.dispose();
          b.dispose();
        },
      };
    },
  };
}
