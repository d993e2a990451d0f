/**
 * The training loop shared by the sparse rankers: seeded shuffling per epoch, per-epoch
 * validation (log-loss and AUC per head), early stopping on the mean validation log-loss with
 * the best epoch's parameters restored, and the fit report.
 */
import { auc, logLoss } from './metrics.js';
import { checkLabels, checkRows, rowsBatch, sigmoid, type FeatureBatch, type LabeledRows, type RankerFitOptions, type RankerFitReport } from './types.js';
import { seededUniform } from '../math/rng.js';

/** What a model gives the loop. */
export interface EpochTrainer {
  readonly heads: readonly string[];
  readonly dim: number;
  /** One pass over the rows in `order`; returns the mean training log-loss per head. */
  trainEpoch(data: LabeledRows, order: Int32Array, epoch: number): number[];
  logits(batch: FeatureBatch, head: number, out?: Float32Array): Float32Array;
  /** A copy of the parameters, and putting one back. */
  snapshot(): unknown;
  restore(s: unknown): void;
}

/** mulberry32: a small seeded generator for shuffling and initialisation (src/math/rng.ts). */
export const seededRandom = seededUniform;

/** A standard normal draw from a uniform source (Box-Muller). */
export function normalFrom(rand: () => number): number {
  let u = 0;
  while (u === 0) u = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rand());
}

/** Per head: validation log-loss and AUC of a model on labelled rows. */
export function validate(model: Pick<EpochTrainer, 'heads' | 'dim' | 'logits'>, data: LabeledRows): Record<string, { logLoss: number; auc: number }> {
  const out: Record<string, { logLoss: number; auc: number }> = {};
  const batch = rowsBatch(data.x, model.dim);
  const z = new Float32Array(data.x.rows);
  model.heads.forEach((h, k) => {
    model.logits(batch, k, z);
    const p = Float32Array.from(z, sigmoid);
    out[h] = { logLoss: logLoss(p, data.labels[h]), auc: auc(z, data.labels[h]) };
  });
  return out;
}

export async function runFit(
  model: EpochTrainer,
  data: LabeledRows,
  opts: RankerFitOptions,
  info: { kind: string; name: string; defaultEpochs: number; params: Record<string, unknown> },
): Promise<RankerFitReport> {
  const t0 = performance.now();
  checkRows(data.x, model.dim, 'data.x');
  checkLabels(data, model.heads);
  if (opts.validation) {
    checkRows(opts.validation.x, model.dim, 'validation.x');
    checkLabels(opts.validation, model.heads);
  }
  const epochs = opts.epochs ?? info.defaultEpochs;
  if (!Number.isInteger(epochs) || epochs < 1) throw new RangeError(`fit: epochs must be an integer >= 1, got ${epochs}`);
  const patience = opts.patience ?? 2;
  if (!Number.isInteger(patience) || patience < 0) throw new RangeError(`fit: patience must be an integer >= 0, got ${patience}`);
  const rand = seededRandom(opts.seed ?? 1);
  const n = data.x.rows;
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  let best = Infinity;
  let bestEpoch = 0;
  let bestSnap: unknown;
  let bestVal: Record<string, { logLoss: number; auc: number }> | undefined;
  let lastLoss: number[] = model.heads.map(() => NaN);
  let ran = 0;
  let since = 0;
  for (let ep = 1; ep <= epochs; ep++) {
    const te = performance.now();
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      const t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    lastLoss = model.trainEpoch(data, order, ep);
    ran = ep;
    let val: Record<string, { logLoss: number; auc: number }> | undefined;
    if (opts.validation) {
      val = validate(model, opts.validation);
      const mean = model.heads.reduce((s, h) => s + (Number.isFinite(val![h].logLoss) ? val![h].logLoss : 0), 0) / model.heads.length;
      if (mean < best - 1e-6) {
        best = mean;
        bestEpoch = ep;
        bestSnap = model.snapshot();
        bestVal = val;
        since = 0;
      } else since++;
    } else bestEpoch = ep;
    opts.onEpoch?.({
      epoch: ep,
      seconds: (performance.now() - te) / 1000,
      loss: Object.fromEntries(model.heads.map((h, k) => [h, lastLoss[k]])),
      ...(val ? { validation: val } : {}),
    });
    await new Promise((r) => setImmediate(r));
    if (opts.validation && since > patience) break;
  }
  if (bestSnap !== undefined && bestEpoch !== ran) model.restore(bestSnap);
  return {
    kind: info.kind,
    model: info.name,
    seconds: (performance.now() - t0) / 1000,
    rows: n,
    epochs: ran,
    bestEpoch,
    params: info.params,
    heads: Object.fromEntries(model.heads.map((h, k) => [h, { trainLogLoss: lastLoss[k], ...(bestVal ? { validation: bestVal[h] } : {}) }])),
  };
}
