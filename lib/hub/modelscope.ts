/**
 * The ModelScope hub: file list from
 * `/api/v1/models/{id}/repo/files?Revision={rev}&Recursive=True` (`Data.Files[]` with `Path`,
 * `Size`, `Sha256`), files from `/api/v1/models/{id}/repo?Revision={rev}&FilePath={path}`, and the
 * access token sent as the `m_session_id` cookie, as ModelScope's own client does.
 *
 * @module
 */

import { z } from "../deps.ts";
import { getListingJson } from "./_list_json.ts";
import { HubError } from "./hub_error.ts";
import type { HubRepo } from "./types.ts";

/** The public ModelScope endpoint. */
export const MODELSCOPE_ENDPOINT = "https://www.modelscope.cn";

const FileList = z.object({
  Code: z.number().optional(),
  Message: z.string().nullish(),
  Data: z.object({
    Files: z.array(z.object({
      Path: z.string(),
      Size: z.number().int().nonnegative(),
      Sha256: z.string().nullish(),
      Type: z.string().nullish(),
    })).nullish(),
  }).nullish(),
});

/**
 * A ModelScope model repository.
 *
 * @param model the model id, `owner/name`
 * @param options `endpoint` (default https://www.modelscope.cn), `token`, `revision` (default
 *   master)
 *
 * @example
 * ```ts
 * const repo = modelScopeRepo("LLM-Research/Llama-3.2-1B");
 * const files = await repo.listFiles(); // config.json, model.safetensors, …
 * ```
 */
export function modelScopeRepo(
  model: string,
  options: { endpoint?: string; token?: string; revision?: string } = {},
): HubRepo {
  const endpoint = (options.endpoint ?? MODELSCOPE_ENDPOINT).replace(/\/+$/, "");
  const revision = options.revision ?? "master";
  const rev = encodeURIComponent(revision);
  const repo: HubRepo = {
    hub: "ModelScope",
    model,
    revision,
    tokenEnv: "MODELSCOPE_API_TOKEN",
    authHeaders: options.token ? { cookie: `m_session_id=${options.token}` } : {},
    fileUrl: (path) =>
      `${endpoint}/api/v1/models/${model}/repo?Revision=${rev}&FilePath=${
        encodeURIComponent(path)
      }`,
    sha256FromHeaders: () => undefined,
    async listFiles(signal) {
      const url = `${endpoint}/api/v1/models/${model}/repo/files?Revision=${rev}&Recursive=True`;
      const { body } = await getListingJson(repo, url, signal);
      const list = FileList.safeParse(body);
      if (!list.success) {
        throw new HubError(
          "bad_response",
          `ModelScope sent an unexpected file list for ${model}: ${list.error.issues[0].message}`,
        );
      }
      const { Code, Message, Data } = list.data;
      if ((Code !== undefined && Code !== 200) || !Data?.Files) {
        throw new HubError(
          "bad_response",
          `ModelScope could not list the files of ${model} at revision ${revision}: ` +
            `${Message ?? `code ${Code}`}`,
        );
      }
      return Data.Files.filter((f) => f.Type !== "tree").map((f) => ({
        path: f.Path,
        size: f.Size,
        ...(f.Sha256 ? { sha256: f.Sha256.toLowerCase() } : {}),
      }));
    },
  };
  return repo;
}
