/**
 * webgpu-lora: fine-tune Llama-family models with LoRA and generate text with them, entirely
 * in WGSL compute shaders over WebGPU. Adapters are saved and loaded in PEFT's format.
 *
 * @example Generate
 * ```ts
 * import { loadModel } from "./mod.ts";
 * const model = await loadModel("./model_cache/LLM-Research/Llama-3___2-1B");
 * const { text } = await model.generate("为什么天是蓝的？", { maxTokens: 64, temperature: 0 });
 * console.log(text);
 * ```
 *
 * @example Train a LoRA adapter and save it in PEFT format
 * ```ts
 * import { loadDataset, loadModel, serializePeftAdapter, tokenizeExamples, trainLora } from "./mod.ts";
 * const model = await loadModel("./model_cache/LLM-Research/Llama-3___2-1B");
 * const data = loadDataset(await Deno.readTextFile("./ruozhiba_qa.json"));
 * const { examples } = tokenizeExamples(model.tokenizer, data.train);
 * const run = trainLora(model, examples, { lora: { r: 16, alpha: 32 }, epochs: 3 });
 * for await (const step of run) console.log(step.step, step.loss);
 * ```
 *
 * @module
 */

// Defaults shared by the library, the command-line programs and the server
export {
  DEFAULT_KV_CACHE_DTYPE,
  DEFAULT_MAX_CONTEXT,
  LORA_DEFAULTS,
  TRAINING_DEFAULTS,
} from "./lib/defaults.ts";

// Loading and generation
export { loadModel, type LoadModelOptions } from "./lib/model/load_model.ts";
export { checkSeed, MAX_SEED } from "./lib/util/seed.ts";
export { parseByteSize } from "./lib/util/byte_size.ts";
export { CHAT_TEMPLATE_FILE, readTokenizer, TOKENIZER_FILES } from "./lib/text/tokenizer_files.ts";
export {
  type Backend,
  type EngineAdapter,
  type EngineOptions,
  type InferenceEngine,
  resolveKvCacheDtype,
  resolveMaxContext,
} from "./lib/model/engine.ts";
export {
  Model,
  type Prompt,
  type PromptTemplate,
  type TextGenerationOptions,
} from "./lib/model/model.ts";
export {
  type BatchedGenerationOptions,
  type BatchedGenerationResult,
  BatchedModel,
  type BatchedModelOptions,
  type LogprobChunk,
  SharedPrefill,
} from "./lib/model/batched_model.ts";
export {
  DEFAULT_MAX_BATCH,
  DEFAULT_MAX_LORA_RANK,
  GpuBatchEngine,
  type GpuBatchEngineOptions,
} from "./lib/model/gpu_batch_engine.ts";
export type { StepOutput, StepRow, StepSample, StepScore } from "./lib/model/batch_step.ts";
export { MAX_TOP_LOGPROBS, type TokenLogprob } from "./lib/ops/logprobs.ts";
export type { BatchSizes } from "./lib/model/batch_plan.ts";
export type { BatchStats, SequenceLogprobs } from "./lib/generate/batch_scheduler.ts";
export type {
  GenerateOptions,
  GenerationChunk,
  GenerationResult,
  LogitsStepper,
} from "./lib/generate/generate.ts";
export { NonFiniteLogitsError } from "./lib/generate/non_finite_logits.ts";
export type { ResolvedSampling, SamplingOptions } from "./lib/generate/sampling.ts";
export type { GpuWeights, LayerWeights } from "./lib/model/gpu_weights.ts";
export {
  type GpuDType,
  GpuTensor,
  type TensorChunk,
  type TensorOptions,
} from "./lib/gpu/tensor.ts";
export {
  type KernelName,
  RAW_KERNEL_SOURCES,
  SUBGROUP_REDUCTION_KERNELS,
  type SubgroupReductionKernel,
} from "./lib/gpu/kernel_sources.ts";
export { type Projection, PROJECTIONS } from "./lib/model/names.ts";
export { type DType, isDType } from "./lib/format/dtype.ts";
export { isKvCacheDtype, type KvCacheDtype } from "./lib/ops/rope.ts";
export {
  type ChatMessage,
  type ChatTemplateOptions,
  TextTokenizer,
  type TextTokenizerOptions,
  type TextTokenizerSpec,
} from "./lib/text/tokenizer.ts";
export {
  type ChatTemplateKwargs,
  checkChatTemplateKwargs,
} from "./lib/text/chat_template_kwargs.ts";
export {
  DEFAULT_PROMPT_TEMPLATE,
  DEFAULT_TRAINING_TEMPLATE,
  formatPrompt,
} from "./lib/text/prompt_template.ts";

// Formats: safetensors, config, model sources
export {
  entryToF32,
  f32Entry,
  parseSafetensors,
  type SafetensorsEntry,
  type SafetensorsFile,
  serializeSafetensors,
} from "./lib/format/safetensors.ts";
export { type ModelConfig, parseModelConfig, type RopeScalingLlama3 } from "./lib/model/config.ts";
export {
  ARCHITECTURES,
  type ArchitectureSpec,
  type BiasFlags,
  type ModelFamily,
} from "./lib/model/architecture.ts";
export { modelParameterCount, modelTensorShapes } from "./lib/model/shapes.ts";
export { type Checkpoint, readCheckpoint } from "./lib/format/checkpoint.ts";
export { memoryModelSource, type ModelSource, urlModelSource } from "./lib/format/model_source.ts";

// Browser files: picked folders, File System Access handles, the OPFS cache, zipped adapters
export type {
  DirectoryHandle,
  FileHandle,
  PickedFile,
  WritableFile,
} from "./lib/browser/file_handles.ts";
export { directoryModelSource, pickedFilesModelSource } from "./lib/browser/folder_sources.ts";
export { cachedModelSource, opfsFolder, writeFilesToFolder } from "./lib/browser/opfs.ts";
export { unzipFiles, zipFiles } from "./lib/browser/zip.ts";
export { checkModelFit, type ModelFit, type ModelFitOptions } from "./lib/browser/model_fit.ts";

// Files on disk (the thin Deno layer, loaded by dynamic imports so that browsers never fetch it)
export {
  dirModelSource,
  downloadModel,
  loadDatasetFile,
  writeFileAtomic,
  writeFolderAtomic,
  writeMergedModel,
  writeModelFiles,
} from "./lib/deno_layer.ts";

// LoRA adapters
export {
  type LoraConfig,
  type LoraOptions,
  loraScaleOf,
  resolveLoraConfig,
} from "./lib/lora/lora_config.ts";
export { initLoraWeights, loraParameterCount, type LoraWeights } from "./lib/lora/lora_weights.ts";
export {
  ADAPTER_CONFIG,
  ADAPTER_WEIGHTS,
  MODEL_CARD,
  readPeftAdapter,
  serializePeftAdapter,
} from "./lib/lora/peft_files.ts";
export {
  mergeAdapter,
  type MergedFile,
  mergedFileBytes,
  mergedModelFiles,
  mergedSideFiles,
  mergedWeightFiles,
} from "./lib/lora/merge.ts";
export type { WriteMergedOptions } from "./lib/lora/write_merged_model.ts";
export { adapterModelCard, isHubModelId, mergedModelCard } from "./lib/lora/model_card.ts";
export { parsePeftAdapterConfig } from "./lib/lora/peft_config.ts";

// Training
export { type TrainingExample } from "./lib/data/to_example.ts";
export { type Dataset, loadDataset, type LoadDatasetOptions } from "./lib/data/load_dataset.ts";
export {
  type CleanOptions,
  type CleanReport,
  type DroppedRecord,
  type DropReason,
  formatCleanReport,
} from "./lib/data/clean.ts";
export { DATASET_FORMATS, type DatasetFormat } from "./lib/data/formats.ts";
export type { RenderChat } from "./lib/data/to_example.ts";
export type { TokenizedExample } from "./lib/train/batch.ts";
export type { LrScheduler } from "./lib/train/lr_schedule.ts";
export {
  tokenizeExamples,
  type TokenizeOptions,
  type TokenizeReport,
} from "./lib/train/tokenize_examples.ts";
export {
  type LossPoint,
  trainLora,
  type TrainLoraOptions,
  type TrainResult,
  type TrainStepEvent,
} from "./lib/train/train_lora.ts";
export {
  readTrainingState,
  serializeTrainingState,
  type TrainingState,
} from "./lib/train/training_state.ts";
export { evaluateModel, type EvaluateModelOptions, type Evaluation } from "./lib/train/evaluate.ts";
export { TrainingDivergedError } from "./lib/train/diverged.ts";
export { lossCurveSvg } from "./lib/train/loss_curve_svg.ts";

// GPU memory
export { acquireGpu, type AcquireGpuOptions, type Gpu } from "./lib/gpu/device.ts";
export type {
  AdapterClass,
  ChoiceOrigin,
  KernelChoices,
  MatmulChoice,
  MatmulClass,
  MatmulVariantName,
} from "./lib/gpu/kernel_choices.ts";
export {
  type CachedMatmulChoice,
  KERNEL_CACHE_ENV,
  KernelChoiceCache,
} from "./lib/gpu/kernel_choice_cache.ts";
export {
  DispatchProfiler,
  type ProfiledDispatch,
  type SubmitTimestamps,
} from "./lib/gpu/dispatch_profiler.ts";
export type { BufferArg, Dispatch } from "./lib/gpu/recorder.ts";
export { type MemoryReport, MemoryTracker } from "./lib/gpu/memory.ts";
export type { GpuCounters } from "./lib/gpu/recorder.ts";
export {
  type CompiledPipeline,
  type KernelConstants,
  PipelineCache,
  pipelineKey,
} from "./lib/gpu/pipeline_cache.ts";
export {
  estimateBatchInference,
  estimateInference,
  estimateTraining,
  type InferenceEstimateSettings,
  measuredBreakdown,
  type MemoryBreakdown,
  type TrainingEstimateSettings,
} from "./lib/estimate/estimate_memory.ts";

// Downloads from Hugging Face and ModelScope
export { DEFAULT_MODEL } from "./lib/hub/model_id.ts";
export type { DownloadedModel, DownloadModelOptions } from "./lib/hub/download_model.ts";
export { HubError, type HubErrorKind } from "./lib/hub/hub_error.ts";
export { HUB_SOURCES, type HubSource, type OpenRepoOptions } from "./lib/hub/open_repo.ts";
export type { RetryOptions } from "./lib/hub/retry.ts";
export { HUB_SOURCE_FILE, readHubModelId } from "./lib/hub/hub_source.ts";
export type { DownloadEvent, HubFile } from "./lib/hub/types.ts";

// Utilities
export { AsyncLock } from "./lib/util/async_lock.ts";
