/**
 * Model ids: `owner/name`.
 *
 * @module
 */

/**
 * The default model, as in the user's script.
 *
 * @example
 * ```ts
 * await downloadModel({ model: DEFAULT_MODEL, source: "modelscope" });
 * ```
 */
export const DEFAULT_MODEL = "LLM-Research/Llama-3.2-1B";

/**
 * Checks that a model id is `owner/name` made of letters, digits, `-`, `_` and `.`.
 *
 * @throws {TypeError} naming the id
 */
export function checkModelId(model: string): void {
  const parts = model.split("/");
  if (
    parts.length !== 2 ||
    !parts.every((p) => /^[\w.-]+$/.test(p) && p !== "." && p !== "..")
  ) {
    throw new TypeError(
      `Model id must look like owner/name (letters, digits, - _ .), got ${JSON.stringify(model)}`,
    );
  }
}
