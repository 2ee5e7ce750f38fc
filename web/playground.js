// The playground: pick a model, chat, load a data set, train a LoRA adapter, compare and save
// it, all in the tab through the browser build of webgpu-lora (dist/webgpu-lora.js, written by
// `deno task build:web`). Served by `deno task serve` at /, or from any static host.
const $ = (id) => document.getElementById(id);

const state = {
  lib: null, // the library module
  gpu: null, // its Gpu, or null without WebGPU
  source: null, // the model source picked with "Choose a folder…"
  model: null,
  modelName: "",
  dataset: null,
  adapter: null,
  adapterFiles: null,
  controller: null, // aborts the training run
};

function say(id, text, kind = "") {
  const el = $(id);
  el.textContent = text;
  el.className = `status ${kind}`;
}

const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const folderSafe = (text) => text.replace(/[^\w.-]+/g, "_").slice(-100) || "model";

async function start() {
  try {
    state.lib = await import("../dist/webgpu-lora.js");
  } catch (e) {
    say("gpu-status", `The library did not load (${e.message}): run deno task build:web`, "error");
    return;
  }
  if (!navigator.gpu) {
    say(
      "gpu-status",
      "WebGPU is not available in this browser, so models cannot run in this tab. Use a recent " +
        "Chrome, Edge or Safari (in Chromium on Linux, start it with --enable-unsafe-webgpu), or " +
        'tick "Generate on the server" to chat through the server.',
      "error",
    );
    $("use-server").checked = true;
  } else {
    try {
      state.gpu = await state.lib.acquireGpu();
      const limits = state.gpu.device.limits;
      say(
        "gpu-status",
        `GPU: ${state.gpu.adapterName}${state.gpu.isFallback ? " (software fallback)" : ""}; ` +
          `largest storage binding ${mib(limits.maxStorageBufferBindingSize)}, largest buffer ` +
          `${mib(limits.maxBufferSize)}, shader-f16 ${state.gpu.hasF16 ? "yes" : "no"}`,
        "ok",
      );
    } catch (e) {
      say("gpu-status", `WebGPU has no usable adapter here: ${e.message}`, "error");
    }
  }
  if ("showDirectoryPicker" in globalThis) $("pick-folder").hidden = false;
  $("pick-folder").onclick = pickFolder;
  $("load-model").onclick = () => run("model-status", loadModel);
  $("chat-form").onsubmit = (event) => {
    event.preventDefault();
    run("model-status", chat);
  };
  $("data-file").onchange = async () => {
    $("data-text").value = await $("data-file").files[0].text();
    run("data-report", checkData);
  };
  $("data-check").onclick = () => run("data-report", checkData);
  $("train-start").onclick = () => run("train-status", train);
  $("train-cancel").onclick = () => state.controller?.abort();
  $("save-zip").onclick = () => run("save-status", saveZip);
  $("save-opfs").onclick = () => run("save-status", saveOpfs);
}

/** Runs an action, showing its error in the status line `id`. */
async function run(id, action) {
  try {
    await action();
  } catch (e) {
    console.error(e);
    say(id, e.message, "error");
  }
}

async function pickFolder() {
  const handle = await globalThis.showDirectoryPicker();
  state.source = state.lib.directoryModelSource(handle);
  document.querySelector("input[name=source][value=folder]").checked = true;
}

async function modelSource() {
  const { lib } = state;
  const choice = document.querySelector("input[name=source]:checked").value;
  if (choice === "server") return lib.urlModelSource(new URL("../model/", location.href));
  if (choice === "url") {
    const url = $("model-url").value.trim();
    if (!url) throw new Error("Enter the model's URL (a folder with config.json)");
    const source = lib.urlModelSource(url);
    if (!$("cache-opfs").checked) return source;
    return lib.cachedModelSource(
      source,
      await lib.opfsFolder(`webgpu-lora/models/${folderSafe(url)}`),
    );
  }
  if ($("model-folder").files.length) return lib.pickedFilesModelSource($("model-folder").files);
  if (state.source) return state.source;
  throw new Error("Choose a model folder first");
}

async function loadModel() {
  const { lib, gpu } = state;
  if (!gpu) throw new Error("This tab has no WebGPU: generate on the server instead");
  const source = await modelSource();
  say("model-status", `Reading ${source.name}…`);
  const config = lib.parseModelConfig(
    JSON.parse(new TextDecoder().decode(await source.read("config.json"))),
  );
  const fit = lib.checkModelFit(config, {
    budgetBytes: Number($("budget").value) * 2 ** 30,
    maxBindingBytes: gpu.maxBindingBytes,
  });
  if (!fit.fitsInference) throw new Error(fit.message);
  say("model-status", `${fit.message}. Loading…`);
  const started = performance.now();
  state.model?.dispose();
  state.model = await lib.loadModel(source, { gpu });
  state.modelName = source.name;
  const params = (lib.modelParameterCount(config) / 1e6).toFixed(1);
  say(
    "model-status",
    `Loaded ${source.name}: ${config.family}, ${params} M parameters, in ` +
      `${((performance.now() - started) / 1000).toFixed(1)} s. ${fit.message}.`,
    "ok",
  );
}

function addLine(className, text) {
  const line = Object.assign(document.createElement("p"), { className, textContent: text });
  $("chat-log").append(line);
  return line;
}

async function chat() {
  const prompt = $("chat-input").value;
  $("chat-input").value = "";
  addLine("user", prompt);
  const answer = addLine("assistant", "");
  const adapter = $("chat-adapter").value || null;
  const deltas = $("use-server").checked
    ? serverStream(prompt, adapter)
    : requireModel().stream(prompt, { maxTokens: 48, temperature: 0.7, adapter });
  try {
    for await (const delta of deltas) {
      answer.textContent += delta;
      $("chat-log").scrollTop = $("chat-log").scrollHeight;
    }
  } finally {
    answer.classList.add("done"); // for the browser test: the answer is complete
  }
}

function requireModel() {
  if (!state.model) throw new Error("Load a model first");
  return state.model;
}

/** Streams a chat completion from the server's OpenAI API (SSE). */
async function* serverStream(prompt, adapter) {
  const models = await (await fetch("../v1/models")).json();
  if (!models.data) throw new Error(`The server's /v1/models failed: ${JSON.stringify(models)}`);
  const response = await fetch("../v1/chat/completions", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      model: adapter ?? models.data[0].id,
      messages: [{ role: "user", content: prompt }],
      max_tokens: 48,
      stream: true,
    }),
  });
  if (!response.ok) {
    throw new Error(`The server answered ${response.status}: ${await response.text()}`);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const event = buffer.slice(0, end).replace(/^data: /, "");
      buffer = buffer.slice(end + 2);
      if (event === "[DONE]") return;
      const chunk = JSON.parse(event);
      if (chunk.error) throw new Error(chunk.error.message);
      yield chunk.choices[0]?.delta?.content ?? "";
    }
  }
}

function checkData() {
  const text = $("data-text").value;
  if (!text.trim()) throw new Error("Paste a data set or choose a file first");
  state.dataset = state.lib.loadDataset(text);
  const { format, train, validation, report } = state.dataset;
  say(
    "data-report",
    `Format: ${format}; ${train.length} training and ${validation.length} validation examples.\n` +
      state.lib.formatCleanReport(report),
    "ok",
  );
}

async function generateAnswer(adapter) {
  const prompt = $("compare-prompt").value;
  return (await requireModel().generate(prompt, { maxTokens: 32, temperature: 0, adapter })).text;
}

async function train() {
  const { lib } = state;
  const model = requireModel();
  if (!state.dataset) checkData();
  const name = $("adapter-name").value.trim();
  if (!/^[\w.-]+$/.test(name)) {
    throw new Error(`Adapter name must be letters, digits, - _ . (got "${name}")`);
  }
  const { examples } = lib.tokenizeExamples(model.tokenizer, state.dataset.train, {
    maxLength: Number($("train-max-length").value),
  });
  if (examples.length === 0) throw new Error("No example is left after tokenizing");
  $("answer-before").textContent = await generateAnswer(null);
  const rank = Number($("train-rank").value);
  state.controller = new AbortController();
  $("train-start").disabled = true;
  $("train-cancel").disabled = false;
  const losses = [];
  try {
    const run = lib.trainLora(model, examples, {
      lora: { r: rank, alpha: 2 * rank },
      maxSteps: Number($("train-steps").value),
      batchSize: Number($("train-batch").value),
      lr: Number($("train-lr").value),
      logEvery: 1,
      signal: state.controller.signal,
    });
    let result;
    while (!(result = await run.next()).done) {
      const event = result.value;
      $("train-progress").max = event.totalSteps;
      $("train-progress").value = event.step;
      if (event.loss !== undefined) {
        losses.push({ step: event.step, loss: event.loss });
        $("loss-curve").innerHTML = lib.lossCurveSvg(losses, {
          title: `LoRA r=${rank} on ${state.modelName}`,
        });
      }
      say(
        "train-status",
        `Step ${event.step}/${event.totalSteps}, loss ${losses.at(-1)?.loss.toFixed(3)}, ` +
          `${event.tokensPerSecond.toFixed(0)} tokens/s`,
      );
    }
    state.adapter = result.value.adapter;
    model.addAdapter(name, state.adapter);
    if (![...$("chat-adapter").options].some((o) => o.value === name)) {
      $("chat-adapter").append(new Option(name, name));
    }
    state.adapterFiles = lib.serializePeftAdapter(state.adapter, model.config, state.modelName);
    $("answer-after").textContent = await generateAnswer(name);
    say(
      "train-status",
      `${result.value.status === "cancelled" ? "Cancelled" : "Done"} after ${
        losses.at(-1)?.step ?? 0
      } ` +
        `steps: loss ${losses[0]?.loss.toFixed(3)} → ${
          losses.at(-1)?.loss.toFixed(3)
        }; adapter "${name}" is loaded`,
      "ok",
    );
    $("save-zip").disabled = $("save-opfs").disabled = false;
  } finally {
    $("train-start").disabled = false;
    $("train-cancel").disabled = true;
  }
}

function saveZip() {
  const zip = state.lib.zipFiles(state.adapterFiles);
  const name = $("adapter-name").value.trim();
  const link = Object.assign(document.createElement("a"), {
    href: URL.createObjectURL(new Blob([zip], { type: "application/zip" })),
    download: `${name}.zip`,
  });
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  say("save-status", `Downloaded ${name}.zip: ${[...state.adapterFiles.keys()].join(", ")}`, "ok");
}

async function saveOpfs() {
  const name = $("adapter-name").value.trim();
  const path = `webgpu-lora/adapters/${name}`;
  await state.lib.writeFilesToFolder(await state.lib.opfsFolder(path), state.adapterFiles);
  say("save-status", `Saved in this browser's private storage (OPFS) at ${path}/`, "ok");
}

start();
