/**
 * Chooses the hub client and resolves its endpoint and token from options and environment
 * variables, as each hub's own client does.
 *
 * @module
 */

import { HUGGING_FACE_ENDPOINT, huggingFaceRepo } from "./huggingface.ts";
import { MODELSCOPE_ENDPOINT, modelScopeRepo } from "./modelscope.ts";
import { checkModelId } from "./model_id.ts";
import type { HubRepo } from "./types.ts";

/** The hubs a model can come from. */
export const HUB_SOURCES = ["modelscope", "huggingface"] as const;

/** A hub name. */
export type HubSource = typeof HUB_SOURCES[number];

/** Options of {@linkcode openRepo}. */
export interface OpenRepoOptions {
  /** Branch, tag or commit. Default `master` on ModelScope, `main` on Hugging Face. */
  revision?: string;
  /** Base URL of the hub; overrides `MODELSCOPE_DOMAIN` / `HF_ENDPOINT`. */
  endpoint?: string;
  /** Access token; overrides `MODELSCOPE_API_TOKEN` / `HF_TOKEN`. */
  token?: string;
  /** Reads an environment variable. Default `Deno.env.get` (none outside Deno). */
  env?: (name: string) => string | undefined;
}

/**
 * Opens `model` on a hub. Without explicit options:
 * - ModelScope: endpoint `https://$MODELSCOPE_DOMAIN` (a bare domain, as ModelScope's client
 *   takes it; a full URL works too), else https://www.modelscope.cn; token `$MODELSCOPE_API_TOKEN`.
 * - Hugging Face: endpoint `$HF_ENDPOINT`, else https://huggingface.co; token `$HF_TOKEN`.
 *
 * @example
 * ```ts
 * const repo = openRepo("modelscope", "LLM-Research/Llama-3.2-1B");
 * ```
 *
 * @throws {TypeError} on an unknown source, a malformed model id or an invalid endpoint URL
 */
export function openRepo(
  source: HubSource,
  model: string,
  options: OpenRepoOptions = {},
): HubRepo {
  checkModelId(model);
  const env = (name: string) => (options.env ?? denoEnv)(name) || undefined;
  let endpoint: string;
  let token: string | undefined;
  if (source === "modelscope") {
    const domain = env("MODELSCOPE_DOMAIN");
    endpoint = options.endpoint ??
      (domain === undefined ? MODELSCOPE_ENDPOINT : withScheme(domain));
    token = options.token ?? env("MODELSCOPE_API_TOKEN");
  } else if (source === "huggingface") {
    endpoint = options.endpoint ?? env("HF_ENDPOINT") ?? HUGGING_FACE_ENDPOINT;
    token = options.token ?? env("HF_TOKEN");
  } else {
    throw new TypeError(
      `Unknown hub ${JSON.stringify(source)}: expected one of ${HUB_SOURCES.join(", ")}`,
    );
  }
  if (!URL.canParse(endpoint) || !/^https?:$/.test(new URL(endpoint).protocol)) {
    throw new TypeError(`Hub endpoint must be an http(s) URL, got ${JSON.stringify(endpoint)}`);
  }
  const open = source === "modelscope" ? modelScopeRepo : huggingFaceRepo;
  return open(model, { endpoint, token, revision: options.revision });
}

/** Prepends `https://` to a bare domain. */
function withScheme(domain: string): string {
  return /^https?:\/\//.test(domain) ? domain : `https://${domain}`;
}

/** `Deno.env.get` in Deno; elsewhere (a browser tab) no variable is set. */
function denoEnv(name: string): string | undefined {
  return (globalThis as { Deno?: typeof Deno }).Deno?.env.get(name);
}
