/**
 * Training checkpoints in the cluster's checkpoint object store, so a job that loses its worker
 * resumes on another machine from the last one saved.
 *
 * @module
 */
import type { ObjectStore } from "@nats-io/obj";
import {
  memoryModelSource,
  type ModelConfig,
  readTrainingState,
  type TrainingState,
} from "../../mod.ts";
import { token } from "./names.ts";
import { type FolderManifest, getFolder, putFolder } from "./object_folder.ts";

/** Stores checkpoint `files` of job `jobId` at `step`; returns where they are. */
export function saveCheckpoint(
  store: ObjectStore,
  jobId: string,
  step: number,
  files: Map<string, Uint8Array>,
): Promise<FolderManifest> {
  return putFolder(store, `${token(jobId)}/checkpoint-${step}`, files);
}

/** Reads the checkpoint `manifest` names, checked against `config`. */
export async function loadCheckpoint(
  store: ObjectStore,
  manifest: FolderManifest,
  config: ModelConfig,
): Promise<TrainingState> {
  const files = await getFolder(store, manifest);
  return await readTrainingState(memoryModelSource(manifest.prefix, files), config);
}
