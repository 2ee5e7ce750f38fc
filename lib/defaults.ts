/**
 * Every default the library, the command-line programs and the server share, written once:
 * the inference engine's context and KV-cache dtype.
 *
 * @module
 */
import type { KvCacheDtype } from "./ops/rope.ts";

/** The most KV-cache slots an engine gets by default (fewer when the model has fewer positions). */
export const DEFAULT_MAX_CONTEXT = 2048;

/** The KV cache's element type by default: full precision. */
export const DEFAULT_KV_CACHE_DTYPE: KvCacheDtype = "f32";
