/**
 * Sizes written as transformers writes `max_shard_size`: `5GB`, `500MB`, `2GiB`, or a plain
 * byte count. Decimal units (KB, MB, GB) are powers of 1000, binary ones (KiB, MiB, GiB) of 1024.
 *
 * @module
 */

const UNITS: Record<string, number> = {
  B: 1,
  KB: 1e3,
  MB: 1e6,
  GB: 1e9,
  TB: 1e12,
  KIB: 2 ** 10,
  MIB: 2 ** 20,
  GIB: 2 ** 30,
  TIB: 2 ** 40,
};

/**
 * Parses a size into bytes; throws a RangeError naming `text` when it is not a positive size.
 *
 * @example
 * ```ts
 * parseByteSize("5GB"); // 5_000_000_000
 * parseByteSize("200MiB"); // 209_715_200
 * ```
 */
export function parseByteSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = UNITS[(match?.[2] || "B").toUpperCase()];
  const bytes = match && unit ? Math.floor(Number(match[1]) * unit) : NaN;
  if (!(bytes >= 1)) {
    throw new RangeError(
      `Size ${JSON.stringify(text)} is not a positive size like 5GB, 500MB or 2GiB`,
    );
  }
  return bytes;
}
