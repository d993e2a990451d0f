/**
 * The numeric kernels. Every kernel exists twice with the same signature: a plain TypeScript
 * twin (`./ts.ts`) and a native one (C++ addon in native/, `./native.ts`). `kernels` in
 * `./index.ts` is the active implementation. Both are wrapped by `./validate.ts`, which checks
 * shapes, buffer lengths and index ranges and throws a RangeError/TypeError naming the kernel
 * and argument.
 *
 * Conventions: matrices are dense row-major Float32Array; index arrays are Int32Array; a
 * buffer may be longer than the shape needs (subarray views are fine). Outputs are written,
 * not accumulated, unless a kernel says "accumulates". Where an optional index array `xIdx`
 * is given, "row i of x" means row xIdx[i] of x (a gather); null means row i itself.
 * Kernels that scatter into rows (several updates may hit one row) apply the updates to each
 * row in input order, so results are deterministic for any thread count.
 *
 * One LED training step for a batch of B users (user = mean of the embeddings of their items,
 * sampled softmax against K sampled items with biases, lazy Adam on the touched rows):
 *   embeddingBag(B, d, histPtr, histItems, null, Ein, 'mean', U)              U: B×d
 *   sampledScores(B, d, U, K, sampled, Eout, bias, S)                          S: B×K
 *   G = softmax(S) - targets (in TypeScript; B×K)
 *   sampledScoresBackward(B, d, U, K, sampled, Eout, G, dU, dEout, dBias)
 *   embeddingBagBackward(B, d, histPtr, localItems, null, dU, 'mean', dEin)    dEin: u×d, over
 *     the u distinct history items (localItems = histItems renumbered 0..u-1)
 *   adamRows(K, d, sampled, dEout, Eout, mOut, vOut, opts)   (sampled ids distinct)
 *   adamRows(K, 1, sampled, dBias, bias, mB, vB, opts)
 *   adamRows(u, d, distinctItems, dEin, Ein, mIn, vIn, opts)
 * Serving: sgemm(false, true, 1, nItems, d, 1, user, Eout, 0, scores), then topk with the
 * user's seen items excluded.
 */
export interface Kernels {
  readonly name: 'ts' | 'native';

  /**
   * C = alpha * op(A) * op(B) + beta * C, row-major.
   * op(A) is m×k (A is m×k, or k×m when transA), op(B) is k×n (B is k×n, or n×k when transB).
   * beta = 0 overwrites C (NaN in C does not survive).
   */
  sgemm(
    transA: boolean, transB: boolean, m: number, n: number, k: number,
    alpha: number, a: Float32Array, b: Float32Array, beta: number, c: Float32Array,
  ): void;

  /**
   * CSR (rows×cols, indptr/indices/values) times dense B (cols×n) -> C (rows×n):
   * C = alpha * A * B + beta * C.
   */
  csrmm(
    rows: number, cols: number, indptr: Int32Array, indices: Int32Array, values: Float32Array,
    n: number, alpha: number, b: Float32Array, beta: number, c: Float32Array,
  ): void;

  /**
   * Dense A (m×rows) times CSR S (rows×cols, indptr/indices/values) -> C (m×cols):
   * C = alpha * A * S + beta * C.
   */
  mmcsr(
    m: number, rows: number, cols: number, indptr: Int32Array, indices: Int32Array, values: Float32Array,
    alpha: number, a: Float32Array, beta: number, c: Float32Array,
  ): void;

  /** Batched dot: out[i] = (row i of x) · (row i of y), rows of length d, i < n. */
  dotRows(
    n: number, d: number, x: Float32Array, xIdx: Int32Array | null,
    y: Float32Array, yIdx: Int32Array | null, out: Float32Array,
  ): void;

  /**
   * Batched axpy (accumulates): (row i of y) += alpha_i * (row i of x), for i < n in order;
   * alpha_i = alpha[i] for an array, else the number.
   */
  axpyRows(
    n: number, d: number, alpha: number | Float32Array, x: Float32Array, xIdx: Int32Array | null,
    y: Float32Array, yIdx: Int32Array | null,
  ): void;

  /**
   * Embedding bag (gather-sum/mean). Bag b holds the table rows indices[indptr[b] .. indptr[b+1])
   * with optional per-entry weights: out[b] = s_b * sum_p w_p * table[indices[p]], where
   * s_b = 1 / (entries in bag b) for 'mean' (an empty bag gives zeros) and 1 for 'sum'.
   * table is (any rows)×d, out is bags×d. A user vector as the mean of item embeddings.
   */
  embeddingBag(
    bags: number, d: number, indptr: Int32Array, indices: Int32Array, weights: Float32Array | null,
    table: Float32Array, mode: 'sum' | 'mean', out: Float32Array,
  ): void;

  /**
   * Backward of embeddingBag (accumulates, a scatter): gradTable[indices[p]] += s_b * w_p *
   * gradOut[b]. For a compact gradient over the touched rows only, pass indices remapped to
   * 0..u-1 and a u×d gradTable.
   */
  embeddingBagBackward(
    bags: number, d: number, indptr: Int32Array, indices: Int32Array, weights: Float32Array | null,
    gradOut: Float32Array, mode: 'sum' | 'mean', gradTable: Float32Array,
  ): void;

  /**
   * Sampled scoring: out[u][j] = users[u] · table[itemIds[j]] + (bias ? bias[itemIds[j]] : 0)
   * for nUsers user vectors (nUsers×d) against nSampled item rows; out is nUsers×nSampled.
   */
  sampledScores(
    nUsers: number, d: number, users: Float32Array, nSampled: number, itemIds: Int32Array,
    table: Float32Array, bias: Float32Array | null, out: Float32Array,
  ): void;

  /**
   * Backward of sampledScores for gradScores = dLoss/dScores (nUsers×nSampled). Writes each
   * non-null output: gradUsers (nUsers×d) = G · S; gradSampled (nSampled×d, row j is the
   * gradient of table row itemIds[j]) = Gᵀ · users; gradBias (nSampled) = column sums of G.
   * S is the rows table[itemIds[j]]. With repeated itemIds, sum their rows before an update.
   */
  sampledScoresBackward(
    nUsers: number, d: number, users: Float32Array, nSampled: number, itemIds: Int32Array,
    table: Float32Array, gradScores: Float32Array, gradUsers: Float32Array | null,
    gradSampled: Float32Array | null, gradBias: Float32Array | null,
  ): void;

  /**
   * Row-wise fused Adam step (decoupled weight decay, as AdamW). For i < n, row r = rows[i]
   * (or i when rows is null) of param, m and v (row length d) steps with gradient row i of
   * grad (n×d): m = b1 m + (1-b1) g; v = b2 v + (1-b2) g²;
   * param -= lr * (m/(1-b1^step) / (sqrt(v/(1-b2^step)) + eps) + weightDecay * param).
   * With a row list this is lazy Adam: untouched rows (and their moments) do not move.
   */
  adamRows(
    n: number, d: number, rows: Int32Array | null, grad: Float32Array,
    param: Float32Array, m: Float32Array, v: Float32Array, opts: AdamOptions,
  ): void;

  /**
   * Top-k per row of a rows×n score matrix, skipping excluded indices: row r excludes
   * exclIndices[exclIndptr[r] .. exclIndptr[r+1]) (both null: nothing excluded; excluded
   * indices outside 0..n-1 are ignored). Writes outIdx/outScores (rows×k), best first:
   * higher score first, ties to the lower index, NaN never chosen; unfilled slots get index -1
   * and score -Infinity.
   */
  topk(
    rows: number, n: number, scores: Float32Array, k: number,
    exclIndptr: Int32Array | null, exclIndices: Int32Array | null,
    outIdx: Int32Array, outScores: Float32Array,
  ): void;

  /**
   * BPR over sampled negatives shared by a batch (LED §5.3). For each row r < rows and each
   * positive q in [posPtr[r], posPtr[r+1]) with score pos[q], against the n scores s[r, ·]:
   *   gradS[r, j] += scale · σ(s[r, j] − pos[q])        (accumulates)
   *   gradPos[q]   = −scale · Σ_j σ(s[r, j] − pos[q])    (written)
   * Returns scale · Σ softplus(s[r, j] − pos[q]) (the loss, −log σ(pos − s)) when wantLoss,
   * else 0. The native version uses a vectorised exp (~2 ulp).
   */
  bprPairs(
    rows: number, n: number, s: Float32Array, posPtr: Int32Array, pos: Float32Array, scale: number,
    gradS: Float32Array, gradPos: Float32Array, wantLoss: boolean,
  ): number;
}

/** Hyper-parameters of one Adam step. `step` counts from 1 (used for bias correction). */
export interface AdamOptions {
  lr: number;
  step: number;
  beta1?: number; // default 0.9
  beta2?: number; // default 0.999
  eps?: number; // default 1e-8
  weightDecay?: number; // default 0
}

/** What `kernelInfo()` reports (also printed by `funnel doctor`). */
export interface KernelInfo {
  /** The implementation behind `kernels`. */
  active: 'ts' | 'native';
  /** Whether the native addon loaded. */
  nativeAvailable: boolean;
  /** Why `active` was chosen (and why native is unavailable, when it is). */
  reason: string;
  /** Threads the native kernels may use (1 for the TypeScript twin, which is single-threaded). */
  threads: number;
  /** How the addon was built, e.g. "-O3 -march=native (avx512, tile 8x48)"; null without it. */
  buildFlags: string | null;
  /** Path of the addon file that was (or would be) loaded. */
  addonPath: string | null;
}
