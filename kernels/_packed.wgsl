// Shared by kernels that read stored weights. Included where a kernel says `//!include packed`.
// Weights live in array<u32>: f32 (dtype 0) one per word; bf16 (1) and f16 (2) two per word,
// element 2i in the low half. Values are unpacked to f32; all arithmetic is f32.

// The word holding element i.
fn packed_word(i: u32, dtype: u32) -> u32 {
  return select(i >> 1u, i, dtype == 0u);
}

// Element i's value, given the word that holds it.
fn packed_value(word: u32, i: u32, dtype: u32) -> f32 {
  if (dtype == 0u) {
    return bitcast<f32>(word);
  }
  let odd = (i & 1u) == 1u;
  if (dtype == 1u) {
    return bitcast<f32>(select(word << 16u, word & 0xffff0000u, odd));
  }
  let pair = unpack2x16float(word);
  return select(pair.x, pair.y, odd);
}
