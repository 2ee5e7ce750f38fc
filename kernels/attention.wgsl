// Causal grouped-query attention, forward: o = softmax(q·kᵀ/√HD) · v per head, f32.
// Query t of a sequence is at absolute position pos_offset + t and sees keys 0..pos_offset + t
// (keys come from the KV cache or, in training, the same sequence). Head h reads kv head
// h / (H / KV). Stores the log-sum-exp of each row (m + log l of the scaled scores) for the
// backward pass.
// Dimensions: B sequences, T queries, S key slots per sequence, H heads, KV kv heads, HD ≤ 128,
// G = H / KV query heads per kv head.
//
// Design (flash-attention style, one dispatch). The G query heads of a kv head read the same
// keys, so a workgroup serves ROWS = 8 query rows of ONE kv head: the rows (t, g) of that kv
// head's group, flattened as n = t·G + g (Llama's G = 4 makes a block two tokens × four heads;
// decode, T = 1, fills four rows). Each tile of BK = 16 keys, then of their values, is loaded
// once into workgroup memory and used by every row of the block, which cuts K/V reads ROWS-fold
// against one workgroup per (t, h). An online softmax runs over the tiles; the block reads keys
// up to the last key its last row sees, so a block wastes at most a partial tile to masking.
// The 64 invocations are a 16 × 4 grid (lane = li % 16, quad = li / 16):
// - scores: invocation (lane, quad) scores key `lane` against rows quad and quad + 4, reading
//   the key once per vec4 for both rows (register blocking);
// - softmax: invocation r < rows updates row r's max and sum over the 16 scores of the tile,
//   while the others load the value tile (16 reads a row: a tree reduction would cost more
//   barriers than it saves);
// - p·v: invocation (lane, quad) owns output vec4s lane and lane + 16 of rows quad and quad + 4
//   (HD ≤ 128 is at most 32 vec4s), 4 vec4 accumulators in registers.
// Four barriers per tile of 16 keys × 8 rows (the old kernel: five per 64 keys × 1 row, with
// invocation 0 alone scanning the 64 scores). Tiles hold vec4s so the inner loops read 16 bytes
// at a time; a head vector is zero-padded to a whole vec4, so any HD ≤ 128 works (HD % 4 ≠ 0
// only pads). Key/value tile rows are padded to HD/4 + 1 vec4s so that the 16 lanes reading 16
// different keys at one column fall in different shared-memory banks on GPUs. Workgroup memory
// is 13 152 bytes, under WebGPU's 16 KiB minimum limit, which is what bounds ROWS × BK.
//
// Split context (flash-decoding, SPLIT = 1). Decode (T = 1) has only KV × B row blocks, each
// walking the whole context, which leaves most of a GPU idle. With SPLIT the visible keys are
// cut into chunks of p.chunk keys (a multiple of BK) and workgroup x serves row block
// x % blocks over chunk x / blocks: the same tile loop over that chunk's keys only. Instead of
// o and lse it writes each row's partial softmax to binding 4, a scratch of p.chunks records
// per row: the unnormalised acc = Σ exp(score − m)·v, then m (the max score, MASKED when the
// row sees no key of the chunk) and l = Σ exp(score − m). kernels/attention_combine.wgsl
// merges a row's records into o and lse. lib/ops/attention.ts decides when to split.
//!include packed

override KV_DTYPE: u32 = 0u;  // element type of k and v: 0 f32, 2 f16 (two per u32)
override SPLIT: u32 = 0u;  // 1: one chunk of keys per workgroup, partials to binding 4
// 1 (batched decode): sequence b (workgroup z) is one query row (T = 1) whose position and
// cache slot come from row_table[b] = (slot, position): it reads keys slot·S .. of k and v, up
// to position + pos_offset (the step of a chain of batched decode steps). Not combined with SPLIT.
override ROW_TABLE: u32 = 0u;

struct Params {
  T: u32, H: u32, KV: u32, HD: u32,
  pos_offset: u32,
  S: u32,
  scale: f32,
  chunk: u32,   // SPLIT: keys per chunk, a multiple of BK
  chunks: u32,  // SPLIT: NC, chunks of the visible keys
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q: array<f32>;            // (B, T, H, HD)
@group(0) @binding(2) var<storage, read> k: array<u32>;            // (B, S, KV, HD) in KV_DTYPE
@group(0) @binding(3) var<storage, read> v: array<u32>;            // (B, S, KV, HD) in KV_DTYPE
// (B, T, H, HD); with SPLIT the partials (B, T, H, NC, HD + 2): acc (HD), m, l per record
@group(0) @binding(4) var<storage, read_write> o: array<f32>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;    // (B, H, T); unused by SPLIT
@group(0) @binding(6) var<storage, read> row_table: array<u32>;    // (B, 2) slot, position; ROW_TABLE

const WG = 64u;
const ROWS = 8u;            // query rows per workgroup (ROWS in lib/ops/attention.ts)
const BK = 16u;             // keys per tile
const LANES = 16u;          // WG = LANES × 4 quads
const HD4_MAX = 32u;        // vec4s in a head vector of HD = 128
const MASKED = -3.0e38;     // score of a key a row does not see
// The invocation grids below: rows quad, quad + 4; vec4 columns lane, lane + 16; key lane.
const_assert ROWS == 2u * (WG / LANES) && HD4_MAX == 2u * LANES && BK == LANES;

var<workgroup> q_tile: array<vec4<f32>, ROWS * HD4_MAX>;        // (ROWS, HD/4) queries, scaled
var<workgroup> kv_tile: array<vec4<f32>, BK * (HD4_MAX + 1u)>;  // (BK, HD/4 + 1) keys, then values
var<workgroup> p_tile: array<f32, ROWS * BK>;     // (ROWS, BK) scores, then probabilities
var<workgroup> row_m: array<f32, ROWS>;           // (ROWS) running max of the scores
var<workgroup> row_l: array<f32, ROWS>;           // (ROWS) running Σ exp(score − max)
var<workgroup> row_scale: array<f32, ROWS>;       // (ROWS) exp(old max − new max) of the tile

// Row (b, t, h) of q and o, flattened, of block row n (n = t·G + g of kv head kvh, sequence b).
fn row_index(b: u32, kvh: u32, n: u32) -> u32 {
  let group = p.H / p.KV;
  return (b * p.T + n / group) * p.H + kvh * group + n % group;
}

// Loads keys (or values, when from_v) j0 .. j0 + count − 1 of the kv head whose key 0 starts at
// `base` into kv_tile, rows padded to `ks` vec4s; elements past HD and rows past count are 0.
fn load_tile(from_v: bool, base: u32, j0: u32, count: u32, ks: u32, li: u32) {
  let hd4 = (p.HD + 3u) / 4u;
  let kv_row = p.KV * p.HD;
  for (var e = li; e < BK * hd4; e += WG) {
    let j = e / hd4;
    let c = e % hd4;
    var x = vec4<f32>(0.0);
    if (j < count) {
      let src = base + (j0 + j) * kv_row + 4u * c;
      for (var i = 0u; i < 4u; i++) {
        if (4u * c + i < p.HD) {
          let e = src + i;
          if (from_v) {
            x[i] = packed_value(v[packed_word(e, KV_DTYPE)], e, KV_DTYPE);
          } else {
            x[i] = packed_value(k[packed_word(e, KV_DTYPE)], e, KV_DTYPE);
          }
        }
      }
    }
    kv_tile[j * ks + c] = x;
  }
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let group = p.H / p.KV;
  let kvh = wg.y;
  let b = wg.z;
  let blocks = (p.T * group + ROWS - 1u) / ROWS;
  let chunk_id = wg.x / blocks;                  // 0 without SPLIT
  let n0 = (wg.x % blocks) * ROWS;               // first block row
  let rows = min(ROWS, p.T * group - n0);        // block rows that exist
  let hd4 = (p.HD + 3u) / 4u;
  let ks = hd4 + 1u;                             // kv_tile row stride, padded
  // Keys j_begin .. j_end − 1: up to the last key any row of the block sees, within the chunk.
  var j_begin = 0u;
  var pos_offset = p.pos_offset;
  var kv_seq = b;  // the sequence whose keys the rows read
  if (ROW_TABLE == 1u) {
    kv_seq = row_table[2u * b];
    pos_offset = row_table[2u * b + 1u] + p.pos_offset;
  }
  var j_end = pos_offset + (n0 + rows - 1u) / group + 1u;
  if (SPLIT == 1u) {
    j_begin = chunk_id * p.chunk;
    j_end = min(j_end, j_begin + p.chunk);
  }
  let kv_base = kv_seq * p.S * p.KV * p.HD + kvh * p.HD;
  let lane = li % LANES;
  let quad = li / LANES;
  let row_sets = select(1u, 2u, rows > 4u);      // rows quad, quad + 4 in use
  let col_sets = select(1u, 2u, hd4 > LANES);    // vec4 columns lane, lane + 16 in use

  for (var e = li; e < rows * hd4; e += WG) {
    let r = e / hd4;
    let c = e % hd4;
    let src = row_index(b, kvh, n0 + r) * p.HD + 4u * c;
    var x = vec4<f32>(0.0);
    for (var i = 0u; i < 4u; i++) {
      if (4u * c + i < p.HD) { x[i] = q[src + i]; }
    }
    q_tile[r * hd4 + c] = x * p.scale;
  }
  if (li < ROWS) {
    row_m[li] = MASKED;
    row_l[li] = 0.0;
  }
  var acc: array<vec4<f32>, 4>;  // (2 row sets, 2 column sets) output vec4s, unnormalised

  for (var j0 = j_begin; j0 < j_end; j0 += BK) {
    let count = min(BK, j_end - j0);
    load_tile(false, kv_base, j0, count, ks, li);
    workgroupBarrier();

    // Scores of key `lane` against rows quad and quad + 4, the key read once for both.
    var s0 = 0.0;
    var s1 = 0.0;
    for (var c = 0u; c < hd4; c++) {
      let kc = kv_tile[lane * ks + c];
      s0 += dot(q_tile[quad * hd4 + c], kc);
      if (row_sets > 1u) { s1 += dot(q_tile[(quad + 4u) * hd4 + c], kc); }
    }
    let key = j0 + lane;
    p_tile[quad * BK + lane] = select(MASKED, s0, key <= pos_offset + (n0 + quad) / group);
    if (row_sets > 1u) {
      p_tile[(quad + 4u) * BK + lane] =
        select(MASKED, s1, key <= pos_offset + (n0 + quad + 4u) / group);
    }
    workgroupBarrier();

    load_tile(true, kv_base, j0, count, ks, li);
    if (li < rows) {
      let limit = pos_offset + (n0 + li) / group;
      let m_old = row_m[li];
      var m_new = m_old;
      for (var j = 0u; j < count; j++) { m_new = max(m_new, p_tile[li * BK + j]); }
      var sum = 0.0;
      for (var j = 0u; j < count; j++) {
        let pj = select(0.0, exp(p_tile[li * BK + j] - m_new), j0 + j <= limit);
        p_tile[li * BK + j] = pj;
        sum += pj;
      }
      let factor = exp(m_old - m_new);
      row_scale[li] = factor;
      row_l[li] = row_l[li] * factor + sum;
      row_m[li] = m_new;
    }
    workgroupBarrier();

    // acc = acc·factor + p·v for output vec4s lane, lane + 16 of rows quad, quad + 4. Loops
    // with constant bounds and uniform guards keep acc in registers.
    for (var a = 0u; a < 4u; a++) { acc[a] *= row_scale[quad + 4u * (a / 2u)]; }
    for (var j = 0u; j < count; j++) {
      let p0 = p_tile[quad * BK + j];
      let p1 = p_tile[(quad + 4u) * BK + j];
      for (var cs = 0u; cs < 2u; cs++) {
        if (cs < col_sets) {
          let vj = kv_tile[j * ks + lane + LANES * cs];
          acc[cs] = fma(vec4<f32>(p0), vj, acc[cs]);
          if (row_sets > 1u) { acc[2u + cs] = fma(vec4<f32>(p1), vj, acc[2u + cs]); }
        }
      }
    }
    workgroupBarrier();
  }

  let record = p.HD + 2u;  // SPLIT: floats of a partial record
  for (var a = 0u; a < 4u; a++) {
    let r = quad + 4u * (a / 2u);
    let c = lane + LANES * (a % 2u);
    if (r < rows && c < hd4) {
      let row = row_index(b, kvh, n0 + r);
      var dst = row * p.HD + 4u * c;
      var out = acc[a];
      if (SPLIT == 1u) {
        dst = (row * p.chunks + chunk_id) * record + 4u * c;
      } else {
        out /= row_l[r];
      }
      for (var e = 0u; e < 4u; e++) {
        if (4u * c + e < p.HD) { o[dst + e] = out[e]; }
      }
    }
  }
  if (li < rows) {
    let n = n0 + li;
    if (SPLIT == 1u) {
      let dst = (row_index(b, kvh, n) * p.chunks + chunk_id) * record + p.HD;
      o[dst] = row_m[li];
      o[dst + 1u] = row_l[li];
    } else {
      let h = kvh * group + n % group;
      lse[(b * p.H + h) * p.T + n / group] = row_m[li] + log(row_l[li]);
    }
  }
}
