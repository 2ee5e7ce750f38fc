/**
 * Packs tokenised examples into a padded micro-batch. Sequences are right-padded, so causal
 * attention never lets a real token see padding; padded rows and masked labels get the
 * ignore target -100.
 *
 * Dimensions: B sequences, T padded length, N = B·T rows.
 *
 * @module
 */

/** The ignored label (PyTorch's `ignore_index`). */
export const IGNORE = -100;

/** A tokenised training example. */
export interface TokenizedExample {
  /** Token ids, BOS first and EOS last. */
  inputIds: number[];
  /** Labels aligned with `inputIds`; -100 where no loss is taken (the prompt, say). */
  labels: number[];
}

/** A padded micro-batch, ready to upload. */
export interface PackedBatch {
  /** Sequences. */
  batchSize: number;
  /** Padded length. */
  seqLen: number;
  /** Token ids (N), padding with `padId`. */
  ids: Uint32Array;
  /** What each row predicts (N): labels shifted left by one, -100 where ignored. */
  targets: Int32Array;
  /** Rows whose target is not ignored. */
  labelTokens: number;
  /** Real (unpadded) tokens. */
  tokens: number;
}

/**
 * Packs `examples` into one micro-batch of `seqLen` (default: the longest example). Logits at
 * position t predict `labels[t + 1]`, as in Hugging Face's causal-LM loss.
 */
export function packBatch(
  examples: TokenizedExample[],
  padId: number,
  seqLen?: number,
): PackedBatch {
  if (examples.length === 0) throw new RangeError("Batch is empty");
  const T = seqLen ?? Math.max(...examples.map((e) => e.inputIds.length));
  const B = examples.length;
  const ids = new Uint32Array(B * T).fill(padId); // (B, T)
  const targets = new Int32Array(B * T).fill(IGNORE); // (B, T)
  let labelTokens = 0, tokens = 0;
  examples.forEach((example, b) => {
    const { inputIds, labels } = example;
    if (inputIds.length !== labels.length) {
      throw new RangeError(
        `Example ${b} has ${inputIds.length} ids but ${labels.length} labels`,
      );
    }
    if (inputIds.length > T) {
      throw new RangeError(`Example ${b} has ${inputIds.length} tokens, more than ${T}`);
    }
    ids.set(inputIds, b * T);
    tokens += inputIds.length;
    for (let t = 0; t + 1 < inputIds.length; t++) {
      const target = labels[t + 1];
      targets[b * T + t] = target;
      if (target !== IGNORE) labelTokens++;
    }
  });
  return { batchSize: B, seqLen: T, ids, targets, labelTokens, tokens };
}
