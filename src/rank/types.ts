/**
 * The ranking stage's data shapes and the `Ranker` contract.
 *
 * Feature vectors are sparse: hashed indices in [0, dim) with float values, and for every entry
 * the field (feature template) it comes from, so that field-aware models (DeepFM, DCN-V2: one
 * embedding per field) can be added without changing the feature code. A request is scored as
 * one `FeatureBatch`: the part shared by every candidate (user, context) once, plus one row per
 * candidate. The full vector of candidate r is the shared entries followed by row r's entries
 * (an index may repeat: entries are summed as entries, the same way at training and serving).
 *
 * Rankers are multi-head: one probability per head ('click', 'conversion', ...) from separate
 * parameters (LR, FM) or a shared bottom (MMoE, later). How heads are combined into one score
 * (configurable weights) and how each is calibrated lives outside the model, in
 * `RankingModel` (model.ts), so every ranker gets both for free.
 *
 * A new ranker (DeepFM, DCN-V2, DIN, MMoE) is one class implementing `Ranker` plus one line in
 * the loader registry (registry.ts).
 */

/** Sparse rows in CSR form. Row r is entries indptr[r] .. indptr[r+1]-1. */
export interface SparseRows {
  rows: number;
  /** rows + 1 offsets. */
  indptr: Int32Array;
  /** Feature indices in [0, dim). */
  indices: Int32Array;
  values: Float32Array;
  /**
   * Field of each entry (the feature template it comes from), < 256. Absent when the producer
   * was told no model needs them (serving batches for LR / FM).
   */
  fields?: Uint8Array;
}

/** One sparse vector (the shared part of a batch). Entries [0, nnz) of the arrays are used. */
export interface SparseVector {
  nnz: number;
  indices: Int32Array;
  values: Float32Array;
  /** Field of each entry; absent as in `SparseRows`. */
  fields?: Uint8Array;
}

/** A request's feature vectors: shared entries + one row per candidate. */
export interface FeatureBatch {
  /** Size of the feature space (every index is below it). */
  dim: number;
  shared: SparseVector;
  rows: SparseRows;
}

/** Training (or evaluation) rows with one label column per head. */
export interface LabeledRows {
  x: SparseRows;
  /** Per head: 1 positive, 0 negative, one per row. */
  labels: Record<string, Float32Array>;
  /** Optional group of each row (request, user) for grouped metrics. */
  groups?: Int32Array;
}

export interface EpochReport {
  epoch: number;
  seconds: number;
  /** Mean training log-loss per head over the epoch (before regularisation). */
  loss: Record<string, number>;
  /** Validation log-loss and AUC per head, when validation rows were given. */
  validation?: Record<string, { logLoss: number; auc: number }>;
}

export interface RankerFitOptions {
  /** Passes over the data (default: the model's own default). */
  epochs?: number;
  seed?: number;
  /** Held-out rows: per-epoch metrics, early stopping and the best epoch's parameters kept. */
  validation?: LabeledRows;
  /** Epochs without a better validation log-loss (mean over heads) before stopping (default 2). */
  patience?: number;
  onEpoch?: (e: EpochReport) => void;
}

export interface RankerFitReport {
  /** Registry kind ('lr', 'fm', ...). */
  kind: string;
  /** Display name with the main hyper-parameters. */
  model: string;
  seconds: number;
  rows: number;
  /** Epochs run, and the one whose parameters were kept. */
  epochs: number;
  bestEpoch: number;
  /** Options actually used (defaults filled in). */
  params: Record<string, unknown>;
  /** Per head: last training loss and the kept epoch's validation figures. */
  heads: Record<string, { trainLogLoss: number; validation?: { logLoss: number; auc: number } }>;
  notes?: string[];
}

/**
 * The ranking model contract. `dim` and `heads` are fixed at construction; `fit` trains every
 * head on its label column; `predict` returns one probability per head and candidate.
 * Implementations keep no per-request state: a ranker may be shared by concurrent requests.
 */
export interface Ranker {
  /** Registry key ('lr', 'fm', ...), written in the saved folder. */
  readonly kind: string;
  /** Display name with the main hyper-parameters. */
  readonly name: string;
  readonly heads: readonly string[];
  /** Feature space size. */
  readonly dim: number;
  fit(data: LabeledRows, opts?: RankerFitOptions): Promise<RankerFitReport>;
  /** Logits of head `head` (its index in `heads`) for every row of the batch. */
  logits(batch: FeatureBatch, head: number, out?: Float32Array): Float32Array;
  /** Probabilities: one array per head (in `heads` order), one entry per row. */
  predict(batch: FeatureBatch, out?: Float32Array[]): Float32Array[];
  /** Writes `ranker.json` and the parameter arrays into `dir` (loaded by registry.ts). */
  save(dir: string): Promise<void>;
  /** Whether `predict` reads the entries' fields (field-aware models); LR and FM do not. */
  readonly usesFields?: boolean;
  /**
   * The parameters of head `head` when its logit has the additive (factorisation machine) form
   * of `AdditiveForm`; absent for rankers whose logit does not. Lets a scorer sum parts of the
   * logit ahead of time (per item at load, per request: fused.ts) with the same result.
   */
  additiveForm?(head: number): AdditiveForm;
}

/**
 * A logit that sums over a vector's entries e = (i, x) (LR: k = 0):
 *
 *   z = w[dim] + Σ_e w[i]·x + ½ Σ_f [ (Σ_e V[i·k+f]·x)² − Σ_e (V[i·k+f]·x)² ]
 *
 * so it is a function of the sums (Σ w·x, Σ_e V·x per factor, Σ (V·x)²), each additive over
 * any split of the entries. The arrays are the ranker's own (read, never written).
 */
export interface AdditiveForm {
  dim: number;
  /** dim + 1 weights, the bias at dim. */
  w: Float32Array;
  /** Factors: dim × k, row-major (empty when k = 0). */
  V: Float32Array;
  k: number;
}

/** An empty shared part (for batches that are plain rows, e.g. training data). */
export function emptyVector(): SparseVector {
  return { nnz: 0, indices: new Int32Array(0), values: new Float32Array(0), fields: new Uint8Array(0) };
}

/** Plain rows as a batch without a shared part. */
export function rowsBatch(x: SparseRows, dim: number): FeatureBatch {
  return { dim, shared: emptyVector(), rows: x };
}

/** Checks that rows are well formed for a space of `dim` features; throws a RangeError naming `what`. */
export function checkRows(x: SparseRows, dim: number, what = 'rows'): void {
  if (!Number.isInteger(x.rows) || x.rows < 0) throw new RangeError(`${what}.rows must be a non-negative integer, got ${x.rows}`);
  if (x.indptr.length !== x.rows + 1) throw new RangeError(`${what}.indptr must hold rows + 1 = ${x.rows + 1} offsets, got ${x.indptr.length}`);
  const nnz = x.indptr[x.rows];
  if (x.indptr[0] !== 0 || nnz > x.indices.length || nnz > x.values.length) throw new RangeError(`${what}: indptr does not match the entry arrays`);
  for (let r = 0; r < x.rows; r++) if (x.indptr[r + 1] < x.indptr[r]) throw new RangeError(`${what}.indptr must be non-decreasing (row ${r})`);
  for (let e = 0; e < nnz; e++) {
    const i = x.indices[e];
    if (!(i >= 0 && i < dim)) throw new RangeError(`${what}.indices[${e}] = ${i} is outside [0, ${dim})`);
  }
}

/** Checks label columns: one per head, `rows` entries each. */
export function checkLabels(data: LabeledRows, heads: readonly string[]): void {
  for (const h of heads) {
    const y = data.labels[h];
    if (!y) throw new RangeError(`labels: no column for head '${h}' (have ${Object.keys(data.labels).join(', ') || 'none'})`);
    if (y.length !== data.x.rows) throw new RangeError(`labels.${h} has ${y.length} entries for ${data.x.rows} rows`);
  }
}

/** σ(z), safe for large |z|. */
export function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/** log(1 + e^z), safe for large |z|. */
export function softplus(z: number): number {
  return z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z));
}

/** Log-loss of a logit against a 0/1 label: softplus(z) − y·z. */
export function logitLoss(z: number, y: number): number {
  return softplus(z) - y * z;
}
