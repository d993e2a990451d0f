/**
 * From samples to a deployable `RankingModel`: split by time (train / calibration / test, at
 * request boundaries), fit the continuous features' normaliser on the training part only, train
 * the ranker with early stopping on the calibration part, fit one calibrator per head on the
 * calibration part, and measure everything on the untouched test part (AUC, log-loss raw and
 * calibrated, GAUC per user, click-rank per impressed list, ECE and the reliability table).
 */
import { fitCalibrator, type CalibrationMethod, type Calibrator } from './calibration.js';
import type { FeatureSpace } from './features.js';
import { FactorizationMachine, type FmOptions } from './fm.js';
import { LogisticRegression, type LrOptions } from './lr.js';
import { evaluateHead, type HeadEvaluation } from './metrics.js';
import { RankingModel } from './model.js';
import type { SampleSet } from './samples.js';
import { rowsBatch, type EpochReport, type LabeledRows, type Ranker, type RankerFitReport } from './types.js';

export const RANKER_MODELS = ['lr', 'fm'] as const;
export type RankerModelKind = (typeof RANKER_MODELS)[number];

export interface RankerTrainOptions {
  /** 'lr' (default) or 'fm'. */
  model?: RankerModelKind;
  lr?: LrOptions;
  fm?: FmOptions;
  /** Head weights in the combined score; the keys are the heads trained (default { click: 1 }). */
  heads?: Record<string, number>;
  /** Calibration fitted on the calibration part (default 'isotonic'). */
  calibration?: CalibrationMethod;
  /** Shares of the time-ordered samples: train, calibration, test (default [0.7, 0.2, 0.1]). */
  split?: [number, number, number];
  epochs?: number;
  patience?: number;
  seed?: number;
  onEpoch?: (e: EpochReport) => void;
}

export interface RankerTrainingReport {
  model: string;
  kind: string;
  seconds: number;
  samples: { train: number; calibration: number; test: number };
  positives: Record<string, { train: number; calibration: number; test: number }>;
  fit: RankerFitReport;
  calibration: CalibrationMethod;
  /** Per head, on the test part. */
  test: Record<string, HeadEvaluation>;
}

/** A fresh ranker of a kind for a feature space. */
export function createRanker(kind: RankerModelKind, dim: number, heads: string[], opts: { lr?: LrOptions; fm?: FmOptions; seed?: number } = {}): Ranker {
  if (kind === 'lr') return new LogisticRegression(dim, { ...opts.lr, heads });
  if (kind === 'fm') return new FactorizationMachine(dim, { ...(opts.seed !== undefined ? { seed: opts.seed } : {}), ...opts.fm, heads });
  throw new RangeError(`ranker: model must be one of ${RANKER_MODELS.join(', ')}, got '${String(kind)}'`);
}

function count(y: Float32Array): number {
  let c = 0;
  for (let i = 0; i < y.length; i++) if (y[i] > 0) c++;
  return c;
}

/** Per head: raw probabilities of a ranker on labelled rows. */
export function predictRows(ranker: Ranker, rows: LabeledRows): Float32Array[] {
  return ranker.predict(rowsBatch(rows.x, ranker.dim));
}

export async function trainRanker(space: FeatureSpace, samples: SampleSet, opts: RankerTrainOptions = {}): Promise<{ model: RankingModel; report: RankerTrainingReport }> {
  const t0 = performance.now();
  const heads = opts.heads ?? { click: 1 };
  const headNames = Object.keys(heads);
  if (headNames.length === 0) throw new RangeError('ranker: heads must name at least one head');
  for (const h of headNames) if (h !== 'click' && h !== 'conversion') throw new RangeError(`ranker: heads can be 'click' and 'conversion', got '${h}'`);
  const method = opts.calibration ?? 'isotonic';
  const [trainIdx, calIdx, testIdx] = samples.splitByTime(opts.split ?? [0.7, 0.2, 0.1]);
  if (trainIdx.length === 0) throw new RangeError(`ranker: no training samples (${samples.size} samples in all)`);
  const normalizer = samples.fitNormalizer(space, trainIdx);
  const sp = space.withNormalizer(normalizer);
  const train = samples.encode(sp, trainIdx);
  const cal = samples.encode(sp, calIdx);
  const test = samples.encode(sp, testIdx);
  const ranker = createRanker(opts.model ?? 'lr', sp.dim, headNames, { ...(opts.lr ? { lr: opts.lr } : {}), ...(opts.fm ? { fm: opts.fm } : {}), ...(opts.seed !== undefined ? { seed: opts.seed } : {}) });
  const fit = await ranker.fit(train, {
    ...(cal.x.rows > 0 ? { validation: cal } : {}),
    ...(opts.epochs !== undefined ? { epochs: opts.epochs } : {}),
    ...(opts.patience !== undefined ? { patience: opts.patience } : {}),
    ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    ...(opts.onEpoch ? { onEpoch: opts.onEpoch } : {}),
  });
  // calibrators on the calibration part
  const calibrators: Calibrator[] = [];
  const pCal = cal.x.rows > 0 ? predictRows(ranker, cal) : [];
  ranker.heads.forEach((h, k) => {
    const y = cal.labels[h];
    calibrators.push(cal.x.rows > 0 && count(y) > 0 ? fitCalibrator(method, pCal[k], y) : fitCalibrator('none', [0], [0]));
  });
  // test figures
  const testReport: Record<string, HeadEvaluation> = {};
  if (test.x.rows > 0) {
    const p = predictRows(ranker, test);
    const users = Int32Array.from(test.groups!, (g) => samples.groupUser[g]);
    ranker.heads.forEach((h, k) => {
      const calibrated = Float32Array.from(p[k], (v) => calibrators[k].map(v));
      testReport[h] = evaluateHead(p[k], calibrated, test.labels[h], test.groups!, users);
    });
  }
  const report: RankerTrainingReport = {
    model: ranker.name,
    kind: ranker.kind,
    seconds: (performance.now() - t0) / 1000,
    samples: { train: train.x.rows, calibration: cal.x.rows, test: test.x.rows },
    positives: Object.fromEntries(headNames.map((h) => [h, { train: count(train.labels[h]), calibration: count(cal.labels[h]), test: count(test.labels[h]) }])),
    fit,
    calibration: method,
    test: testReport,
  };
  const model = new RankingModel(sp, ranker, heads, calibrators, { report });
  return { model, report };
}
