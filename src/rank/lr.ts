/**
 * Logistic regression over hashed sparse features, one independent weight vector per head.
 *
 *   p = σ(b + Σ_e w[i_e]·x_e)
 *
 * Optimisers:
 *  - 'ftrl' (default): FTRL-proximal (McMahan et al., "Ad Click Prediction: a View from the
 *    Trenches", 2013, Algorithm 1), per-coordinate learning rates α/(β + √n_i), L1 (λ1) giving
 *    exact zeros and L2 (λ2); online, one row at a time. Here l1 and l2 are λ1, λ2 of the paper
 *    (on the summed loss).
 *  - 'adam': mini-batch lazy Adam on the mean log-loss + (l2/2)·‖w‖², with L1 by proximal
 *    soft-thresholding (w ← sign(w)·max(0, |w| − lr·l1)) of the touched coordinates.
 * The bias is never regularised.
 */
import { runFit, type EpochTrainer } from './fit.js';
import { rankerArray, writeRankerFiles, type RankerManifest } from './registry.js';
import { sigmoid, softplus, type AdditiveForm, type FeatureBatch, type LabeledRows, type Ranker, type RankerFitOptions, type RankerFitReport, type SparseRows } from './types.js';

export interface LrOptions {
  /** Heads, each trained on its label column (default ['click']). */
  heads?: string[];
  optimizer?: 'ftrl' | 'adam';
  /** Default epochs for `fit` (default 3). */
  epochs?: number;
  /** FTRL: α (default 0.05) and β (default 1). */
  alpha?: number;
  beta?: number;
  /** Adam: learning rate (default 0.01) and mini-batch size (default 256). */
  lr?: number;
  batchSize?: number;
  /** L1 and L2 strengths (FTRL defaults 0.5 and 1; Adam defaults 0 and 1e-6). */
  l1?: number;
  l2?: number;
}

type Resolved = Required<LrOptions>;

function resolve(o: LrOptions): Resolved {
  const opt = o.optimizer ?? 'ftrl';
  if (opt !== 'ftrl' && opt !== 'adam') throw new RangeError(`lr: optimizer must be 'ftrl' or 'adam', got '${String(opt)}'`);
  const r: Resolved = {
    heads: o.heads ?? ['click'],
    optimizer: opt,
    epochs: o.epochs ?? 3,
    alpha: o.alpha ?? 0.05,
    beta: o.beta ?? 1,
    lr: o.lr ?? 0.01,
    batchSize: o.batchSize ?? 256,
    l1: o.l1 ?? (opt === 'ftrl' ? 0.5 : 0),
    l2: o.l2 ?? (opt === 'ftrl' ? 1 : 1e-6),
  };
  if (!Array.isArray(r.heads) || r.heads.length === 0 || new Set(r.heads).size !== r.heads.length) throw new RangeError('lr: heads must be a non-empty array of distinct names');
  for (const k of ['alpha', 'beta', 'lr'] as const) if (!(r[k] > 0) || !Number.isFinite(r[k])) throw new RangeError(`lr: ${k} must be a positive number, got ${r[k]}`);
  for (const k of ['l1', 'l2'] as const) if (!(r[k] >= 0) || !Number.isFinite(r[k])) throw new RangeError(`lr: ${k} must be a non-negative number, got ${r[k]}`);
  if (!Number.isInteger(r.batchSize) || r.batchSize < 1) throw new RangeError(`lr: batchSize must be a positive integer, got ${r.batchSize}`);
  if (!Number.isInteger(r.epochs) || r.epochs < 1) throw new RangeError(`lr: epochs must be a positive integer, got ${r.epochs}`);
  return r;
}

/** The largest number of entries in a row. */
export function maxRowEntries(x: SparseRows): number {
  let m = 0;
  for (let r = 0; r < x.rows; r++) m = Math.max(m, x.indptr[r + 1] - x.indptr[r]);
  return m;
}

/** Logit of entries [a, b) under weights w (the bias at w[dim] is NOT included). */
export function lrDot(w: Float32Array, idx: Int32Array, val: Float32Array, a: number, b: number): number {
  let z = 0;
  for (let e = a; e < b; e++) z += w[idx[e]] * val[e];
  return z;
}

/**
 * The training objective: mean log-loss over the rows + (l2/2)·Σ_i w_i² (bias w[dim] excluded).
 * With `grad` (length dim + 1, zeroed here) also its gradient, accumulated by the same
 * per-row rule the optimisers use: ∂/∂w_i = mean over rows of (σ(z) − y)·x_i, plus l2·w_i.
 */
export function lrLoss(w: Float32Array, dim: number, x: SparseRows, y: ArrayLike<number>, l2: number, grad?: Float64Array): number {
  if (grad) grad.fill(0);
  let loss = 0;
  const n = x.rows;
  for (let r = 0; r < n; r++) {
    const a = x.indptr[r];
    const b = x.indptr[r + 1];
    const z = w[dim] + lrDot(w, x.indices, x.values, a, b);
    loss += softplus(z) - y[r] * z;
    if (grad) {
      const g = (sigmoid(z) - y[r]) / n;
      for (let e = a; e < b; e++) grad[x.indices[e]] += g * x.values[e];
      grad[dim] += g;
    }
  }
  loss /= n;
  let reg = 0;
  for (let i = 0; i < dim; i++) reg += w[i] * w[i];
  if (grad) for (let i = 0; i < dim; i++) grad[i] += l2 * w[i];
  return loss + 0.5 * l2 * reg;
}

export class LogisticRegression implements Ranker, EpochTrainer {
  readonly kind = 'lr';
  readonly usesFields = false;
  readonly heads: readonly string[];
  readonly opts: Resolved;
  /** Per head: dim weights then the bias at [dim]. */
  readonly w: Float32Array[];
  // optimiser state per head (allocated on first fit)
  private s1: Float32Array[] = [];
  private s2: Float32Array[] = [];
  private step = 0;

  constructor(
    readonly dim: number,
    opts: LrOptions = {},
  ) {
    if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`lr: dim must be a positive integer, got ${dim}`);
    this.opts = resolve(opts);
    this.heads = [...this.opts.heads];
    this.w = this.heads.map(() => new Float32Array(dim + 1));
  }

  get name(): string {
    const o = this.opts;
    return o.optimizer === 'ftrl' ? `lr(ftrl, α=${o.alpha}, λ1=${o.l1}, λ2=${o.l2})` : `lr(adam, lr=${o.lr}, l1=${o.l1}, l2=${o.l2})`;
  }

  async fit(data: LabeledRows, opts: RankerFitOptions = {}): Promise<RankerFitReport> {
    this.s1 = this.heads.map(() => new Float32Array(this.dim + 1));
    this.s2 = this.heads.map(() => new Float32Array(this.dim + 1));
    this.step = 0;
    for (const w of this.w) w.fill(0);
    return runFit(this, data, opts, { kind: this.kind, name: this.name, defaultEpochs: this.opts.epochs, params: { ...this.opts, dim: this.dim } });
  }

  /** @internal one pass (EpochTrainer). */
  trainEpoch(data: LabeledRows, order: Int32Array): number[] {
    return this.heads.map((h, k) => (this.opts.optimizer === 'ftrl' ? this.ftrlEpoch(k, data.x, data.labels[h], order) : this.adamEpoch(k, data.x, data.labels[h], order)));
  }

  private ftrlEpoch(k: number, x: SparseRows, y: Float32Array, order: Int32Array): number {
    const { alpha, beta, l1, l2 } = this.opts;
    const dim = this.dim;
    const w = this.w[k];
    const Z = this.s1[k];
    const N = this.s2[k];
    const idx = x.indices;
    const val = x.values;
    const weight = (i: number, reg: boolean) => {
      const z = Z[i];
      const L1 = reg ? l1 : 0;
      if (Math.abs(z) <= L1) return 0;
      return -(z - Math.sign(z) * L1) / ((beta + Math.sqrt(N[i])) / alpha + (reg ? l2 : 0));
    };
    let loss = 0;
    for (let q = 0; q < order.length; q++) {
      const r = order[q];
      const a = x.indptr[r];
      const b = x.indptr[r + 1];
      let z = (w[dim] = weight(dim, false));
      for (let e = a; e < b; e++) {
        const i = idx[e];
        const wi = (w[i] = weight(i, true));
        z += wi * val[e];
      }
      loss += softplus(z) - y[r] * z;
      const g = sigmoid(z) - y[r];
      for (let e = a; e < b; e++) {
        const i = idx[e];
        const gi = g * val[e];
        const ni = N[i];
        const sigma = (Math.sqrt(ni + gi * gi) - Math.sqrt(ni)) / alpha;
        Z[i] += gi - sigma * w[i];
        N[i] = ni + gi * gi;
      }
      const nb = N[dim];
      Z[dim] += g - ((Math.sqrt(nb + g * g) - Math.sqrt(nb)) / alpha) * w[dim];
      N[dim] = nb + g * g;
    }
    // materialise every weight from the final state
    for (let i = 0; i <= dim; i++) w[i] = N[i] > 0 ? weight(i, i < dim) : 0;
    return order.length ? loss / order.length : NaN;
  }

  private adamEpoch(k: number, x: SparseRows, y: Float32Array, order: Int32Array): number {
    const { lr, batchSize, l1, l2 } = this.opts;
    const dim = this.dim;
    const w = this.w[k];
    const M = this.s1[k];
    const V = this.s2[k];
    const grad = new Float64Array(dim + 1);
    const mark = new Uint8Array(dim);
    const touched = new Int32Array(Math.min(dim, batchSize * maxRowEntries(x)));
    const b1 = 0.9;
    const b2 = 0.999;
    const eps = 1e-8;
    let loss = 0;
    let step = this.step;
    for (let s = 0; s < order.length; s += batchSize) {
      const end = Math.min(order.length, s + batchSize);
      const B = end - s;
      let nt = 0;
      for (let q = s; q < end; q++) {
        const r = order[q];
        const a = x.indptr[r];
        const b = x.indptr[r + 1];
        const z = w[dim] + lrDot(w, x.indices, x.values, a, b);
        loss += softplus(z) - y[r] * z;
        const g = (sigmoid(z) - y[r]) / B;
        for (let e = a; e < b; e++) {
          const i = x.indices[e];
          if (mark[i] === 0) {
            mark[i] = 1;
            touched[nt++] = i;
          }
          grad[i] += g * x.values[e];
        }
        grad[dim] += g;
      }
      step++;
      const c1 = 1 - Math.pow(b1, step);
      const c2 = 1 - Math.pow(b2, step);
      const upd = (i: number, g: number) => {
        const m = (M[i] = b1 * M[i] + (1 - b1) * g);
        const v = (V[i] = b2 * V[i] + (1 - b2) * g * g);
        return (lr * (m / c1)) / (Math.sqrt(v / c2) + eps);
      };
      for (let t = 0; t < nt; t++) {
        const i = touched[t];
        let wi = w[i] - upd(i, grad[i] + l2 * w[i]);
        if (l1 > 0) {
          const th = lr * l1;
          wi = wi > th ? wi - th : wi < -th ? wi + th : 0;
        }
        w[i] = wi;
        grad[i] = 0;
        mark[i] = 0;
      }
      w[dim] -= upd(dim, grad[dim]);
      grad[dim] = 0;
    }
    this.step = step;
    return order.length ? loss / order.length : NaN;
  }

  logits(batch: FeatureBatch, head: number, out?: Float32Array): Float32Array {
    const rows = batch.rows;
    const res = out ?? new Float32Array(rows.rows);
    const w = this.w[head];
    if (!w) throw new RangeError(`lr: head ${head} out of range [0, ${this.heads.length})`);
    const sh = batch.shared;
    const base = w[this.dim] + lrDot(w, sh.indices, sh.values, 0, sh.nnz);
    const idx = rows.indices;
    const val = rows.values;
    const ptr = rows.indptr;
    for (let r = 0; r < rows.rows; r++) {
      let z = base;
      for (let e = ptr[r]; e < ptr[r + 1]; e++) z += w[idx[e]] * val[e];
      res[r] = z;
    }
    return res;
  }

  additiveForm(head: number): AdditiveForm {
    const w = this.w[head];
    if (!w) throw new RangeError(`lr: head ${head} out of range [0, ${this.heads.length})`);
    return { dim: this.dim, w, V: new Float32Array(0), k: 0 };
  }

  predict(batch: FeatureBatch, out?: Float32Array[]): Float32Array[] {
    const n = batch.rows.rows;
    const res = out ?? this.heads.map(() => new Float32Array(n));
    for (let k = 0; k < this.heads.length; k++) {
      const z = this.logits(batch, k, res[k]);
      for (let r = 0; r < n; r++) z[r] = sigmoid(z[r]);
    }
    return res;
  }

  /** @internal EpochTrainer */
  snapshot(): unknown {
    return this.w.map((w) => w.slice());
  }

  /** @internal EpochTrainer */
  restore(s: unknown): void {
    (s as Float32Array[]).forEach((w, k) => this.w[k].set(w));
  }

  /** Non-zero weights per head (FTRL's L1 makes most of them zero). */
  nonZero(): number[] {
    return this.w.map((w) => {
      let c = 0;
      for (let i = 0; i < this.dim; i++) if (w[i] !== 0) c++;
      return c;
    });
  }

  async save(dir: string): Promise<void> {
    const arrays: Record<string, Float32Array> = {};
    this.w.forEach((w, k) => (arrays[`w${k}`] = w));
    await writeRankerFiles(dir, { kind: this.kind, name: this.name, dim: this.dim, heads: [...this.heads], config: { ...this.opts } }, arrays);
  }

  static fromArtifact(m: RankerManifest, arrays: Record<string, Float32Array | Float64Array | Int32Array>): LogisticRegression {
    const model = new LogisticRegression(m.dim, { ...(m.config as LrOptions), heads: m.heads });
    m.heads.forEach((_, k) => model.w[k].set(rankerArray(arrays, `w${k}`, Float32Array, m.dim + 1)));
    return model;
  }
}
