// Shared by kernels that need counter-based random numbers. Included with `//!include hash`.

// lowbias32 (Chris Wellons' hash-prospector): a bijective 32-bit integer mix.
fn mix32(v: u32) -> u32 {
  var h = v;
  h ^= h >> 16u;
  h *= 0x7feb352du;
  h ^= h >> 15u;
  h *= 0x846ca68bu;
  h ^= h >> 16u;
  return h;
}

// A 32-bit random value for (seed, counter): independent streams per seed, no state.
fn hash2(seed: u32, counter: u32) -> u32 {
  return mix32(mix32(counter ^ mix32(seed)) ^ seed);
}
