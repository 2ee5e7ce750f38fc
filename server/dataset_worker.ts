/**
 * The Worker side of {@linkcode DatasetPreparer}: it parses, cleans and tokenises fine-tuning
 * data off the server's event loop. The first message is the tokenizer's spec; each later one
 * a {@linkcode PrepareRequest}, answered with a {@linkcode PrepareReply} of the same id.
 *
 * @module
 */
import {
  loadDataset,
  TextTokenizer,
  type TextTokenizerSpec,
  type TokenizedExample,
  tokenizeExamples,
} from "../mod.ts";
import { packExamples, type PrepareReply, type PrepareRequest } from "./dataset_preparer.ts";
import { MAX_JSON_DEPTH, nestsDeeperThan } from "./json_depth.ts";

/** Loads, cleans and tokenises one job's data; throws on bad data. */
function prepare(tokenizer: TextTokenizer, request: PrepareRequest): TokenizedExample[] {
  if (nestsDeeperThan(request.text, MAX_JSON_DEPTH)) {
    throw new Error(`The data nests deeper than ${MAX_JSON_DEPTH} levels`);
  }
  const dataset = loadDataset(request.text, {
    source: request.source,
    renderChat: tokenizer.hasChatTemplate
      ? (messages, options) => tokenizer.applyChatTemplate(messages, options)
      : undefined,
    chatTemplateKwargs: request.chatTemplateKwargs,
  });
  return tokenizeExamples(tokenizer, dataset.train, { maxLength: request.maxLength }).examples;
}

/** The worker's global scope (the project's type settings describe a window). */
const scope = self as unknown as {
  onmessage: (event: MessageEvent<TextTokenizerSpec | PrepareRequest>) => void;
  postMessage(message: PrepareReply, options: { transfer: ArrayBuffer[] }): void;
};

let tokenizer: TextTokenizer | null = null;
scope.onmessage = (event: MessageEvent<TextTokenizerSpec | PrepareRequest>) => {
  if (tokenizer === null) {
    tokenizer = TextTokenizer.fromSpec(event.data as TextTokenizerSpec);
    return;
  }
  const request = event.data as PrepareRequest;
  let reply: PrepareReply, transfer: ArrayBuffer[] = [];
  try {
    const examples = packExamples(prepare(tokenizer, request));
    reply = { id: request.id, examples };
    transfer = [examples.inputIds, examples.labels, examples.offsets].map((a) =>
      a.buffer as ArrayBuffer
    );
  } catch (e) {
    reply = { id: request.id, error: (e as Error).message };
  }
  scope.postMessage(reply, { transfer });
};
