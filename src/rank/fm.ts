/**
 * Factorisation machine (Rendle, 2010) over hashed sparse features, one parameter set per head,
 * in the O(k·nnz) form:
 *
 *   ŷ = w0 + Σ_e w[i_e]·x_e + ½ Σ_f [ (Σ_e v[i_e,f]·x_e)² − Σ_e v[i_e,f]²·x_e² ]
 *
 * (sums over a row's entries e; an index repeated in a row is treated entry by entry, the same
 * way at training and serving). Gradients: ∂ŷ/∂w_i = x_e, ∂ŷ/∂v_{i,f} = x_e·(s_f − v_{i,f}·x_e)
 * with s_f = Σ_e v[i_e,f]·x_e.
 *
 * Serving splits a request into a shared part and candidate rows (types.ts): s_f, Σ v²x² and the
 * linear term of the shared part are computed once per request, so a candidate costs
 * O(k · its own entries).
 *
 * Training: mini-batch lazy Adam (default) or SGD on the mean log-loss + (l2/2)·‖w‖² +
 * (l2V/2)·‖V‖², regularising the rows a batch touches. V starts N(0, initStd²).
 */
import { normalFrom, runFit, seededRandom, type EpochTrainer } from './fit.js';
import { maxRowEntries } from './lr.js';
import { rankerArray, writeRankerFiles, type RankerManifest } from './registry.js';
import { sigmoid, softplus, type AdditiveForm, type FeatureBatch, type LabeledRows, type Ranker, type RankerFitOptions, type RankerFitReport, type SparseRows } from './types.js';

export interface FmOptions {
  /** Heads, each trained on its label column (default ['click']). */
  heads?: string[];
  /** Factors per feature (default 8). */
  k?: number;
  optimizer?: 'adam' | 'sgd';
  /** Learning rate (default 0.01 for Adam, 0.05 for SGD). */
  lr?: number;
  /** Rows per update (default 256). */
  batchSize?: number;
  /** Default epochs for `fit` (default 10). */
  epochs?: number;
  /** L2 of the linear weights and of the factors (defaults 1e-6 and 1e-5). */
  l2?: number;
  l2V?: number;
  /** Standard deviation of the initial factors (default 0.01). */
  initStd?: number;
  seed?: number;
}

type Resolved = Required<FmOptions>;

function resolve(o: FmOptions): Resolved {
  const opt = o.optimizer ?? 'adam';
  if (opt !== 'adam' && opt !== 'sgd') throw new RangeError(`fm: optimizer must be 'adam' or 'sgd', got '${String(opt)}'`);
  const r: Resolved = {
    heads: o.heads ?? ['click'],
    k: o.k ?? 8,
    optimizer: opt,
    lr: o.lr ?? (opt === 'adam' ? 0.01 : 0.05),
    batchSize: o.batchSize ?? 256,
    epochs: o.epochs ?? 10,
    l2: o.l2 ?? 1e-6,
    l2V: o.l2V ?? 1e-5,
    initStd: o.initStd ?? 0.01,
    seed: o.seed ?? 1,
  };
  if (!Array.isArray(r.heads) || r.heads.length === 0 || new Set(r.heads).size !== r.heads.length) throw new RangeError('fm: heads must be a non-empty array of distinct names');
  if (!Number.isInteger(r.k) || r.k < 1 || r.k > 256) throw new RangeError(`fm: k must be an integer in [1, 256], got ${r.k}`);
  if (!(r.lr > 0) || !Number.isFinite(r.lr)) throw new RangeError(`fm: lr must be a positive number, got ${r.lr}`);
  for (const key of ['l2', 'l2V', 'initStd'] as const) if (!(r[key] >= 0) || !Number.isFinite(r[key])) throw new RangeError(`fm: ${key} must be a non-negative number, got ${r[key]}`);
  if (!Number.isInteger(r.batchSize) || r.batchSize < 1) throw new RangeError(`fm: batchSize must be a positive integer, got ${r.batchSize}`);
  if (!Number.isInteger(r.epochs) || r.epochs < 1) throw new RangeError(`fm: epochs must be a positive integer, got ${r.epochs}`);
  return r;
}

/**
 * The logit of entries [a, b) (w0 = w[dim] included); leaves s_f = Σ_e v[i_e,f]·x_e in `s`
 * (length ≥ k) for the backward pass.
 */
export function fmForward(w: Float32Array, V: Float32Array, k: number, dim: number, idx: Int32Array, val: Float32Array, a: number, b: number, s: Float64Array): number {
  let lin = w[dim];
  let sq = 0;
  for (let f = 0; f < k; f++) s[f] = 0;
  for (let e = a; e < b; e++) {
    const i = idx[e];
    const x = val[e];
    lin += w[i] * x;
    const o = i * k;
    for (let f = 0; f < k; f++) {
      const t = V[o + f] * x;
      s[f] += t;
      sq += t * t;
    }
  }
  let pair = 0;
  for (let f = 0; f < k; f++) pair += s[f] * s[f];
  return lin + 0.5 * (pair - sq);
}

/**
 * Accumulates g·∂ŷ/∂θ for the entries [a, b) into gradW (length dim + 1, bias at dim) and gradV
 * (dim × k), with `s` from `fmForward` on the same entries.
 */
export function fmBackward(V: Float32Array, k: number, dim: number, idx: Int32Array, val: Float32Array, a: number, b: number, s: Float64Array, g: number, gradW: Float64Array, gradV: Float64Array): void {
  gradW[dim] += g;
  for (let e = a; e < b; e++) {
    const i = idx[e];
    const x = val[e];
    const gx = g * x;
    gradW[i] += gx;
    const o = i * k;
    for (let f = 0; f < k; f++) gradV[o + f] += gx * (s[f] - V[o + f] * x);
  }
}

/**
 * The training objective: mean log-loss + (l2/2)·Σ_i w_i² (bias excluded) + (l2V/2)·‖V‖²; with
 * gradW / gradV (zeroed here) also its gradient, through `fmForward` / `fmBackward`.
 */
export function fmLoss(w: Float32Array, V: Float32Array, k: number, dim: number, x: SparseRows, y: ArrayLike<number>, l2: number, l2V: number, gradW?: Float64Array, gradV?: Float64Array): number {
  const s = new Float64Array(k);
  if (gradW) gradW.fill(0);
  if (gradV) gradV.fill(0);
  const n = x.rows;
  let loss = 0;
  for (let r = 0; r < n; r++) {
    const a = x.indptr[r];
    const b = x.indptr[r + 1];
    const z = fmForward(w, V, k, dim, x.indices, x.values, a, b, s);
    loss += softplus(z) - y[r] * z;
    if (gradW && gradV) fmBackward(V, k, dim, x.indices, x.values, a, b, s, (sigmoid(z) - y[r]) / n, gradW, gradV);
  }
  loss /= n;
  let rw = 0;
  for (let i = 0; i < dim; i++) rw += w[i] * w[i];
  let rv = 0;
  for (let i = 0; i < V.length; i++) rv += V[i] * V[i];
  if (gradW) for (let i = 0; i < dim; i++) gradW[i] += l2 * w[i];
  if (gradV) for (let i = 0; i < V.length; i++) gradV[i] += l2V * V[i];
  return loss + 0.5 * l2 * rw + 0.5 * l2V * rv;
}

export class FactorizationMachine implements Ranker, EpochTrainer {
  readonly kind = 'fm';
  readonly usesFields = false;
  readonly heads: readonly string[];
  readonly opts: Resolved;
  readonly k: number;
  /** Per head: dim linear weights then the bias at [dim]. */
  readonly w: Float32Array[];
  /** Per head: dim × k factors. */
  readonly V: Float32Array[];
  private mW: Float32Array[] = [];
  private vW: Float32Array[] = [];
  private mV: Float32Array[] = [];
  private vV: Float32Array[] = [];
  private step = 0;
  // scoring scratch
  private readonly sS: Float64Array;
  private readonly sQ: Float64Array;
  private readonly s: Float64Array;
  private readonly q: Float64Array;

  constructor(
    readonly dim: number,
    opts: FmOptions = {},
  ) {
    if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`fm: dim must be a positive integer, got ${dim}`);
    this.opts = resolve(opts);
    this.k = this.opts.k;
    this.heads = [...this.opts.heads];
    this.w = this.heads.map(() => new Float32Array(dim + 1));
    this.V = this.heads.map(() => new Float32Array(dim * this.k));
    this.initFactors();
    this.sS = new Float64Array(this.k);
    this.sQ = new Float64Array(this.k);
    this.s = new Float64Array(this.k);
    this.q = new Float64Array(this.k);
  }

  private initFactors(): void {
    const rand = seededRandom(this.opts.seed);
    for (const V of this.V) for (let i = 0; i < V.length; i++) V[i] = this.opts.initStd * normalFrom(rand);
  }

  get name(): string {
    const o = this.opts;
    return `fm(k=${o.k}, ${o.optimizer}, lr=${o.lr}, l2=${o.l2}, l2V=${o.l2V})`;
  }

  async fit(data: LabeledRows, opts: RankerFitOptions = {}): Promise<RankerFitReport> {
    for (const w of this.w) w.fill(0);
    this.initFactors();
    const adam = this.opts.optimizer === 'adam';
    this.mW = adam ? this.heads.map(() => new Float32Array(this.dim + 1)) : [];
    this.vW = adam ? this.heads.map(() => new Float32Array(this.dim + 1)) : [];
    this.mV = adam ? this.heads.map(() => new Float32Array(this.dim * this.k)) : [];
    this.vV = adam ? this.heads.map(() => new Float32Array(this.dim * this.k)) : [];
    this.step = 0;
    return runFit(this, data, opts, { kind: this.kind, name: this.name, defaultEpochs: this.opts.epochs, params: { ...this.opts, dim: this.dim } });
  }

  /** @internal one pass (EpochTrainer). */
  trainEpoch(data: LabeledRows, order: Int32Array): number[] {
    const x = data.x;
    const k = this.k;
    const dim = this.dim;
    const { lr, batchSize, l2, l2V } = this.opts;
    const adam = this.opts.optimizer === 'adam';
    const gradW = new Float64Array(dim + 1);
    const gradV = new Float64Array(dim * k);
    const mark = new Uint8Array(dim);
    const touched = new Int32Array(Math.min(dim, batchSize * maxRowEntries(x)));
    const s = new Float64Array(k);
    const b1 = 0.9;
    const b2 = 0.999;
    const eps = 1e-8;
    const losses: number[] = [];
    const step0 = this.step;
    for (let h = 0; h < this.heads.length; h++) {
      const y = data.labels[this.heads[h]];
      const w = this.w[h];
      const V = this.V[h];
      let step = step0;
      let loss = 0;
      for (let st = 0; st < order.length; st += batchSize) {
        const end = Math.min(order.length, st + batchSize);
        const B = end - st;
        let nt = 0;
        for (let q = st; q < end; q++) {
          const r = order[q];
          const a = x.indptr[r];
          const b = x.indptr[r + 1];
          const z = fmForward(w, V, k, dim, x.indices, x.values, a, b, s);
          loss += softplus(z) - y[r] * z;
          fmBackward(V, k, dim, x.indices, x.values, a, b, s, (sigmoid(z) - y[r]) / B, gradW, gradV);
          for (let e = a; e < b; e++) {
            const i = x.indices[e];
            if (mark[i] === 0) {
              mark[i] = 1;
              touched[nt++] = i;
            }
          }
        }
        step++;
        if (adam) {
          const mW = this.mW[h];
          const vW = this.vW[h];
          const mV = this.mV[h];
          const vV = this.vV[h];
          const c1 = 1 - Math.pow(b1, step);
          const c2 = 1 - Math.pow(b2, step);
          const a1 = lr / c1;
          for (let t = 0; t < nt; t++) {
            const i = touched[t];
            const g = gradW[i] + l2 * w[i];
            const m = (mW[i] = b1 * mW[i] + (1 - b1) * g);
            const v = (vW[i] = b2 * vW[i] + (1 - b2) * g * g);
            w[i] -= (a1 * m) / (Math.sqrt(v / c2) + eps);
            gradW[i] = 0;
            mark[i] = 0;
            const o = i * k;
            for (let f = o; f < o + k; f++) {
              const gv = gradV[f] + l2V * V[f];
              const mm = (mV[f] = b1 * mV[f] + (1 - b1) * gv);
              const vv = (vV[f] = b2 * vV[f] + (1 - b2) * gv * gv);
              V[f] -= (a1 * mm) / (Math.sqrt(vv / c2) + eps);
              gradV[f] = 0;
            }
          }
          const g = gradW[dim];
          const m = (mW[dim] = b1 * mW[dim] + (1 - b1) * g);
          const v = (vW[dim] = b2 * vW[dim] + (1 - b2) * g * g);
          w[dim] -= (a1 * m) / (Math.sqrt(v / c2) + eps);
          gradW[dim] = 0;
        } else {
          for (let t = 0; t < nt; t++) {
            const i = touched[t];
            w[i] -= lr * (gradW[i] + l2 * w[i]);
            gradW[i] = 0;
            mark[i] = 0;
            const o = i * k;
            for (let f = o; f < o + k; f++) {
              V[f] -= lr * (gradV[f] + l2V * V[f]);
              gradV[f] = 0;
            }
          }
          w[dim] -= lr * gradW[dim];
          gradW[dim] = 0;
        }
      }
      this.step = step;
      losses.push(order.length ? loss / order.length : NaN);
    }
    return losses;
  }

  logits(batch: FeatureBatch, head: number, out?: Float32Array): Float32Array {
    const rows = batch.rows;
    const res = out ?? new Float32Array(rows.rows);
    const w = this.w[head];
    const V = this.V[head];
    if (!w) throw new RangeError(`fm: head ${head} out of range [0, ${this.heads.length})`);
    const k = this.k;
    const S = this.sS;
    const Q = this.sQ;
    const s = this.s;
    const q = this.q;
    // shared part: linear term, Σ v·x and Σ (v·x)² per factor, once
    const sh = batch.shared;
    let base = w[this.dim];
    for (let f = 0; f < k; f++) {
      S[f] = 0;
      Q[f] = 0;
    }
    for (let e = 0; e < sh.nnz; e++) {
      const i = sh.indices[e];
      const x = sh.values[e];
      base += w[i] * x;
      const o = i * k;
      for (let f = 0; f < k; f++) {
        const t = V[o + f] * x;
        S[f] += t;
        Q[f] += t * t;
      }
    }
    const idx = rows.indices;
    const val = rows.values;
    const ptr = rows.indptr;
    if (k === 8) {
      fmRows8(w, V, idx, val, ptr, rows.rows, base, S, Q, res);
      return res;
    }
    for (let r = 0; r < rows.rows; r++) {
      let lin = base;
      for (let f = 0; f < k; f++) {
        s[f] = S[f];
        q[f] = Q[f];
      }
      for (let e = ptr[r]; e < ptr[r + 1]; e++) {
        const i = idx[e];
        const x = val[e];
        lin += w[i] * x;
        const o = i * k;
        for (let f = 0; f < k; f++) {
          const t = V[o + f] * x;
          s[f] += t;
          q[f] += t * t;
        }
      }
      let pair = 0;
      for (let f = 0; f < k; f++) pair += s[f] * s[f] - q[f];
      res[r] = lin + 0.5 * pair;
    }
    return res;
  }

  additiveForm(head: number): AdditiveForm {
    const w = this.w[head];
    if (!w) throw new RangeError(`fm: head ${head} out of range [0, ${this.heads.length})`);
    return { dim: this.dim, w, V: this.V[head], k: this.k };
  }

  predict(batch: FeatureBatch, out?: Float32Array[]): Float32Array[] {
    const n = batch.rows.rows;
    const res = out ?? this.heads.map(() => new Float32Array(n));
    for (let h = 0; h < this.heads.length; h++) {
      const z = this.logits(batch, h, res[h]);
      for (let r = 0; r < n; r++) z[r] = sigmoid(z[r]);
    }
    return res;
  }

  /** @internal EpochTrainer */
  snapshot(): unknown {
    return { w: this.w.map((a) => a.slice()), V: this.V.map((a) => a.slice()) };
  }

  /** @internal EpochTrainer */
  restore(snap: unknown): void {
    const s = snap as { w: Float32Array[]; V: Float32Array[] };
    s.w.forEach((a, h) => this.w[h].set(a));
    s.V.forEach((a, h) => this.V[h].set(a));
  }

  async save(dir: string): Promise<void> {
    const arrays: Record<string, Float32Array> = {};
    this.heads.forEach((_, h) => {
      arrays[`w${h}`] = this.w[h];
      arrays[`V${h}`] = this.V[h];
    });
    await writeRankerFiles(dir, { kind: this.kind, name: this.name, dim: this.dim, heads: [...this.heads], config: { ...this.opts } }, arrays);
  }

  static fromArtifact(m: RankerManifest, arrays: Record<string, Float32Array | Float64Array | Int32Array>): FactorizationMachine {
    const model = new FactorizationMachine(m.dim, { ...(m.config as FmOptions), heads: m.heads });
    m.heads.forEach((_, h) => {
      model.w[h].set(rankerArray(arrays, `w${h}`, Float32Array, m.dim + 1));
      model.V[h].set(rankerArray(arrays, `V${h}`, Float32Array, m.dim * model.k));
    });
    return model;
  }
}

/** The scoring loop for k = 8 (the default) with the factor sums in registers. */
function fmRows8(w: Float32Array, V: Float32Array, idx: Int32Array, val: Float32Array, ptr: Int32Array, n: number, base: number, S: Float64Array, Q: Float64Array, res: Float32Array): void {
  const S0 = S[0], S1 = S[1], S2 = S[2], S3 = S[3], S4 = S[4], S5 = S[5], S6 = S[6], S7 = S[7];
  const Q0 = Q[0] + Q[1] + Q[2] + Q[3] + Q[4] + Q[5] + Q[6] + Q[7];
  for (let r = 0; r < n; r++) {
    let lin = base;
    let s0 = S0, s1 = S1, s2 = S2, s3 = S3, s4 = S4, s5 = S5, s6 = S6, s7 = S7;
    let q = Q0;
    for (let e = ptr[r], end = ptr[r + 1]; e < end; e++) {
      const i = idx[e];
      const x = val[e];
      lin += w[i] * x;
      const o = i << 3;
      const t0 = V[o] * x, t1 = V[o + 1] * x, t2 = V[o + 2] * x, t3 = V[o + 3] * x;
      const t4 = V[o + 4] * x, t5 = V[o + 5] * x, t6 = V[o + 6] * x, t7 = V[o + 7] * x;
      s0 += t0; s1 += t1; s2 += t2; s3 += t3; s4 += t4; s5 += t5; s6 += t6; s7 += t7;
      q += t0 * t0 + t1 * t1 + t2 * t2 + t3 * t3 + t4 * t4 + t5 * t5 + t6 * t6 + t7 * t7;
    }
    res[r] = lin + 0.5 * (s0 * s0 + s1 * s1 + s2 * s2 + s3 * s3 + s4 * s4 + s5 * s5 + s6 * s6 + s7 * s7 - q);
  }
}
