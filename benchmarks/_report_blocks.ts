/**
 * Blocks of BENCHMARKS.md that a benchmark other than `benchmarks/main.ts` writes: each sits
 * between `<!-- begin NAME -->` and `<!-- end NAME -->`, is rewritten whole by its own command
 * (which the block names), and is kept as it is when `benchmarks/main.ts` regenerates the rest
 * of the file. So a slow or special run (a load test, a profile, a GPU) refreshes its own
 * figures without rerunning everything, and nothing in the file is edited by hand.
 *
 * @module
 */
import { writeFileAtomic } from "../lib/format/fs_model_source.ts";
import { readTextIfPresent } from "../lib/format/text_file.ts";

const BLOCK = /<!-- begin ([\w-]+) -->\n[\s\S]*?<!-- end \1 -->\n?/g;

/** The blocks in `markdown`, by name, each with its markers. */
export function reportBlocks(markdown: string): Map<string, string> {
  return new Map([...markdown.matchAll(BLOCK)].map((m) => [m[1], m[0].trimEnd() + "\n"]));
}

/** `body` wrapped in the markers of block `name`. */
export function reportBlock(name: string, body: string): string {
  if (!/^[\w-]+$/.test(name)) {
    throw new Error(`Report block name ${JSON.stringify(name)} is not a word`);
  }
  return `<!-- begin ${name} -->\n${body.trimEnd()}\n<!-- end ${name} -->\n`;
}

/**
 * `markdown` with block `name` set to `body`: replaced where it is, appended at the end where
 * the file has no such block yet.
 */
export function withReportBlock(markdown: string, name: string, body: string): string {
  const block = reportBlock(name, body);
  const existing = reportBlocks(markdown).get(name);
  if (existing === undefined) return `${markdown.trimEnd()}\n\n${block}`;
  const start = markdown.indexOf(existing.trimEnd());
  return markdown.slice(0, start) + block.trimEnd() +
    markdown.slice(start + existing.trimEnd().length);
}

/**
 * Writes block `name` of the report at `path` (atomically), keeping the rest of the file; a
 * missing file starts empty.
 */
export async function writeReportBlock(path: string, name: string, body: string): Promise<void> {
  const markdown = (await readTextIfPresent(path)) ?? "";
  await writeFileAtomic(path, withReportBlock(markdown, name, body));
}

/**
 * The blocks of the report at `path` (if any), joined, for `benchmarks/main.ts` to keep at the
 * end of the file it regenerates.
 */
export async function keptReportBlocks(path: string): Promise<string> {
  const markdown = (await readTextIfPresent(path)) ?? "";
  return [...reportBlocks(markdown).values()].join("\n");
}
