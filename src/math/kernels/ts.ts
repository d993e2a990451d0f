/**
 * Plain TypeScript twins of the kernels: the reference the native ones are tested against, and
 * the fallback when the addon is not built. Single-threaded; sums are carried in doubles.
 * `tsKernels` (argument checks included) is the one to use; `tsRaw` skips the checks.
 */
import type { AdamOptions, Kernels } from './types.js';
import { withChecks } from './validate.js';

/** c[0:len] *= beta, with beta = 0 writing zeros (NaN in c does not survive). */
function scaleInPlace(c: Float32Array, off: number, len: number, beta: number): void {
  if (beta === 1) return;
  if (beta === 0) c.fill(0, off, off + len);
  else for (let i = off; i < off + len; i++) c[i] *= beta;
}

function adamDefaults(o: AdamOptions): Required<AdamOptions> {
  return { lr: o.lr, step: o.step, beta1: o.beta1 ?? 0.9, beta2: o.beta2 ?? 0.999, eps: o.eps ?? 1e-8, weightDecay: o.weightDecay ?? 0 };
}

/** Min-heap of the k best (score desc, index asc) candidates: the root is the worst kept. */
function topkRow(
  n: number, s: Float32Array, sOff: number, k: number, excl: Int32Array,
  outIdx: Int32Array, outScores: Float32Array, outOff: number,
  hs: Float64Array, hi: Int32Array,
): void {
  // worse(a, b): a ranks after b.
  const worse = (x: number, y: number) => hs[x] < hs[y] || (hs[x] === hs[y] && hi[x] > hi[y]);
  const swap = (x: number, y: number) => {
    const ts = hs[x]; hs[x] = hs[y]; hs[y] = ts;
    const ti = hi[x]; hi[x] = hi[y]; hi[y] = ti;
  };
  const siftDown = (size: number) => {
    let i = 0;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let w = i;
      if (l < size && worse(l, w)) w = l;
      if (r < size && worse(r, w)) w = r;
      if (w === i) return;
      swap(i, w);
      i = w;
    }
  };
  let size = 0;
  let e = 0;
  for (let i = 0; i < n; i++) {
    while (e < excl.length && excl[e] < i) e++;
    if (e < excl.length && excl[e] === i) continue;
    const x = s[sOff + i];
    if (size < k) {
      if (x !== x) continue; // NaN
      let j = size++;
      hs[j] = x;
      hi[j] = i;
      while (j > 0) {
        const p = (j - 1) >> 1;
        if (!worse(j, p)) break;
        swap(j, p);
        j = p;
      }
    } else if (x > hs[0]) {
      hs[0] = x;
      hi[0] = i;
      siftDown(size);
    }
  }
  const order = Array.from({ length: size }, (_, j) => j).sort((x, y) => (worse(x, y) ? 1 : worse(y, x) ? -1 : 0));
  for (let j = 0; j < k; j++) {
    if (j < size) {
      outIdx[outOff + j] = hi[order[j]];
      outScores[outOff + j] = hs[order[j]];
    } else {
      outIdx[outOff + j] = -1;
      outScores[outOff + j] = -Infinity;
    }
  }
}

export const tsRaw: Kernels = {
  name: 'ts',

  sgemm(transA, transB, m, n, k, alpha, a, b, beta, c) {
    if (m === 0 || n === 0) return;
    scaleInPlace(c, 0, m * n, beta);
    if (k === 0 || alpha === 0) return;
    const arow = new Float64Array(k);
    const acc = new Float64Array(n);
    for (let i = 0; i < m; i++) {
      if (transA) for (let p = 0; p < k; p++) arow[p] = a[p * m + i];
      else for (let p = 0; p < k; p++) arow[p] = a[i * k + p];
      const co = i * n;
      if (transB) {
        for (let j = 0; j < n; j++) {
          const bo = j * k;
          let s = 0;
          for (let p = 0; p < k; p++) s += arow[p] * b[bo + p];
          c[co + j] += alpha * s;
        }
      } else {
        acc.fill(0);
        for (let p = 0; p < k; p++) {
          const x = arow[p];
          const bo = p * n;
          for (let j = 0; j < n; j++) acc[j] += x * b[bo + j];
        }
        for (let j = 0; j < n; j++) c[co + j] += alpha * acc[j];
      }
    }
  },

  csrmm(rows, _cols, indptr, indices, values, n, alpha, b, beta, c) {
    if (rows === 0 || n === 0) return;
    const acc = new Float64Array(n);
    for (let r = 0; r < rows; r++) {
      acc.fill(0);
      for (let p = indptr[r]; p < indptr[r + 1]; p++) {
        const v = values[p];
        const bo = indices[p] * n;
        for (let j = 0; j < n; j++) acc[j] += v * b[bo + j];
      }
      const co = r * n;
      if (beta === 0) for (let j = 0; j < n; j++) c[co + j] = alpha * acc[j];
      else for (let j = 0; j < n; j++) c[co + j] = alpha * acc[j] + beta * c[co + j];
    }
  },

  mmcsr(m, rows, cols, indptr, indices, values, alpha, a, beta, c) {
    if (m === 0 || cols === 0) return;
    for (let i = 0; i < m; i++) {
      const co = i * cols;
      scaleInPlace(c, co, cols, beta);
      for (let r = 0; r < rows; r++) {
        const x = alpha * a[i * rows + r];
        for (let p = indptr[r]; p < indptr[r + 1]; p++) c[co + indices[p]] += x * values[p];
      }
    }
  },

  dotRows(n, d, x, xIdx, y, yIdx, out) {
    for (let i = 0; i < n; i++) {
      const xo = (xIdx ? xIdx[i] : i) * d;
      const yo = (yIdx ? yIdx[i] : i) * d;
      let s = 0;
      for (let e = 0; e < d; e++) s += x[xo + e] * y[yo + e];
      out[i] = s;
    }
  },

  axpyRows(n, d, alpha, x, xIdx, y, yIdx) {
    for (let i = 0; i < n; i++) {
      const al = typeof alpha === 'number' ? alpha : alpha[i];
      const xo = (xIdx ? xIdx[i] : i) * d;
      const yo = (yIdx ? yIdx[i] : i) * d;
      for (let e = 0; e < d; e++) y[yo + e] += al * x[xo + e];
    }
  },

  embeddingBag(bags, d, indptr, indices, weights, table, mode, out) {
    const acc = new Float64Array(d);
    for (let b = 0; b < bags; b++) {
      acc.fill(0);
      for (let p = indptr[b]; p < indptr[b + 1]; p++) {
        const w = weights ? weights[p] : 1;
        const to = indices[p] * d;
        for (let e = 0; e < d; e++) acc[e] += w * table[to + e];
      }
      const count = indptr[b + 1] - indptr[b];
      const s = mode === 'mean' && count > 1 ? 1 / count : 1;
      const oo = b * d;
      for (let e = 0; e < d; e++) out[oo + e] = acc[e] * s;
    }
  },

  embeddingBagBackward(bags, d, indptr, indices, weights, gradOut, mode, gradTable) {
    for (let b = 0; b < bags; b++) {
      const count = indptr[b + 1] - indptr[b];
      const s = mode === 'mean' && count > 1 ? 1 / count : 1;
      const go = b * d;
      for (let p = indptr[b]; p < indptr[b + 1]; p++) {
        const w = weights ? s * weights[p] : s;
        const to = indices[p] * d;
        for (let e = 0; e < d; e++) gradTable[to + e] += w * gradOut[go + e];
      }
    }
  },

  sampledScores(nUsers, d, users, nSampled, itemIds, table, bias, out) {
    for (let u = 0; u < nUsers; u++) {
      const uo = u * d;
      for (let j = 0; j < nSampled; j++) {
        const id = itemIds[j];
        const to = id * d;
        let s = 0;
        for (let e = 0; e < d; e++) s += users[uo + e] * table[to + e];
        out[u * nSampled + j] = s + (bias ? bias[id] : 0);
      }
    }
  },

  sampledScoresBackward(nUsers, d, users, nSampled, itemIds, table, g, gradUsers, gradSampled, gradBias) {
    const acc = new Float64Array(d);
    if (gradUsers) {
      for (let u = 0; u < nUsers; u++) {
        acc.fill(0);
        for (let j = 0; j < nSampled; j++) {
          const x = g[u * nSampled + j];
          const to = itemIds[j] * d;
          for (let e = 0; e < d; e++) acc[e] += x * table[to + e];
        }
        gradUsers.set(acc, u * d);
      }
    }
    if (gradSampled) {
      for (let j = 0; j < nSampled; j++) {
        acc.fill(0);
        for (let u = 0; u < nUsers; u++) {
          const x = g[u * nSampled + j];
          const uo = u * d;
          for (let e = 0; e < d; e++) acc[e] += x * users[uo + e];
        }
        gradSampled.set(acc, j * d);
      }
    }
    if (gradBias) {
      for (let j = 0; j < nSampled; j++) {
        let s = 0;
        for (let u = 0; u < nUsers; u++) s += g[u * nSampled + j];
        gradBias[j] = s;
      }
    }
  },

  adamRows(n, d, rows, grad, param, m, v, opts) {
    const { lr, step, beta1, beta2, eps, weightDecay } = adamDefaults(opts);
    const c1 = 1 / (1 - Math.pow(beta1, step));
    const c2 = 1 / (1 - Math.pow(beta2, step));
    for (let i = 0; i < n; i++) {
      const ro = (rows ? rows[i] : i) * d;
      const go = i * d;
      for (let e = 0; e < d; e++) {
        const g = grad[go + e];
        const mi = beta1 * m[ro + e] + (1 - beta1) * g;
        const vi = beta2 * v[ro + e] + (1 - beta2) * g * g;
        m[ro + e] = mi;
        v[ro + e] = vi;
        const p = param[ro + e];
        param[ro + e] = p - lr * ((mi * c1) / (Math.sqrt(vi * c2) + eps) + weightDecay * p);
      }
    }
  },

  bprPairs(rows, n, s, posPtr, pos, scale, gradS, gradPos, wantLoss) {
    let loss = 0;
    for (let r = 0; r < rows; r++) {
      const so = r * n;
      for (let q = posPtr[r]; q < posPtr[r + 1]; q++) {
        const p = pos[q];
        let acc = 0;
        for (let j = 0; j < n; j++) {
          const x = s[so + j] - p;
          const sig = x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
          gradS[so + j] += scale * sig;
          acc += sig;
          if (wantLoss) loss += scale * (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));
        }
        gradPos[q] = -scale * acc;
      }
    }
    return loss;
  },

  topk(rows, n, scores, k, exclIndptr, exclIndices, outIdx, outScores) {
    if (rows === 0 || k === 0) return;
    const cap = Math.min(k, n);
    const hs = new Float64Array(cap);
    const hi = new Int32Array(cap);
    const none = new Int32Array(0);
    for (let r = 0; r < rows; r++) {
      const excl = exclIndptr && exclIndices ? exclIndices.slice(exclIndptr[r], exclIndptr[r + 1]).sort() : none;
      topkRow(n, scores, r * n, Math.min(k, n), excl, outIdx, outScores, r * k, hs, hi);
      for (let j = cap; j < k; j++) {
        outIdx[r * k + j] = -1;
        outScores[r * k + j] = -Infinity;
      }
    }
  },
};

/** The TypeScript kernels, with argument checks. */
export const tsKernels: Kernels = withChecks(tsRaw);
