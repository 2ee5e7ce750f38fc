/**
 * Submitting a fine-tuning job to the cluster: its training data and settings (the job spec)
 * go to the files object store, its record to the jobs bucket, a "created" event to the events
 * stream, and its id to the base model's work queue, in that order, so a worker that takes the
 * id finds everything. An `Idempotency-Key` makes repeats of a request return the first job.
 *
 * @module
 */
import type { TokenizedExample } from "../../mod.ts";
import type { JobTrainingOptions } from "../job_preparer.ts";
import type { FineTuningJob } from "../job_store.ts";
import type { Cluster } from "./jetstream_setup.ts";
import { bindIdempotencyKey, releaseIdempotencyKey } from "./idempotency_keys.ts";
import { newEvent, publishJobEvent } from "./job_events.ts";
import { enqueueJob } from "./job_queue.ts";
import { JobRecords } from "./job_records.ts";

/** What a worker needs to run a job: the tokenised data and the training settings. */
export interface JobSpec {
  /** The adapter's model id once trained. */
  adapterName: string;
  /** The tokenised records. */
  examples: TokenizedExample[];
  /** `trainLora`'s settings (plain JSON). */
  options: JobTrainingOptions;
}

/** The files-store name of job `jobId`'s spec. */
export const specName = (jobId: string): string => `job-specs/${jobId}.json`;

/**
 * Submits `job` (status queued) with `spec`, its record written through `records`; with
 * `idempotencyKey`, a key seen before returns the job it created instead. Resolves to the job
 * as stored.
 */
export async function submitJob(
  cluster: Cluster,
  job: FineTuningJob,
  spec: JobSpec,
  idempotencyKey?: string,
  records: JobRecords = new JobRecords(cluster.jobs),
): Promise<FineTuningJob> {
  if (idempotencyKey !== undefined) {
    const bound = await bindIdempotencyKey(cluster.idempotency, idempotencyKey, job.id);
    if (bound !== job.id) return await waitForRecord(records, bound);
  }
  try {
    await cluster.files.putBlob(
      { name: specName(job.id) },
      new TextEncoder().encode(JSON.stringify(spec)),
    );
    await records.create(job);
  } catch (e) {
    if (idempotencyKey !== undefined) {
      await releaseIdempotencyKey(cluster.idempotency, idempotencyKey);
    }
    throw e;
  }
  await publishJobEvent(
    cluster.js,
    job.id,
    "created",
    newEvent("info", `Created fine-tuning job ${job.id} on ${spec.examples.length} examples`),
  );
  await enqueueJob(cluster.js, job.model, job.id);
  return job;
}

/** The spec of job `jobId`. */
export async function loadJobSpec(cluster: Cluster, jobId: string): Promise<JobSpec> {
  const bytes = await cluster.files.getBlob(specName(jobId));
  if (!bytes) throw new Error(`Job ${jobId} has no stored spec`);
  return JSON.parse(new TextDecoder().decode(bytes));
}

/** The job `id` once its record exists (another request is creating it), within 10 s. */
async function waitForRecord(records: JobRecords, id: string): Promise<FineTuningJob> {
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const record = await records.get(id);
    if (record) return record.job;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`Job ${id}, created by an earlier request with this Idempotency-Key, is missing`);
}
