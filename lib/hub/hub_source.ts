/**
 * `.hub_source.json`: where a downloaded model folder came from (hub, model id, revision), so
 * adapters trained on it can name their base model by its hub id rather than a local path.
 *
 * @module
 */
import type { ModelSource } from "../format/model_source.ts";
import type { HubSource } from "./open_repo.ts";

/** The file `downloadModel` writes into the model folder. */
export const HUB_SOURCE_FILE = ".hub_source.json";

/** What `.hub_source.json` holds. */
export interface HubSourceRecord {
  /** The hub it came from. */
  source: HubSource;
  /** The model id on that hub, `owner/name`. */
  model: string;
  /** The revision asked for, or null for the default branch. */
  revision: string | null;
}

/** The bytes of a `.hub_source.json`. */
export function hubSourceJson(record: HubSourceRecord): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(record, null, 2) + "\n");
}

/**
 * The hub id a model folder was downloaded as (its `.hub_source.json`), or null when it has
 * none or it is unreadable (a folder made by hand or by another tool).
 *
 * @example
 * ```ts
 * await readHubModelId(dirModelSource("./model_cache/LLM-Research/Llama-3___2-1B"));
 * // "LLM-Research/Llama-3.2-1B"
 * ```
 */
export async function readHubModelId(source: ModelSource): Promise<string | null> {
  if (!(await source.has(HUB_SOURCE_FILE))) return null;
  try {
    const record = JSON.parse(new TextDecoder().decode(await source.read(HUB_SOURCE_FILE)));
    return typeof record?.model === "string" && /^[^/\s]+\/[^/\s]+$/.test(record.model)
      ? record.model
      : null;
  } catch {
    return null;
  }
}
