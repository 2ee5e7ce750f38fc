/**
 * Records a whole step (a forward pass, a decode token, a training micro-step) as dispatches,
 * copies and readbacks, then encodes them into ONE command encoder and ONE submit.
 * Uniform structs of all dispatches share one buffer, written once per submit.
 *
 * @module
 */
import type { Gpu } from "./device.ts";
import { DispatchProfiler } from "./dispatch_profiler.ts";
import type { KernelConstants } from "./pipeline_cache.ts";
import { type KernelName, reductionVariant } from "./kernel_sources.ts";

/** A storage buffer bound to a kernel: the whole buffer or a byte range of it. */
export type BufferArg = GPUBuffer | { buffer: GPUBuffer; offset?: number; size?: number };

/** One compute dispatch. Binding 0 is the uniform struct; `buffers` are bindings 1, 2, ... */
export interface Dispatch {
  /** The kernel (a file under `kernels/`). */
  kernel: KernelName;
  /** Its compile-time constants. */
  constants?: KernelConstants;
  /** Bytes of the kernel's uniform `Params` struct (see `ParamWriter`). */
  params: Uint8Array;
  /** Storage buffers in binding order starting at binding 1; null skips a binding number. */
  buffers: (BufferArg | null)[];
  /** Workgroup counts. */
  workgroups: [number, number?, number?];
  /**
   * Pipelines the same call site uses for other shapes (a matmul's kernel for another class
   * of M): {@linkcode CommandRecorder.prepare} builds them too.
   */
  alsoPrepare?: { kernel: KernelName; constants?: KernelConstants }[];
}

type Command =
  | { kind: "dispatch"; dispatch: Dispatch; uniformOffset: number }
  | {
    kind: "copy";
    src: GPUBuffer;
    srcOffset: number;
    dst: GPUBuffer;
    dstOffset: number;
    size: number;
  }
  | { kind: "clear"; buffer: GPUBuffer; offset: number; size?: number };

interface PendingRead {
  staging: GPUBuffer;
  size: number;
  resolve: (data: ArrayBuffer) => void;
  reject: (error: unknown) => void;
}

/** Counters of GPU traffic, for the efficiency figures of the benchmarks. */
export interface GpuCounters {
  /** Queue submits. */
  submits: number;
  /** Compute dispatches. */
  dispatches: number;
  /** Buffer readbacks (each a `mapAsync`). */
  readbacks: number;
  /** Bind groups created (a dispatch recorded like one before reuses that one's). */
  bindGroups: number;
}

/** Bind groups kept at most; past it the cache starts over (buffers of released models go). */
const MAX_BIND_GROUPS = 8192;

const UNIFORM_ALIGN = 256;

/** Collects the commands of one step and submits them together. */
export class CommandRecorder {
  readonly #gpu: Gpu;
  readonly counters: GpuCounters = { submits: 0, dispatches: 0, readbacks: 0, bindGroups: 0 };
  /**
   * Bind groups by pipeline, bindings and uniform offset. A step records the same dispatches
   * with the same uniform offsets as the step before it, so in steady state none is created.
   */
  readonly #bindGroups = new Map<string, GPUBindGroup>();
  /** Identities of pipelines and buffers, for the bind-group keys. */
  readonly #ids = new WeakMap<object, number>();
  #nextId = 0;
  #commands: Command[] = [];
  #uniformBytes = new Uint8Array(64 * UNIFORM_ALIGN);
  #uniformUsed = 0;
  #uniformBuffer: GPUBuffer | null = null;
  #reads: PendingRead[] = [];
  /** Mappable buffers by size, reused so that steady-state steps allocate nothing. */
  readonly #staging = new Map<number, GPUBuffer[]>();

  /** A recorder for `gpu`. Keep one per model: its uniform buffer is reused across steps. */
  constructor(gpu: Gpu) {
    this.#gpu = gpu;
  }

  /** The device this recorder submits to (ops read its kernel choices, `gpu.kernels`). */
  get gpu(): Gpu {
    return this.#gpu;
  }

  /**
   * Queues a compute dispatch: of the kernel's subgroup variant where the device's choice says
   * so (`reductionVariant`), and so the kernels it also prepares.
   */
  dispatch(dispatch: Dispatch): void {
    const [x, y = 1, z = 1] = dispatch.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const max = this.#gpu.device.limits.maxComputeWorkgroupsPerDimension;
    if (x > max || y > max || z > max) {
      throw new RangeError(`Dispatch of ${dispatch.kernel} too large: ${x}x${y}x${z} workgroups`);
    }
    const uniformOffset = this.#pushUniform(dispatch.params);
    const subgroups = this.#gpu.kernels.matmul.subgroupReductions;
    const variant = <T extends { kernel: KernelName }>(d: T): T => ({
      ...d,
      kernel: reductionVariant(d.kernel, subgroups),
    });
    const alsoPrepare = dispatch.alsoPrepare?.map(variant);
    this.#commands.push({
      kind: "dispatch",
      dispatch: { ...variant(dispatch), ...alsoPrepare && { alsoPrepare } },
      uniformOffset,
    });
  }

  /** Queues a buffer-to-buffer copy. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, size: number): void {
    this.#commands.push({ kind: "copy", src, srcOffset, dst, dstOffset, size });
  }

  /** Queues zero-filling of a buffer range. */
  clear(buffer: GPUBuffer, offset = 0, size?: number): void {
    this.#commands.push({ kind: "clear", buffer, offset, size });
  }

  /**
   * Queues a copy of `size` bytes of `src` to the host. The promise resolves after the next
   * {@linkcode submit} once the GPU has finished.
   */
  read(src: GPUBuffer, offset: number, size: number): Promise<ArrayBuffer> {
    const padded = Math.ceil(size / 4) * 4;
    const staging = this.#staging.get(padded)?.pop() ?? this.#gpu.device.createBuffer({
      label: "readback",
      size: padded,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    this.copy(src, offset, staging, 0, padded);
    return new Promise((resolve, reject) => this.#reads.push({ staging, size, resolve, reject }));
  }

  /**
   * Compiles the pipelines of every queued dispatch and drops the queue without submitting:
   * models record one step at load so that all pipelines are built once, up front.
   */
  prepare(): void {
    for (const command of this.#commands) {
      if (command.kind !== "dispatch") continue;
      for (
        const { kernel, constants } of [command.dispatch, ...command.dispatch.alsoPrepare ?? []]
      ) {
        this.#gpu.pipelines.get(kernel, constants);
      }
    }
    this.#commands = [];
    this.#uniformUsed = 0;
    for (const read of this.#reads) {
      this.#release(read.staging);
      read.reject(new Error("Recorded step was discarded"));
    }
    this.#reads = [];
  }

  /** Encodes every queued command into one encoder, submits it, and starts the readbacks. */
  submit(): void {
    const device = this.#gpu.device;
    const uniforms = this.#uniformBufferFor(this.#uniformUsed);
    if (this.#uniformUsed > 0) {
      device.queue.writeBuffer(uniforms, 0, this.#uniformBytes, 0, this.#uniformUsed);
    }
    const encoder = device.createCommandEncoder();
    // With a profiler attached, each dispatch gets a pass of its own that writes timestamps.
    const timestamps = DispatchProfiler.of(this.#gpu)?.forSubmit(
      this.#commands.flatMap((c) => c.kind === "dispatch" ? [c.dispatch] : []),
    );
    let pass: GPUComputePassEncoder | null = null;
    let timed = 0;
    for (const command of this.#commands) {
      if (command.kind === "dispatch") {
        if (timestamps) {
          pass?.end();
          pass = encoder.beginComputePass({ timestampWrites: timestamps.writes(timed++) });
        }
        pass ??= encoder.beginComputePass();
        this.#encodeDispatch(pass, command.dispatch, uniforms, command.uniformOffset);
        continue;
      }
      pass?.end();
      pass = null;
      if (command.kind === "copy") {
        encoder.copyBufferToBuffer(
          command.src,
          command.srcOffset,
          command.dst,
          command.dstOffset,
          command.size,
        );
      } else {
        encoder.clearBuffer(command.buffer, command.offset, command.size);
      }
    }
    pass?.end();
    timestamps?.resolve(encoder);
    device.queue.submit([encoder.finish()]);
    timestamps?.collect();
    this.counters.submits++;
    this.#commands = [];
    this.#uniformUsed = 0;
    for (const read of this.#reads) this.#finishRead(read);
    this.#reads = [];
  }

  #finishRead(read: PendingRead): void {
    this.counters.readbacks++;
    read.staging.mapAsync(GPUMapMode.READ).then(() => {
      const data = read.staging.getMappedRange().slice(0, read.size);
      read.staging.unmap();
      this.#release(read.staging);
      read.resolve(data);
    }, read.reject);
  }

  #release(staging: GPUBuffer): void {
    const free = this.#staging.get(staging.size) ?? [];
    free.push(staging);
    this.#staging.set(staging.size, free);
  }

  #encodeDispatch(
    pass: GPUComputePassEncoder,
    dispatch: Dispatch,
    uniforms: GPUBuffer,
    uniformOffset: number,
  ): void {
    const pipeline = this.#gpu.pipelines.get(dispatch.kernel, dispatch.constants);
    const entries: GPUBindGroupEntry[] = [{
      binding: 0,
      resource: { buffer: uniforms, offset: uniformOffset, size: dispatch.params.byteLength },
    }];
    dispatch.buffers.forEach((arg, i) => {
      if (arg === null) return;
      const resource = "buffer" in arg && !(arg instanceof GPUBuffer) ? arg : { buffer: arg };
      entries.push({ binding: i + 1, resource });
    });
    const key = [
      this.#idOf(pipeline),
      ...entries.map(({ binding, resource }) => {
        const { buffer, offset, size } = resource as GPUBufferBinding;
        return `${binding}:${this.#idOf(buffer)}:${offset ?? 0}:${size ?? ""}`;
      }),
    ].join(",");
    let bindGroup = this.#bindGroups.get(key);
    if (!bindGroup) {
      if (this.#bindGroups.size >= MAX_BIND_GROUPS) this.#bindGroups.clear();
      bindGroup = this.#gpu.device.createBindGroup({
        label: dispatch.kernel,
        layout: pipeline.getBindGroupLayout(0),
        entries,
      });
      this.#bindGroups.set(key, bindGroup);
      this.counters.bindGroups++;
    }
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    const [x, y = 1, z = 1] = dispatch.workgroups;
    pass.dispatchWorkgroups(x, y, z);
    this.counters.dispatches++;
  }

  /** A number that stays with `object` (a pipeline or a buffer) for this recorder's life. */
  #idOf(object: object): number {
    let id = this.#ids.get(object);
    if (id === undefined) this.#ids.set(object, id = this.#nextId++);
    return id;
  }

  #pushUniform(bytes: Uint8Array): number {
    const offset = this.#uniformUsed;
    const end = offset + UNIFORM_ALIGN;
    if (end > this.#uniformBytes.byteLength) {
      const grown = new Uint8Array(this.#uniformBytes.byteLength * 2);
      grown.set(this.#uniformBytes);
      this.#uniformBytes = grown;
    }
    this.#uniformBytes.fill(0, offset, end);
    this.#uniformBytes.set(bytes, offset);
    this.#uniformUsed = end;
    return offset;
  }

  #uniformBufferFor(bytes: number): GPUBuffer {
    const needed = Math.max(bytes, UNIFORM_ALIGN);
    if (!this.#uniformBuffer || this.#uniformBuffer.size < needed) {
      if (this.#uniformBuffer) {
        this.#gpu.memory.free("workspace", this.#uniformBuffer.size);
        this.#uniformBuffer.destroy();
      }
      const size = Math.max(needed, this.#uniformBytes.byteLength);
      this.#uniformBuffer = this.#gpu.device.createBuffer({
        label: "uniforms",
        size,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      });
      this.#gpu.memory.allocate("workspace", size);
    }
    return this.#uniformBuffer;
  }

  /** Frees the uniform and readback buffers and forgets the bind groups. */
  dispose(): void {
    this.#bindGroups.clear();
    for (const free of this.#staging.values()) for (const b of free) b.destroy();
    this.#staging.clear();
    if (this.#uniformBuffer) {
      this.#gpu.memory.free("workspace", this.#uniformBuffer.size);
      this.#uniformBuffer.destroy();
      this.#uniformBuffer = null;
    }
  }
}
