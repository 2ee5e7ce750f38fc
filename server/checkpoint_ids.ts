/**
 * Where fine-tuning checkpoints live and the model ids that serve them: job `ftjob-X` keeps its
 * checkpoints in `.jobs/ftjob-X/checkpoint-<step>` of the adapters directory, and each one is
 * a PEFT adapter that requests can name as `ftjob-X:ckpt-step-<step>` (OpenAI's form).
 *
 * @module
 */

/** The folder of job files and checkpoints, inside the adapters directory. */
export const JOBS_FOLDER = ".jobs";

const MODEL_ID = /^(ftjob-[A-Za-z0-9]{1,64}):ckpt-step-(\d{1,9})$/;

/** The model id of job `jobId`'s checkpoint at `step`. */
export function checkpointModelId(jobId: string, step: number): string {
  return `${jobId}:ckpt-step-${step}`;
}

/** The checkpoint folder of job `jobId` at `step`, relative to the adapters directory. */
export function checkpointFolder(jobId: string, step: number): string {
  return `${JOBS_FOLDER}/${jobId}/checkpoint-${step}`;
}

/** The step of a checkpoint folder path, or null when it is not one. */
export function checkpointStep(folder: string): number | null {
  const match = /\/checkpoint-(\d+)$/.exec(folder);
  return match ? Number(match[1]) : null;
}

/** The folder (relative to the adapters directory) a checkpoint model id names, or null. */
export function folderOfCheckpointModel(modelId: string): string | null {
  const match = MODEL_ID.exec(modelId);
  return match ? checkpointFolder(match[1], Number(match[2])) : null;
}
