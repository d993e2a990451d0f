/**
 * LED — the Lightweight Encoder-Decoder of the Criteo paper (§5.2–5.4).
 *
 * One embedding v_i ∈ R^d and one bias b_i per item, nothing per user:
 *     u = (1/T) Σ_t v_{u_t}            (amortized inference: a user is their history)
 *     s(u, i) = ⟨u, v_i⟩ + b_i
 * The null history gives u = 0, i.e. the items with the highest learned bias: the cold-start
 * answer comes for free.
 *
 * Training: each user's timeline is split into an *input* part (encoded, with input dropout)
 * and a *target* part (the positives); negatives are sampled per batch and shared by the batch
 * (one dense B×N score matrix through kernels.sgemm), or — `negativeSharing: 'user'`, as in the
 * paper — N per user, shared by that user's positives only. Losses (§5.3): BPR, negative sampling
 * (NS), CSS (sampled estimate of the softmax partition function) and the full softmax for
 * small catalogs. Initialisation: random, or given vectors (RSVD on PMI, §5.1). Fine-tuning
 * (§5.4): 'train' learns the vectors; 'project' learns P ∈ R^{d×d} with v_i = P·v_i^init.
 * Optimiser: Adam with lazy (row-wise) updates. The checkpoint kept is the best on the
 * validation callback (NDCG@100 in the benchmarks), with early stopping.
 */
import { kernels } from '../../math/kernels/index.js';
import type { Progress } from '../../util/progress.js';
import { artifactArray, type ModelArtifact, writeModelArtifact } from './registry.js';
import {
  assertFitted, assertItem, exclusionMask, numEvents, SmallRng, topK, type FitReport, type ItemVectors,
  type RecommendOptions, type Recommendations, type RetrievalModel, type Timelines,
} from './types.js';

export type LedLoss = 'bpr' | 'ns' | 'css' | 'softmax';

export interface LedOptions {
  /** Embedding size (default 64). */
  dim?: number;
  loss?: LedLoss;
  /** Negatives sampled per batch, shared by its users (default 200; ignored by 'softmax'). */
  negatives?: number;
  /** 'uniform' (default, as in the paper) or 'unigram' (popularity^0.75). */
  sampler?: 'uniform' | 'unigram';
  /**
   * 'batch' (default): one draw of N negatives shared by every user of the batch (one dense
   * B×N product; the fast path at scale). 'user': N negatives drawn per user and shared by
   * that user's positives only (the paper's setting): B·N distinct draws per step, the same
   * arithmetic, more rows touched. With lazy Adam the two differ at small N: shared draws
   * touch only N rows per step, so rarely drawn items are seldom pushed down.
   */
  negativeSharing?: 'batch' | 'user';
  /** Users per batch (default 512). */
  batchSize?: number;
  /** Adam learning rate (default 0.005). */
  lr?: number;
  /** L2 penalty on the touched rows (default 0). */
  l2?: number;
  /** Fraction of input items dropped (denoising, default 0.5). */
  dropout?: number;
  /**
   * How a timeline is split: 'shuffle' (default for BPR, as in the paper: a random 80/20 split
   * into input and target, redrawn each epoch) or 'same' (input = target = the whole timeline,
   * the auto-encoder setting of the other losses).
   */
  split?: 'shuffle' | 'same';
  /** Target fraction of the 'shuffle' split (default 0.2). */
  targetFraction?: number;
  /** Event type codes used as input (default: all) and as targets (default: all). */
  inputTypes?: number[];
  targetTypes?: number[];
  /**
   * Weight per event type code (index = `Timelines.types` code; codes past the end weigh 1):
   * each positive's term of the loss (and its gradient) is multiplied by the weight of its
   * event's type. Targets only: the user encoding stays the unweighted mean of the input items.
   * Events of weight-0 types are never targets. Weights must be finite and >= 0; needs types.
   */
  typeWeights?: Float32Array | number[];
  /** Maximum positives per user and batch (default 64; longer targets are subsampled). */
  maxTargets?: number;
  epochs?: number;
  /** Initial item vectors (numItems × dim), e.g. from RSVD on PMI; random when absent. */
  initVectors?: Float32Array;
  /** Standard deviation of the random initialisation (default 0.01... scaled by 1/√dim). */
  initScale?: number;
  /** 'train' (default): learn the vectors; 'project': learn P with v_i = P·v_i^init. */
  tuning?: 'train' | 'project';
  seed?: number;
  /** Validation metric (higher is better) computed on the model after each evaluation period. */
  validate?: (model: LedModel) => number | Promise<number>;
  /** Epochs between validations (default 1). */
  evalEvery?: number;
  /** Stop after this many validations without improvement (default 5). */
  patience?: number;
  /** Called after each epoch. */
  onEpoch?: (info: { epoch: number; loss: number; validation?: number; seconds: number }) => void;
}

const DEFAULTS = {
  dim: 64, loss: 'bpr' as LedLoss, negatives: 200, sampler: 'uniform' as const, negativeSharing: 'batch' as 'batch' | 'user', batchSize: 512, lr: 0.005, l2: 0,
  dropout: 0.5, targetFraction: 0.2, maxTargets: 64, epochs: 20, tuning: 'train' as const, seed: 1, evalEvery: 1, patience: 5,
};

const sigmoid = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));
/** log(1 + e^x), stable. */
const softplus = (x: number) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));

/** Adam state for a matrix of rows; lazy: only the rows given are updated. */
class RowAdam {
  readonly m: Float32Array;
  readonly v: Float32Array;
  constructor(size: number, private readonly lr: number, private readonly b1 = 0.9, private readonly b2 = 0.999, private readonly eps = 1e-8) {
    this.m = new Float32Array(size);
    this.v = new Float32Array(size);
  }
  /** Updates rows `rows` of `param` (row width `w`) with gradients `grad` (row r of grad ↔ rows[r]). */
  step(param: Float32Array, w: number, rows: Int32Array, count: number, grad: Float32Array, t: number): void {
    const { m, v, b1, b2, eps } = this;
    const lrT = (this.lr * Math.sqrt(1 - b2 ** t)) / (1 - b1 ** t);
    for (let r = 0; r < count; r++) {
      const po = rows[r] * w;
      const go = r * w;
      for (let j = 0; j < w; j++) {
        const g = grad[go + j];
        const mi = (m[po + j] = b1 * m[po + j] + (1 - b1) * g);
        const vi = (v[po + j] = b2 * v[po + j] + (1 - b2) * g * g);
        param[po + j] -= (lrT * mi) / (Math.sqrt(vi) + eps);
      }
    }
  }
}

/** Accumulates gradients of touched rows: slot per row, rows listed in first-touch order. */
export class SparseGrad {
  readonly slot: Int32Array;
  rows: Int32Array;
  grad: Float32Array;
  count = 0;
  constructor(numRows: number, private readonly w: number, capacity = 1024) {
    this.slot = new Int32Array(numRows).fill(-1);
    this.rows = new Int32Array(capacity);
    this.grad = new Float32Array(capacity * w);
  }
  /** Offset of row `r`'s gradient in `grad` (allocating it). */
  at(r: number): number {
    let s = this.slot[r];
    if (s < 0) {
      if (this.count === this.rows.length) {
        const rows = new Int32Array(this.rows.length * 2);
        rows.set(this.rows);
        const grad = new Float32Array(this.grad.length * 2);
        grad.set(this.grad);
        this.rows = rows;
        this.grad = grad;
      }
      s = this.count++;
      this.slot[r] = s;
      this.rows[s] = r;
      this.grad.fill(0, s * this.w, (s + 1) * this.w);
    }
    return s * this.w;
  }
  reset(): void {
    for (let s = 0; s < this.count; s++) this.slot[this.rows[s]] = -1;
    this.count = 0;
  }
}


export interface LedBatchParams {
  dim: number;
  numItems: number;
  /** Trainable vectors ('train') or the fixed init vectors ('project'); numItems × dim. */
  base: Float32Array;
  /** Projection ('project'): v_i = P·base_i; d × d row-major. */
  P: Float32Array;
  bias: Float32Array;
  tuning: 'train' | 'project';
  loss: LedLoss;
  maxBatch: number;
  /** Negatives per batch ('batch' sharing) or per user ('user'). */
  negatives: number;
  /** Per-user negatives: a batch's `negatives` holds users × N ids, row r for user r. */
  negativesPerUser?: boolean;
  /**
   * How many items the negatives are drawn from, uniformly (default numItems): CSS estimates
   * the partition function as e^{s_p} + (candidates − 1)/N · Σ_n e^{s_n}. LED draws only items
   * seen in training, which can be far fewer than the catalog's ids.
   */
  candidates?: number;
}

/** A batch: per-user input and target items in CSR form. */
export interface LedBatch {
  users: number;
  inPtr: Int32Array;
  inItems: Int32Array;
  tgtPtr: Int32Array;
  tgtItems: Int32Array;
  /** Per-target loss weights, parallel to tgtItems (default: all 1). */
  tgtWeights?: Float32Array;
  /** N ids shared by the batch, or users × N ids (row r: user r's) with `negativesPerUser`. */
  negatives: Int32Array;
}

function grownInt(a: Int32Array, need: number): Int32Array {
  if (a.length >= need) return a;
  const b = new Int32Array(Math.max(need, a.length * 2));
  b.set(a);
  return b;
}

function grownFloat(a: Float32Array, need: number): Float32Array {
  return a.length >= need ? a : new Float32Array(Math.max(need, a.length * 2));
}

/**
 * Loss and gradients of one LED batch (the part a gradient check can verify): given each user's
 * input and target items and the batch's shared negatives, `run` returns the batch loss (mean
 * over positives) and leaves its gradients in gV (rows of base), gB (biases) and gP (P).
 * Every O(batch × d) and O(positives × negatives) step is a kernel call.
 */
export class LedBatchGradients {
  readonly gV: SparseGrad;
  readonly gB: SparseGrad;
  readonly gP: Float32Array;
  private Ubase: Float32Array;
  private U: Float32Array;
  private dU: Float32Array;
  private Vn: Float32Array;
  private VnBase: Float32Array;
  private S: Float32Array;
  private G: Float32Array;
  private dVn: Float32Array;
  private dBn: Float32Array;
  /** Per-user negatives with 'project': W = U·P and its gradient (B×d). */
  private W: Float32Array;
  private dW: Float32Array;
  private posUser: Int32Array = new Int32Array(64);
  private posScore: Float32Array = new Float32Array(64);
  private posGrad: Float32Array = new Float32Array(64);
  private Vp: Float32Array = new Float32Array(64);
  private VpBase: Float32Array = new Float32Array(64);
  private Gp: Float32Array = new Float32Array(64);
  private slotIn: Int32Array = new Int32Array(64);
  private slotPos: Int32Array = new Int32Array(64);
  private readonly slotNeg: Int32Array;
  /** When false, `run` skips the exact loss (BPR's is the costly part); it returns NaN then. */
  wantLoss = true;

  constructor(private readonly p: LedBatchParams) {
    const d = p.dim;
    const B = p.maxBatch;
    const N = p.negatives;
    // Negative rows held per batch: N shared, or B·N with per-user negatives.
    const M = p.negativesPerUser ? B * N : N;
    this.gV = new SparseGrad(p.numItems, d);
    this.gB = new SparseGrad(p.numItems, 1);
    this.gP = new Float32Array(d * d);
    this.Ubase = new Float32Array(B * d);
    this.U = new Float32Array(B * d);
    this.dU = new Float32Array(B * d);
    // 'project' with per-user negatives scores against the fixed base rows (W = U·P).
    const projRows = p.tuning === 'project' && p.negativesPerUser ? 0 : M;
    this.Vn = new Float32Array(projRows * d);
    this.VnBase = new Float32Array(projRows * d);
    this.W = new Float32Array(p.negativesPerUser ? B * d : 0);
    this.dW = new Float32Array(p.negativesPerUser ? B * d : 0);
    this.S = new Float32Array(B * N);
    this.G = new Float32Array(B * N);
    this.dVn = new Float32Array(M * d);
    this.dBn = new Float32Array(M);
    this.slotNeg = new Int32Array(M);
  }

  /** Convenience form of `run` with per-user lists (tests); `weights` parallel to `targets`. */
  runLists(inputs: number[][], targets: number[][], negIdx: Int32Array, weights?: number[][]): number {
    const nb = inputs.length;
    const inPtr = new Int32Array(nb + 1);
    const tgtPtr = new Int32Array(nb + 1);
    for (let r = 0; r < nb; r++) {
      inPtr[r + 1] = inPtr[r] + inputs[r].length;
      tgtPtr[r + 1] = tgtPtr[r] + targets[r].length;
    }
    return this.run({
      users: nb, inPtr, inItems: Int32Array.from(inputs.flat()), tgtPtr, tgtItems: Int32Array.from(targets.flat()), negatives: negIdx,
      ...(weights ? { tgtWeights: Float32Array.from(weights.flat()) } : {}),
    });
  }

  run(batch: LedBatch): number {
    const { dim: d, numItems: I, base, P, bias, tuning, loss } = this.p;
    const { users: nb, inPtr, inItems, tgtPtr, tgtItems, negatives: negIdx, tgtWeights: tw } = batch;
    // N: negatives scored per user; M: negative rows of the batch (N shared, or nb·N per user).
    const perUser = this.p.negativesPerUser === true;
    const N = perUser ? this.p.negatives : negIdx.length;
    const M = perUser ? nb * N : N;
    if (negIdx.length < M) throw new Error(`led: batch has ${negIdx.length} negatives, expected ${M}`);
    if (M > this.slotNeg.length) throw new Error(`led: batch has ${M} negative rows, capacity ${this.slotNeg.length}`);
    const nt = tgtPtr[nb];
    const nIn = inPtr[nb];
    if (tw && tw.length < nt) throw new Error(`led: batch has ${tw.length} target weights, expected ${nt}`);
    const project = tuning === 'project';
    const { gV, gB, gP } = this;
    this.posUser = grownInt(this.posUser, nt);
    this.posScore = grownFloat(this.posScore, nt);
    this.posGrad = grownFloat(this.posGrad, nt);
    const { Ubase, U, dU, W, dW, Vn, VnBase, S, G, dVn, dBn, posUser, posScore: sp, posGrad: gpos } = this;
    for (let r = 0; r < nb; r++) for (let q = tgtPtr[r]; q < tgtPtr[r + 1]; q++) posUser[q] = r;

    // 1. Encode: Ubase = mean of the input rows; U = Ubase ('train') or Ubase·Pᵀ ('project').
    kernels.embeddingBag(nb, d, inPtr, inItems, null, base, 'mean', Ubase);
    if (project) kernels.sgemm(false, true, nb, d, d, 1, Ubase, P, 0, U);
    else U.set(Ubase.subarray(0, nb * d));
    // 2. Negative scores S = U·Vnᵀ + b_n and positive scores s_p = U_r·v_p + b_p.
    if (project) {
      if (perUser) {
        // ⟨U_r, P·base_n⟩ = ⟨Pᵀ·U_r, base_n⟩: score W = U·P against the fixed base rows instead
        // of projecting all nb·N negative rows (nb·d² work instead of nb·N·d²).
        kernels.sgemm(false, false, nb, d, d, 1, U, P, 0, W);
        for (let r = 0; r < nb; r++) kernels.sampledScores(1, d, W.subarray(r * d, (r + 1) * d), N, negIdx.subarray(r * N, (r + 1) * N), base, bias, S.subarray(r * N, (r + 1) * N));
      } else {
        for (let n = 0; n < N; n++) VnBase.set(base.subarray(negIdx[n] * d, (negIdx[n] + 1) * d), n * d);
        kernels.sgemm(false, true, N, d, d, 1, VnBase, P, 0, Vn);
        kernels.sampledScores(nb, d, U, N, IDENTITY(N), Vn, null, S);
        for (let r = 0; r < nb; r++) for (let n = 0; n < N; n++) S[r * N + n] += bias[negIdx[n]];
      }
      this.VpBase = grownFloat(this.VpBase, nt * d);
      this.Vp = grownFloat(this.Vp, nt * d);
      for (let q = 0; q < nt; q++) this.VpBase.set(base.subarray(tgtItems[q] * d, (tgtItems[q] + 1) * d), q * d);
      kernels.sgemm(false, true, nt, d, d, 1, this.VpBase, P, 0, this.Vp);
      kernels.dotRows(nt, d, U, posUser, this.Vp, null, sp);
    } else {
      if (perUser) {
        for (let r = 0; r < nb; r++) kernels.sampledScores(1, d, U.subarray(r * d, (r + 1) * d), N, negIdx.subarray(r * N, (r + 1) * N), base, bias, S.subarray(r * N, (r + 1) * N));
      } else kernels.sampledScores(nb, d, U, N, negIdx, base, bias, S);
      kernels.dotRows(nt, d, U, posUser, base, tgtItems, sp);
    }
    for (let q = 0; q < nt; q++) sp[q] += bias[tgtItems[q]];
    // 3. Loss; gradients w.r.t. the scores: G (negatives) and gpos (positives).
    const norm = 1 / Math.max(1, nt);
    G.fill(0, 0, nb * N);
    let lossSum = 0;
    if (loss === 'bpr') {
      if (!tw) lossSum = kernels.bprPairs(nb, N, S, tgtPtr, sp, norm / N, G, gpos, this.wantLoss) / norm;
      else lossSum = this.weightedBpr(nb, N, tgtPtr, tw, norm) / norm;
    } else {
      for (let r = 0; r < nb; r++) {
        const t0 = tgtPtr[r];
        const t1 = tgtPtr[r + 1];
        if (t0 === t1) continue;
        const so = r * N;
        if (loss === 'ns') {
          // Each positive's term is w_q·(softplus(−s_q) + (1/N) Σ_n softplus(s_n)).
          let wSum = 0;
          for (let q = t0; q < t1; q++) {
            const wq = tw ? tw[q] : 1;
            lossSum += wq * softplus(-sp[q]);
            gpos[q] = -sigmoid(-sp[q]) * norm * wq;
            wSum += wq;
          }
          const inv = (norm * wSum) / N;
          for (let n = 0; n < N; n++) {
            lossSum += (softplus(S[so + n]) * wSum) / N;
            G[so + n] = sigmoid(S[so + n]) * inv;
          }
          continue;
        }
        // Softmax over all items: L = -s_p + log Σ_i e^{s_i}; p is one of the columns, so
        // the direct part is -1 and the column part (softmax_n, p included) goes through G.
        // CSS: L = -s_p + log(e^{s_p} + w Σ_n e^{s_n}), w = (K-1)/N with K the items drawn
        // from (`candidates`). The per-user sum over
        // negatives is shared by all positives: O(N + P) per user instead of O(N·P).
        let uMax = -Infinity;
        for (let n = 0; n < N; n++) if (S[so + n] > uMax) uMax = S[so + n];
        let uSum = 0;
        for (let n = 0; n < N; n++) uSum += Math.exp(S[so + n] - uMax);
        let coef = 0;
        for (let q = t0; q < t1; q++) {
          const wq = tw ? tw[q] : 1;
          if (loss === 'softmax') {
            lossSum += wq * (-(sp[q] - uMax) + Math.log(uSum));
            gpos[q] = -norm * wq;
            coef += (norm * wq) / uSum;
          } else {
            const w = ((this.p.candidates ?? I) - 1) / N;
            const mx = sp[q] > uMax ? sp[q] : uMax;
            const ep = Math.exp(sp[q] - mx);
            const z = ep + w * uSum * Math.exp(uMax - mx);
            lossSum += wq * (-(sp[q] - mx) + Math.log(z));
            gpos[q] = (-1 + ep / z) * norm * wq;
            coef += ((w * Math.exp(uMax - mx)) / z) * norm * wq;
          }
        }
        for (let n = 0; n < N; n++) G[so + n] = coef * Math.exp(S[so + n] - uMax);
      }
    }
    // 4. Backprop through the scores: dU = G·Vn + Σ gpos·v_p; dVn = Gᵀ·U; db.
    gV.reset();
    gB.reset();
    if (project && perUser) {
      // dW_r = Σ_n G_rn·base_n; dU = dW·Pᵀ (as v_n = P·base_n); db = G. P's negative part below.
      for (let r = 0; r < nb; r++) {
        const rn = r * N;
        kernels.sampledScoresBackward(1, d, W.subarray(r * d, (r + 1) * d), N, negIdx.subarray(rn, rn + N), base, G.subarray(rn, rn + N), dW.subarray(r * d, (r + 1) * d), null, null);
      }
      kernels.sgemm(false, true, nb, d, d, 1, dW, P, 0, dU);
      dBn.set(G.subarray(0, M));
      kernels.axpyRows(nt, d, gpos, this.Vp, null, dU, posUser);
    } else if (project) {
      kernels.sgemm(false, false, nb, d, N, 1, G, Vn, 0, dU);
      kernels.sgemm(true, false, N, d, nb, 1, G, U, 0, dVn);
      for (let n = 0; n < N; n++) {
        let sum = 0;
        for (let r = 0; r < nb; r++) sum += G[r * N + n];
        dBn[n] = sum;
      }
      kernels.axpyRows(nt, d, gpos, this.Vp, null, dU, posUser);
    } else {
      if (perUser) {
        for (let r = 0; r < nb; r++) {
          const rn = r * N;
          kernels.sampledScoresBackward(1, d, U.subarray(r * d, (r + 1) * d), N, negIdx.subarray(rn, rn + N), base, G.subarray(rn, rn + N),
            dU.subarray(r * d, (r + 1) * d), dVn.subarray(rn * d, (rn + N) * d), dBn.subarray(rn, rn + N));
        }
      } else kernels.sampledScoresBackward(nb, d, U, N, negIdx, base, G, dU, dVn, dBn);
      kernels.axpyRows(nt, d, gpos, base, tgtItems, dU, posUser);
    }
    for (let n = 0; n < M; n++) gB.grad[gB.at(negIdx[n])] += dBn[n];
    for (let q = 0; q < nt; q++) gB.grad[gB.at(tgtItems[q])] += gpos[q];
    if (project) {
      // v = P·base ⇒ dP += Σ dv ⊗ base; U = P·Ubase ⇒ dP += dU ⊗ Ubase.
      gP.fill(0);
      // Σ_n dv_n ⊗ base_n with dv_n = Σ_r G_rn·U_r: per user, that is Σ_r U_r ⊗ dW_r.
      if (perUser) kernels.sgemm(true, false, d, d, nb, 1, U, this.dW, 1, gP);
      else kernels.sgemm(true, false, d, d, N, 1, dVn, VnBase, 1, gP);
      this.Gp = grownFloat(this.Gp, nt * d);
      const Gp = this.Gp;
      Gp.fill(0, 0, nt * d);
      kernels.axpyRows(nt, d, gpos, U, posUser, Gp, null);
      kernels.sgemm(true, false, d, d, nt, 1, Gp, this.VpBase, 1, gP);
      kernels.sgemm(true, false, d, d, nb, 1, dU, Ubase, 1, gP);
      return lossSum * norm;
    }
    // 5. 'train': gradients into the touched rows (slots), encoder backward included.
    this.slotIn = grownInt(this.slotIn, nIn);
    this.slotPos = grownInt(this.slotPos, nt);
    const { slotIn, slotPos, slotNeg } = this;
    for (let n = 0; n < M; n++) slotNeg[n] = gV.at(negIdx[n]) / d;
    for (let q = 0; q < nt; q++) slotPos[q] = gV.at(tgtItems[q]) / d;
    for (let x = 0; x < nIn; x++) slotIn[x] = gV.at(inItems[x]) / d;
    const grad = gV.grad;
    kernels.axpyRows(M, d, 1, dVn, null, grad, slotNeg);
    kernels.axpyRows(nt, d, gpos, U, posUser, grad, slotPos);
    kernels.embeddingBagBackward(nb, d, inPtr, slotIn, null, dU, 'mean', grad);
    return lossSum * norm;
  }

  private wPtr: Int32Array = new Int32Array(64);
  private wPos: Float32Array = new Float32Array(64);
  private wGrad: Float32Array = new Float32Array(64);
  private wIdx: Int32Array = new Int32Array(64);

  /**
   * BPR with per-positive weights: one `bprPairs` call per distinct weight (a handful: one per
   * event type), over that weight's positives packed per row, then scattered back into gpos.
   * Returns the kernel's loss sum (scaled by norm, as the unweighted call). G must be zeroed.
   */
  private weightedBpr(nb: number, N: number, tgtPtr: Int32Array, tw: Float32Array, norm: number): number {
    const nt = tgtPtr[nb];
    const { S, G, posScore: sp, posGrad: gpos } = this;
    const distinct = [...new Set(tw.subarray(0, nt))];
    this.wPtr = grownInt(this.wPtr, nb + 1);
    this.wPos = grownFloat(this.wPos, nt);
    this.wGrad = grownFloat(this.wGrad, nt);
    this.wIdx = grownInt(this.wIdx, nt);
    const { wPtr, wPos, wGrad, wIdx } = this;
    let lossSum = 0;
    for (const w of distinct) {
      if (w === 0) {
        for (let q = 0; q < nt; q++) if (tw[q] === 0) gpos[q] = 0;
        continue;
      }
      let m = 0;
      wPtr[0] = 0;
      for (let r = 0; r < nb; r++) {
        for (let q = tgtPtr[r]; q < tgtPtr[r + 1]; q++) {
          if (tw[q] !== w) continue;
          wIdx[m] = q;
          wPos[m++] = sp[q];
        }
        wPtr[r + 1] = m;
      }
      lossSum += kernels.bprPairs(nb, N, S, wPtr, wPos, (w * norm) / N, G, wGrad, this.wantLoss);
      for (let k = 0; k < m; k++) gpos[wIdx[k]] = wGrad[k];
    }
    return lossSum;
  }
}

const identities = new Map<number, Int32Array>();
/** [0, 1, ..., n-1], cached. */
function IDENTITY(n: number): Int32Array {
  let a = identities.get(n);
  if (!a) {
    a = Int32Array.from({ length: n }, (_, i) => i);
    identities.set(n, a);
  }
  return a;
}

export class LedModel implements RetrievalModel<LedOptions> {
  readonly kind = 'led';
  private dim = 0;
  private total = 0;
  /** numItems × dim: the item vectors used for scoring (projected ones in 'project' mode). */
  private V: Float32Array = new Float32Array(0);
  private b: Float32Array = new Float32Array(0);
  /** 1 for items seen in training (others are never recommended). */
  private known: Uint8Array = new Uint8Array(0);
  private params: Record<string, unknown> = {};
  private report: FitReport | undefined;

  get numItems(): number {
    return this.total;
  }

  get name(): string {
    const p = this.params;
    return `led(${p.loss ?? 'bpr'}, d=${this.dim}${p.tuning === 'project' ? ', project' : ''})`;
  }

  /** Builds a model from given parameters (tests, conversions). */
  static fromParameters(vectors: Float32Array, biases: Float32Array, dim: number, known?: Uint8Array): LedModel {
    const m = new LedModel();
    const n = biases.length;
    if (vectors.length !== n * dim) throw new Error(`led: vectors has ${vectors.length} entries, expected ${n}×${dim}`);
    m.dim = dim;
    m.total = n;
    m.V = vectors;
    m.b = biases;
    m.known = known ?? new Uint8Array(n).fill(1);
    return m;
  }

  async fit(data: Timelines, options: LedOptions = {}, progress?: Progress): Promise<FitReport> {
    const t0 = performance.now();
    const o = { ...DEFAULTS, ...options };
    const d = o.initVectors && options.dim === undefined ? o.initVectors.length / Math.max(1, data.numItems) : o.dim;
    if (!Number.isInteger(d) || d <= 0) throw new Error(`led: dim must be a positive integer, got ${d}`);
    const I = data.numItems;
    if (I <= 0) throw new Error('led: no items');
    if (!['bpr', 'ns', 'css', 'softmax'].includes(o.loss)) throw new Error(`led: unknown loss '${o.loss}'`);
    if (o.initVectors && o.initVectors.length !== I * d) throw new Error(`led: initVectors has ${o.initVectors.length} entries, expected ${I}×${d}`);
    if (o.tuning === 'project' && !o.initVectors) throw new Error("led: tuning 'project' needs initVectors (e.g. from RSVD)");
    if (!(o.dropout >= 0 && o.dropout < 1)) throw new Error(`led: dropout must be in [0, 1), got ${o.dropout}`);
    const split = options.split ?? (o.loss === 'bpr' ? 'shuffle' : 'same');
    const rng = new SmallRng(o.seed);
    const N = o.loss === 'softmax' ? I : Math.min(o.negatives, I);
    if (o.negativeSharing !== 'batch' && o.negativeSharing !== 'user') throw new Error(`led: negativeSharing must be 'batch' or 'user', got '${o.negativeSharing}'`);
    // The full softmax scores every item: nothing to draw per user.
    const perUser = o.negativeSharing === 'user' && o.loss !== 'softmax';
    this.dim = d;
    this.total = I;
    this.params = {
      ...o, split, initVectors: o.initVectors ? 'given' : 'random', validate: undefined, onEpoch: undefined, negatives: N,
      ...(o.typeWeights ? { typeWeights: Array.from(o.typeWeights) } : {}),
    };
    delete this.params.validate;
    delete this.params.onEpoch;

    // Parameters. Base vectors: the trainable V ('train') or the fixed init vectors ('project').
    const base = o.tuning === 'project' ? o.initVectors! : new Float32Array(I * d);
    if (o.tuning === 'train') {
      if (o.initVectors) base.set(o.initVectors);
      else {
        const scale = o.initScale ?? 1 / Math.sqrt(d);
        for (let p = 0; p < base.length; p++) base[p] = rng.normal() * scale * 0.1;
      }
    }
    const P = new Float32Array(d * d); // 'project': v_i = P · base_i
    for (let j = 0; j < d; j++) P[j * d + j] = 1;
    const bias = new Float32Array(I);
    const known = new Uint8Array(I);
    for (let p = 0; p < numEvents(data); p++) known[data.items[p]] = 1;
    this.known = known;

    // Negative sampler.
    let unigramCdf: Float64Array | undefined;
    if (o.sampler === 'unigram') {
      const c = new Float64Array(I);
      for (let p = 0; p < numEvents(data); p++) c[data.items[p]]++;
      unigramCdf = new Float64Array(I);
      let acc = 0;
      for (let i = 0; i < I; i++) unigramCdf[i] = acc += c[i] ** 0.75;
      for (let i = 0; i < I; i++) unigramCdf[i] /= acc;
    }
    const knownList = Int32Array.from(known.reduce<number[]>((a, k, i) => (k ? (a.push(i), a) : a), []));
    const sampleNeg = (): number => {
      if (!unigramCdf) return knownList[rng.int(knownList.length)];
      const r = rng.next();
      let lo = 0;
      let hi = I - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (unigramCdf[mid] < r) lo = mid + 1;
        else hi = mid;
      }
      return lo;
    };

    // Role masks.
    const inTypes = o.inputTypes ? new Set(o.inputTypes) : undefined;
    const tgtTypes = o.targetTypes ? new Set(o.targetTypes) : undefined;
    if ((inTypes || tgtTypes) && !data.types) throw new Error('led: inputTypes/targetTypes need Timelines with types');
    // Target weights by type: weight-0 events are never targets.
    const typeW = o.typeWeights;
    if (typeW) {
      if (!data.types) throw new Error('led: typeWeights needs Timelines with types');
      for (let c = 0; c < typeW.length; c++) {
        if (!(typeW[c] >= 0) || !Number.isFinite(typeW[c])) throw new Error(`led: typeWeights[${c}] must be a finite number >= 0, got ${typeW[c]}`);
      }
    }
    const weightAt = (q: number): number => {
      const c = data.types![q];
      return c < typeW!.length ? typeW![c] : 1;
    };
    const users: number[] = [];
    for (let u = 0; u < data.numUsers; u++) {
      if (data.indptr[u + 1] - data.indptr[u] < (split === 'shuffle' && !tgtTypes ? 2 : 1)) continue;
      if (typeW) {
        let any = false;
        for (let q = data.indptr[u]; q < data.indptr[u + 1] && !any; q++) any = weightAt(q) > 0 && (!tgtTypes || tgtTypes.has(data.types![q]));
        if (!any) continue;
      }
      users.push(u);
    }
    if (users.length === 0) throw new Error('led: no user with enough events to train on');
    const order = Int32Array.from(users);

    const B = Math.min(o.batchSize, order.length);
    const computer = new LedBatchGradients({
      dim: d, numItems: I, base, P, bias, tuning: o.tuning, loss: o.loss, maxBatch: B, negatives: N, negativesPerUser: perUser, candidates: knownList.length,
    });
    const { gV, gB, gP } = computer;
    const negIdx = new Int32Array(perUser ? B * N : N);
    let maxLen = 0;
    for (let u = 0; u < data.numUsers; u++) maxLen = Math.max(maxLen, data.indptr[u + 1] - data.indptr[u]);
    const batch: LedBatch = {
      users: 0, inPtr: new Int32Array(B + 1), inItems: new Int32Array(1024), tgtPtr: new Int32Array(B + 1), tgtItems: new Int32Array(1024), negatives: negIdx,
      ...(typeW ? { tgtWeights: new Float32Array(1024) } : {}),
    };
    const scratch = new Int32Array(maxLen);
    const mV = o.tuning === 'train' ? new Float32Array(I * d) : undefined;
    const vV = o.tuning === 'train' ? new Float32Array(I * d) : undefined;
    const mB = new Float32Array(I);
    const vB = new Float32Array(I);
    const mP = new Float32Array(d * d);
    const vP = new Float32Array(d * d);
    /** Moves k random entries of arr[0..len) to its head (and those of the parallel `arr2`). */
    const shuffleHead = (arr: Int32Array, len: number, k: number, arr2?: Float32Array) => {
      for (let q = 0; q < k; q++) {
        const z = q + rng.int(len - q);
        const t = arr[q];
        arr[q] = arr[z];
        arr[z] = t;
        if (arr2) {
          const t2 = arr2[q];
          arr2[q] = arr2[z];
          arr2[z] = t2;
        }
      }
    };

    let step = 0;
    let best = -Infinity;
    let bestEpoch = 0;
    let bestV: Float32Array | undefined;
    let bestB: Float32Array | undefined;
    let since = 0;
    const history: { epoch: number; loss: number; validation?: number }[] = [];
    const batchesPerEpoch = Math.ceil(order.length / B);
    progress?.update(0, o.epochs * batchesPerEpoch);
    let epoch = 0;
    for (epoch = 1; epoch <= o.epochs; epoch++) {
      const te = performance.now();
      for (let p = order.length - 1; p > 0; p--) {
        const q = rng.int(p + 1);
        const t = order[p];
        order[p] = order[q];
        order[q] = t;
      }
      let lossSum = 0;
      let lossCount = 0;
      for (let start = 0; start < order.length; start += B) {
        const nb = Math.min(B, order.length - start);
        // 1. Inputs and targets per user, written as CSR into the batch buffers.
        let nIn = 0;
        let nTg = 0;
        batch.users = nb;
        for (let r = 0; r < nb; r++) {
          const u = order[start + r];
          const a = data.indptr[u];
          const e = data.indptr[u + 1];
          const len = e - a;
          batch.inItems = grownInt(batch.inItems, nIn + len);
          batch.tgtItems = grownInt(batch.tgtItems, nTg + len);
          if (typeW && batch.tgtWeights!.length < nTg + len) {
            const grown = new Float32Array(Math.max(nTg + len, batch.tgtWeights!.length * 2));
            grown.set(batch.tgtWeights!.subarray(0, nTg));
            batch.tgtWeights = grown;
          }
          const inItems = batch.inItems;
          const tgtItems = batch.tgtItems;
          const tgtW = batch.tgtWeights;
          const in0 = nIn;
          const tg0 = nTg;
          if (inTypes || tgtTypes) {
            for (let q = a; q < e; q++) {
              const ty = data.types![q];
              if (!inTypes || inTypes.has(ty)) inItems[nIn++] = data.items[q];
              if (!tgtTypes || tgtTypes.has(ty)) {
                if (!tgtW) tgtItems[nTg++] = data.items[q];
                else if (weightAt(q) > 0) {
                  tgtW[nTg] = weightAt(q);
                  tgtItems[nTg++] = data.items[q];
                }
              }
            }
          } else if (tgtW) {
            // As the unweighted branches below, on event positions (same random draws), the
            // targets keeping their events' weights and weight-0 events left out of them.
            for (let q = 0; q < len; q++) scratch[q] = a + q;
            const nt = split === 'shuffle' ? Math.max(1, Math.round(len * o.targetFraction)) : len;
            if (split === 'shuffle') shuffleHead(scratch, len, nt);
            for (let q = 0; q < nt; q++) {
              const w = weightAt(scratch[q]);
              if (w > 0) {
                tgtW[nTg] = w;
                tgtItems[nTg++] = data.items[scratch[q]];
              }
            }
            for (let q = split === 'shuffle' ? nt : 0; q < len; q++) inItems[nIn++] = data.items[scratch[q]];
          } else if (split === 'shuffle') {
            scratch.set(data.items.subarray(a, e));
            const nt = Math.max(1, Math.round(len * o.targetFraction));
            shuffleHead(scratch, len, nt);
            tgtItems.set(scratch.subarray(0, nt), nTg);
            nTg += nt;
            inItems.set(scratch.subarray(nt, len), nIn);
            nIn += len - nt;
          } else {
            inItems.set(data.items.subarray(a, e), nIn);
            tgtItems.set(data.items.subarray(a, e), nTg);
            nIn += len;
            nTg += len;
          }
          if (o.dropout > 0 && nIn > in0) {
            let w = in0;
            for (let q = in0; q < nIn; q++) if (rng.next() >= o.dropout) inItems[w++] = inItems[q];
            if (w === in0) inItems[w++] = inItems[in0 + rng.int(nIn - in0)];
            nIn = w;
          }
          if (nTg - tg0 > o.maxTargets) {
            const view = tgtItems.subarray(tg0, nTg);
            shuffleHead(view, nTg - tg0, o.maxTargets, tgtW?.subarray(tg0, nTg));
            nTg = tg0 + o.maxTargets;
          }
          batch.inPtr[r + 1] = nIn;
          batch.tgtPtr[r + 1] = nTg;
        }
        if (o.loss === 'softmax') for (let n = 0; n < N; n++) negIdx[n] = n;
        else for (let n = 0, m = perUser ? nb * N : N; n < m; n++) negIdx[n] = sampleNeg();
        // The exact BPR loss costs as much as its gradient: measure it on one batch in 8.
        computer.wantLoss = o.loss !== 'bpr' || (step & 7) === 0;
        const bl = computer.run(batch);
        if (computer.wantLoss) {
          lossSum += bl;
          lossCount++;
        }
        // 7. L2 and the lazy Adam steps on the touched rows.
        step++;
        if (o.l2 > 0 && o.tuning === 'train') {
          for (let s = 0; s < gV.count; s++) {
            const po = gV.rows[s] * d;
            const go = s * d;
            for (let j = 0; j < d; j++) gV.grad[go + j] += o.l2 * base[po + j];
          }
        }
        const adam = { lr: o.lr, step };
        if (mV && vV) kernels.adamRows(gV.count, d, gV.rows, gV.grad, base, mV, vV, adam);
        kernels.adamRows(gB.count, 1, gB.rows, gB.grad, bias, mB, vB, adam);
        if (o.tuning === 'project') kernels.adamRows(d, d, null, gP, P, mP, vP, adam);
        progress?.tick();
      }
      const loss = lossSum / Math.max(1, lossCount);
      if (!Number.isFinite(loss)) throw new Error(`led: loss diverged at epoch ${epoch} (lower lr)`);
      this.materialise(base, P, bias, o.tuning);
      let validation: number | undefined;
      if (o.validate && (epoch % o.evalEvery === 0 || epoch === o.epochs)) {
        validation = await o.validate(this);
        if (validation > best) {
          best = validation;
          bestEpoch = epoch;
          bestV = this.V.slice();
          bestB = this.b.slice();
          since = 0;
        } else since++;
      }
      history.push({ epoch, loss, ...(validation !== undefined ? { validation } : {}) });
      o.onEpoch?.({ epoch, loss, ...(validation !== undefined ? { validation } : {}), seconds: (performance.now() - te) / 1000 });
      if (o.validate && since >= o.patience) break;
    }
    if (bestV && bestB) {
      this.V = bestV;
      this.b = bestB;
    }
    progress?.done();
    const seconds = (performance.now() - t0) / 1000;
    this.report = {
      kind: this.kind,
      model: this.name,
      seconds,
      users: data.numUsers,
      items: I,
      events: numEvents(data),
      params: this.params,
      metrics: {
        epochs: Math.min(epoch, o.epochs),
        final_loss: history.length ? history[history.length - 1].loss : NaN,
        ...(o.validate ? { best_validation: best, best_epoch: bestEpoch } : {}),
      },
    };
    return this.report;
  }

  /** The scoring vectors from the trained parameters. */
  private materialise(base: Float32Array, P: Float32Array, bias: Float32Array, tuning: 'train' | 'project'): void {
    const d = this.dim;
    if (tuning === 'project') {
      if (this.V.length !== base.length) this.V = new Float32Array(base.length);
      kernels.sgemm(false, true, this.total, d, d, 1, base, P, 0, this.V);
    } else this.V = base;
    this.b = bias;
  }

  encodeUser(history: Int32Array): Float32Array {
    assertFitted(this.total, this.kind);
    const d = this.dim;
    const u = new Float32Array(d);
    let n = 0;
    for (let p = 0; p < history.length; p++) {
      const i = history[p];
      // Items unknown to the model (new since training, or never trained) carry no signal.
      if (i < 0 || i >= this.total || !this.known[i]) continue;
      const o = i * d;
      for (let j = 0; j < d; j++) u[j] += this.V[o + j];
      n++;
    }
    if (n > 0) for (let j = 0; j < d; j++) u[j] /= n;
    return u;
  }

  score(history: Int32Array, items?: Int32Array): Float32Array {
    const u = this.encodeUser(history);
    const d = this.dim;
    if (items) {
      const out = new Float32Array(items.length);
      for (let q = 0; q < items.length; q++) {
        const i = items[q];
        if (i < 0 || i >= this.total || !this.known[i]) {
          out[q] = -Infinity;
          continue;
        }
        let s = this.b[i];
        const o = i * d;
        for (let j = 0; j < d; j++) s += u[j] * this.V[o + j];
        out[q] = s;
      }
      return out;
    }
    const out = new Float32Array(this.total);
    kernels.sgemm(false, true, 1, this.total, d, 1, u, this.V, 0, out);
    for (let i = 0; i < this.total; i++) out[i] = this.known[i] ? out[i] + this.b[i] : -Infinity;
    return out;
  }

  recommend(history: Int32Array, k: number, exclude?: Int32Array, opts?: RecommendOptions): Recommendations {
    return topK(this.score(history), k, exclusionMask(this.total, history, exclude, opts));
  }

  /** Batch scoring through one sgemm: much faster than per-user calls for evaluation. */
  recommendBatch(histories: Timelines, k: number, exclude?: Timelines, opts?: RecommendOptions) {
    assertFitted(this.total, this.kind);
    const count = histories.numUsers;
    const d = this.dim;
    const out = { k, count, items: new Int32Array(count * k).fill(-1), scores: new Float32Array(count * k).fill(-Infinity), lengths: new Int32Array(count) };
    const chunk = 256;
    const Ub = new Float32Array(chunk * d);
    const Sb = new Float32Array(chunk * this.total);
    const mask = new Uint8Array(this.total);
    for (let s0 = 0; s0 < count; s0 += chunk) {
      const nb = Math.min(chunk, count - s0);
      for (let r = 0; r < nb; r++) Ub.set(this.encodeUser(histories.items.subarray(histories.indptr[s0 + r], histories.indptr[s0 + r + 1])), r * d);
      kernels.sgemm(false, true, nb, this.total, d, 1, Ub, this.V, 0, Sb);
      for (let r = 0; r < nb; r++) {
        const row = Sb.subarray(r * this.total, (r + 1) * this.total);
        for (let i = 0; i < this.total; i++) row[i] = this.known[i] ? row[i] + this.b[i] : -Infinity;
        const u = s0 + r;
        const hist = histories.items.subarray(histories.indptr[u], histories.indptr[u + 1]);
        const ex = exclude ? exclude.items.subarray(exclude.indptr[u], exclude.indptr[u + 1]) : undefined;
        const rec = topK(row, k, exclusionMask(this.total, hist, ex, opts, mask));
        out.items.set(rec.items, u * k);
        out.scores.set(rec.scores, u * k);
        out.lengths[u] = rec.items.length;
      }
    }
    return out;
  }

  similarItems(item: number, k: number): Recommendations {
    assertFitted(this.total, this.kind);
    assertItem(item, this.total, this.kind);
    const d = this.dim;
    const q = this.V.subarray(item * d, (item + 1) * d);
    const qn = Math.hypot(...q) || 1;
    const scores = new Float32Array(this.total);
    kernels.sgemm(false, true, 1, this.total, d, 1, q, this.V, 0, scores);
    for (let i = 0; i < this.total; i++) {
      if (!this.known[i] || i === item) {
        scores[i] = -Infinity;
        continue;
      }
      let n = 0;
      const o = i * d;
      for (let j = 0; j < d; j++) n += this.V[o + j] * this.V[o + j];
      scores[i] /= qn * (Math.sqrt(n) || 1);
    }
    return topK(scores, k);
  }

  itemVectors(): ItemVectors {
    assertFitted(this.total, this.kind);
    return { vectors: this.V, biases: this.b, dim: this.dim };
  }

  /** Items the model was trained on. */
  knownItems(): Uint8Array {
    return this.known;
  }

  async save(dir: string): Promise<void> {
    assertFitted(this.total, this.kind);
    await writeModelArtifact(
      dir,
      { kind: this.kind, name: this.name, numItems: this.total, config: { dim: this.dim, params: this.params }, ...(this.report ? { fit: this.report } : {}) },
      { vectors: { data: this.V, shape: [this.total, this.dim] }, biases: this.b, known: this.known },
    );
  }

  static fromArtifact(art: ModelArtifact): LedModel {
    const dim = Number(art.manifest.config.dim);
    const m = LedModel.fromParameters(
      artifactArray(art, 'vectors', Float32Array),
      artifactArray(art, 'biases', Float32Array),
      dim,
      artifactArray(art, 'known', Uint8Array),
    );
    m.params = (art.manifest.config.params as Record<string, unknown>) ?? {};
    m.report = art.manifest.fit;
    return m;
  }
}
