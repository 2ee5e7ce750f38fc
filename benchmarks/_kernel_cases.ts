/**
 * The kernel shapes that matter for Llama-3.2-1B, each with the work it does (FLOPs, and the
 * bytes it must move at least: every input read once, every output written once) and a way to
 * record one run of it. Inputs are zero-filled: values do not change the speed.
 *
 * Dimensions: T tokens, M rows (tokens), N output features, K input features, D hidden,
 * H heads, KV kv heads, HD head dim, R LoRA rank.
 *
 * @module
 */
import type { Gpu } from "../lib/gpu/device.ts";
import type { MatmulVariantName } from "../lib/gpu/kernel_choices.ts";
import type { CommandRecorder } from "../lib/gpu/recorder.ts";
import { gpuDTypeBytes, GpuTensor } from "../lib/gpu/tensor.ts";
import { recordAttention } from "../lib/ops/attention.ts";
import { recordMatmul } from "../lib/ops/matmul.ts";
import { recordRmsnorm } from "../lib/ops/rmsnorm.ts";

/** A Linear-shaped product y(M, N) = x(M, K)·W(N, K)ᵀ with W stored in `dtype`. */
export interface MatmulShape {
  /** Rows (tokens). */
  M: number;
  /** Output features. */
  N: number;
  /** Input features. */
  K: number;
  /** Our weight dtype (tfjs always gets f32). */
  dtype: "bf16" | "f32";
}

/** Buffers of one case on a device and the recording of one run. */
export interface KernelWorkload {
  /** Records one run. */
  record(rec: CommandRecorder): void;
  /** Frees the buffers. */
  dispose(): void;
}

/** One benchmarked kernel shape. */
export interface KernelCase {
  /** A unique name; the bench's name and its `--filter`. */
  name: string;
  /** What it is, for the tables. */
  what: string;
  /** Floating-point operations of one run. */
  flops: number;
  /** Bytes one run must move at least. */
  bytes: number;
  /** The product, for matmul cases (the peer and the variants run it too). */
  matmul?: MatmulShape;
  /** Allocates the inputs on `gpu`; `variant` forces a matmul kernel variant. */
  setup(gpu: Gpu, variant?: MatmulVariantName): KernelWorkload;
}

type Dtype = "bf16" | "f32";

/** Zero-filled tensors on `gpu`, freed together. */
function tensors(gpu: Gpu, specs: Record<string, { shape: number[]; dtype: Dtype }>) {
  const made: Record<string, GpuTensor> = {};
  for (const [label, { shape, dtype }] of Object.entries(specs)) {
    made[label] = GpuTensor.create(gpu, { shape, dtype, label, category: "bench" });
  }
  return { t: made, dispose: () => Object.values(made).forEach((t) => t.destroy()) };
}

/** How an adapted projection's product is fused in inference. */
type Fused = "lora" | "norm + lora";

/**
 * A Linear-shaped product. With `fused`, the product an adapted projection runs in inference:
 * a rank-R LoRA branch s·u·Bᵀ added in the store of y (u computed beforehand, not timed), and
 * for a decode step RMSNorm fused into the load of x. A fused case has no `matmul` shape, so
 * neither tfjs nor the variant table runs it.
 */
function matmulCase(name: string, what: string, shape: MatmulShape, fused?: Fused): KernelCase {
  const { M, N, K, dtype } = shape;
  const norm = fused === "norm + lora";
  const fusedWork = fused
    ? { flops: 2 * M * N * R + (norm ? 3 * M * K : 0), bytes: (norm ? 2 * K : 0) + 4 * (M + N) * R }
    : null;
  return {
    name,
    what,
    flops: 2 * M * N * K + (fusedWork?.flops ?? 0),
    bytes: 4 * M * K + gpuDTypeBytes(dtype) * N * K + 4 * M * N + (fusedWork?.bytes ?? 0),
    ...(fused ? {} : { matmul: shape }),
    setup(gpu, variant) {
      const { t, dispose } = tensors(gpu, {
        x: { shape: [M, K], dtype: "f32" }, // (M, K)
        w: { shape: [N, K], dtype }, // (N, K)
        y: { shape: [M, N], dtype: "f32" }, // (M, N)
        g: { shape: [K], dtype: "bf16" }, // (K) norm weight, when the norm is fused
        u: { shape: [M, R], dtype: "f32" }, // (M, R) x·Aᵀ, when fused
        b: { shape: [N, R], dtype: "f32" }, // (N, R) LoRA B, when fused
      });
      const fusions = {
        ...(norm ? { norm: { weight: t.g, eps: 1e-5 } } : {}),
        ...(fused ? { lora: { u: t.u.buffer, b: t.b.buffer, rank: R, scale: 2 } } : {}),
      };
      return {
        record: (rec) =>
          recordMatmul(rec, {
            a: t.x.buffer,
            b: t.w.buffer,
            c: t.y.buffer,
            M,
            N,
            K,
            bLayout: "nk",
            bDtype: dtype,
            variant,
            ...fusions,
          }),
        dispose,
      };
    },
  };
}

const [T, D, I, H, KV, HD, R] = [512, 2048, 8192, 32, 8, 64, 16];

/** Attention forward at T = 512 (one sequence, causal). */
function attentionCase(): KernelCase {
  const qBytes = T * H * HD * 4, kvBytes = T * KV * HD * 4;
  return {
    name: `attention T${T} H${H} KV${KV} HD${HD}`,
    what: "causal GQA attention forward, f32",
    flops: 2 * 2 * H * HD * (T * (T + 1)) / 2, // q·kᵀ and p·v over the causal half
    bytes: 2 * qBytes + 2 * kvBytes + H * T * 4, // q, out, k, v, lse
    setup(gpu) {
      const { t, dispose } = tensors(gpu, {
        q: { shape: [T, H * HD], dtype: "f32" }, // (T, H, HD)
        k: { shape: [T, KV * HD], dtype: "f32" }, // (T, KV, HD)
        v: { shape: [T, KV * HD], dtype: "f32" }, // (T, KV, HD)
        out: { shape: [T, H * HD], dtype: "f32" }, // (T, H, HD)
        lse: { shape: [H, T], dtype: "f32" }, // (H, T)
      });
      return {
        record: (rec) =>
          recordAttention(rec, {
            q: t.q.buffer,
            k: t.k.buffer,
            v: t.v.buffer,
            out: t.out.buffer,
            lse: t.lse.buffer,
            batch: 1,
            T,
            S: T,
            heads: H,
            kvHeads: KV,
            headDim: HD,
            positionOffset: 0,
          }),
        dispose,
      };
    },
  };
}

/** RMSNorm forward of T = 512 rows of D = 2048, weight bf16. */
function rmsnormCase(): KernelCase {
  return {
    name: `rmsnorm ${T}×${D}`,
    what: "RMSNorm forward, weight bf16",
    flops: 4 * T * D,
    bytes: 2 * T * D * 4 + D * 2 + T * 4, // x, y, weight, rstd
    setup(gpu) {
      const { t, dispose } = tensors(gpu, {
        x: { shape: [T, D], dtype: "f32" }, // (T, D)
        w: { shape: [D], dtype: "bf16" }, // (D)
        y: { shape: [T, D], dtype: "f32" }, // (T, D)
        rstd: { shape: [T], dtype: "f32" }, // (T)
      });
      return {
        record: (rec) =>
          recordRmsnorm(rec, {
            x: t.x.buffer,
            weight: t.w,
            y: t.y.buffer,
            rstd: t.rstd.buffer,
            rows: T,
            eps: 1e-5,
          }),
        dispose,
      };
    },
  };
}

/** Every case, in the order they run and are listed. */
export const KERNEL_CASES: readonly KernelCase[] = [
  matmulCase(`matmul ${T}×${D}→${D}`, "prefill / training: q_proj, o_proj", {
    M: T,
    N: D,
    K: D,
    dtype: "bf16",
  }),
  matmulCase(`matmul ${T}×${D}→${I}`, "prefill / training: gate_proj, up_proj", {
    M: T,
    N: I,
    K: D,
    dtype: "bf16",
  }),
  matmulCase(`matmul ${T}×${I}→${D}`, "prefill / training: down_proj", {
    M: T,
    N: D,
    K: I,
    dtype: "bf16",
  }),
  matmulCase(`gemv 1×${D}→${I}`, "decode: gate_proj, up_proj", { M: 1, N: I, K: D, dtype: "bf16" }),
  matmulCase(`lora down ${T}×${D}→${R}`, "LoRA rank 16: u = x·Aᵀ", {
    M: T,
    N: R,
    K: D,
    dtype: "f32",
  }),
  matmulCase(`lora up ${T}×${R}→${D}`, "LoRA rank 16, K = 16: backward dx += du·A", {
    M: T,
    N: D,
    K: R,
    dtype: "f32",
  }),
  matmulCase(
    `matmul ${T}×${D}→${D} + LoRA`,
    `prefill: adapted q_proj, LoRA r ${R} on store`,
    { M: T, N: D, K: D, dtype: "bf16" },
    "lora",
  ),
  matmulCase(
    `gemv 1×${D}→${D} + norm + LoRA`,
    `decode: adapted q_proj, RMSNorm on load, LoRA r ${R} on store`,
    { M: 1, N: D, K: D, dtype: "bf16" },
    "norm + lora",
  ),
  attentionCase(),
  rmsnormCase(),
];
