/**
 * The LED paper's Figures 2 and 3 on MovieLens (`npm run bench -- retrieval --dataset
 * ml-latest-small --figure 2|3`), on the same strong-generalization split as the table.
 *
 * Protocol (the paper's §6.1): a fixed training budget, the checkpoint kept is the best on the
 * validation users' NDCG@100 (checked about once per pass over the full training set), and no
 * early stopping by default (`--patience` sets one, in checks). Early stopping with a short
 * patience is not neutral here: BPR with few negatives and LED on a handful of users go through
 * a long plateau or dip before improving, and a patience of 10 stops them inside it.
 *
 * Figure 2 — number of negatives: LED trained with BPR against 10, 100 and 1000 sampled
 * negatives, and with the full softmax (multinomial likelihood), all else equal. As in the
 * paper, the N negatives are drawn per user and shared by that user's positives
 * (`negativeSharing: 'user'`). The paper's shape: more negatives rank better, and BPR with
 * 1000 negatives is within about 1% of the softmax. We report the validation NDCG@100 curve
 * per epoch (with seconds), the test metrics of the best checkpoint and the relative drop
 * against the softmax (the paper's y-axis).
 *
 * Figure 3 — initialisation and the amount of training data: LED with the multinomial
 * likelihood (full softmax, as in the paper) trained on 0.1%, 1%, 10% and 100% of the
 * training users, from a random initialisation and from RSVD on PMI (the RSVD is fitted on all
 * training users, as in the paper: it only needs co-occurrence counts, which are cheap to collect
 * on everything), fine-tuned by Train (the vectors) or Project (P ∈ R^{d×d}). Every fraction
 * gets the same number of optimisation steps (that of `epochs` passes over all training users),
 * so a small fraction makes many passes over its few users. The paper's metric is Recall@50
 * (Recall@20 is shown too); its direction: SVD initialisation (Project) helps most when few
 * users are used to train, training the vectors wins with many.
 */
import { evaluate, heldOutNdcg } from '../src/eval/evaluate.js';
import type { Split } from '../src/eval/protocols.js';
import { LedModel, type LedOptions } from '../src/models/retrieval/led.js';
import { RsvdModel } from '../src/models/retrieval/rsvd.js';
import { selectUsers, SmallRng, type RetrievalModel } from '../src/models/retrieval/types.js';
import { createProgress } from '../src/util/progress.js';

const TEST_METRICS = ['recall@20', 'recall@50', 'ndcg@100'];
const r4 = (x: number) => +x.toFixed(4);

async function testMetrics(m: LedModel | RsvdModel, split: Split): Promise<Record<string, number>> {
  const r = await evaluate(m as unknown as RetrievalModel<never>, split.test, { metrics: TEST_METRICS });
  return { recall_at_20: r4(r.metrics['recall@20']), recall_at_50: r4(r.metrics['recall@50']), ndcg_at_100: r4(r.metrics['ndcg@100']) };
}

export interface FigureOptions {
  split: Split;
  dataset: string;
  seed: number;
  /** Budget per run, in passes over the full training set (the paper: ~200). */
  epochs: number;
  /** Stop after this many checks without improvement (default: never, the paper's protocol). */
  patience?: number;
}

/** Figure 2: BPR with 10 / 100 / 1000 negatives against the full softmax. */
export async function figure2(o: FigureOptions): Promise<Record<string, unknown>> {
  const runs: { label: string; opts: LedOptions }[] = [
    ...[10, 100, 1000].map((n) => ({ label: `BPR, ${n} negatives`, opts: { loss: 'bpr' as const, negatives: n, negativeSharing: 'user' as const, lr: 0.005 } })),
    { label: 'Full softmax', opts: { loss: 'softmax' as const, lr: 0.005 } },
  ];
  const rows: Record<string, unknown>[] = [];
  for (const run of runs) {
    const curve: { epoch: number; seconds: number; validation_ndcg_at_100: number }[] = [];
    let elapsed = 0;
    const m = new LedModel();
    const t0 = performance.now();
    await m.fit(o.split.train, {
      dim: 64, batchSize: 32, epochs: o.epochs, patience: o.patience ?? o.epochs, seed: o.seed, validate: heldOutNdcg(o.split.validation), ...run.opts,
      onEpoch: (e) => {
        elapsed += e.seconds;
        if (e.validation !== undefined) curve.push({ epoch: e.epoch, seconds: +elapsed.toFixed(2), validation_ndcg_at_100: r4(e.validation) });
      },
    }, createProgress({ label: run.label, unit: ' batches' }));
    const fit = (performance.now() - t0) / 1000;
    const best = curve.reduce((a, b) => (b.validation_ndcg_at_100 > a.validation_ndcg_at_100 ? b : a), curve[0]);
    rows.push({
      model: run.label, loss: run.opts.loss, negatives: run.opts.negatives ?? o.split.numItems, ...(await testMetrics(m, o.split)),
      best_epoch: best?.epoch, best_validation_ndcg_at_100: best?.validation_ndcg_at_100, fit_seconds: +fit.toFixed(2), curve,
    });
  }
  // The paper's y-axis: relative drop of each BPR run against the softmax (smaller is better).
  const sm = rows[3];
  const drop = (r: Record<string, unknown>, key: string) => r4(1 - (r[key] as number) / (sm[key] as number));
  for (const r of rows.slice(0, 3)) r.drop_vs_softmax = { recall_at_20: drop(r, 'recall_at_20'), recall_at_50: drop(r, 'recall_at_50'), ndcg_at_100: drop(r, 'ndcg_at_100') };
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`.padStart(6);
  console.log(`Figure 2 on ${o.dataset} (strong generalization, d = 64, ${o.epochs} epochs, best checkpoint on validation NDCG@100; test users; drop = relative to the softmax)`);
  console.log('run                   negatives  Recall@20  Recall@50  NDCG@100  best val  best epoch  fit s   drop R@20  R@50  NDCG');
  for (const r of rows) {
    const dr = r.drop_vs_softmax as Record<string, number> | undefined;
    console.log(
      `${String(r.model).padEnd(21)} ${String(r.negatives).padStart(9)}  ${(r.recall_at_20 as number).toFixed(4).padStart(9)}  ${(r.recall_at_50 as number).toFixed(4).padStart(9)}  ` +
        `${(r.ndcg_at_100 as number).toFixed(4).padStart(8)}  ${(r.best_validation_ndcg_at_100 as number).toFixed(4).padStart(8)}  ${String(r.best_epoch).padStart(10)}  ${String(r.fit_seconds).padStart(5)}` +
        (dr ? `   ${pct(dr.recall_at_20)} ${pct(dr.recall_at_50)} ${pct(dr.ndcg_at_100)}` : ''),
    );
  }
  const rec = rows.map((r) => r.ndcg_at_100 as number);
  const monotone = rec[0] <= rec[1] && rec[1] <= rec[2];
  const softmaxBest = rec[3] >= Math.max(...rec.slice(0, 3)) - 0.005;
  console.log(`shape: test NDCG@100 grows with negatives ${monotone ? 'yes' : 'NO'}; full softmax best (within 0.005) ${softmaxBest ? 'yes' : 'NO'}`);
  return { figure: 2, dataset: o.dataset, epochs: o.epochs, patience: o.patience ?? null, shape_more_negatives_better: monotone, shape_softmax_best: softmaxBest, models: rows };
}

/** Figure 3: LED (softmax) on a fraction of the training users, random vs RSVD init (Train / Project). */
export async function figure3(o: FigureOptions & { fractions?: number[] }): Promise<Record<string, unknown>> {
  const fractions = o.fractions ?? [0.001, 0.01, 0.1, 1];
  const dim = 64;
  const batch = 32;
  const t0 = performance.now();
  const rsvd = new RsvdModel();
  await rsvd.fit(o.split.train, { dim, seed: o.seed, singularPower: 0.5 }, createProgress({ label: 'RSVD', unit: '%' }));
  const rsvdSeconds = (performance.now() - t0) / 1000;
  const init = rsvd.itemVectors().vectors;
  const rsvdTest = await testMetrics(rsvd, o.split);
  const n = o.split.train.numUsers;
  // The same number of steps for every fraction: `epochs` passes over all the training users;
  // a check every pass over all of them (the paper's checkpoint frequency, "roughly every epoch").
  const stepsPerFullEpoch = Math.ceil(n / batch);
  const steps = o.epochs * stepsPerFullEpoch;
  const order = Array.from({ length: n }, (_, i) => i);
  new SmallRng(o.seed).shuffle(order);
  const variants: { label: string; opts: Partial<LedOptions> }[] = [
    { label: 'Random, Train', opts: {} },
    { label: 'SVD, Train', opts: { initVectors: init } },
    { label: 'SVD, Project', opts: { initVectors: init, tuning: 'project' } },
  ];
  const rows: Record<string, unknown>[] = [];
  for (const f of fractions) {
    const users = Math.max(1, Math.round(f * n));
    const train = selectUsers(o.split.train, Int32Array.from(order.slice(0, users)).sort());
    const b = Math.min(batch, users);
    const stepsPerEpoch = Math.ceil(users / b);
    const epochs = Math.ceil(steps / stepsPerEpoch);
    const evalEvery = Math.max(1, Math.round(stepsPerFullEpoch / stepsPerEpoch));
    for (const v of variants) {
      const m = new LedModel();
      const t = performance.now();
      const rep = await m.fit(train, {
        dim, loss: 'softmax', lr: 0.005, batchSize: b, epochs, evalEvery, patience: o.patience ?? epochs, seed: o.seed,
        validate: heldOutNdcg(o.split.validation), ...v.opts,
      }, createProgress({ label: `${f * 100}% ${v.label}`, unit: ' batches' }));
      const mt = rep.metrics ?? {};
      rows.push({
        model: `LED (softmax) ${v.label}`, fraction: f, train_users: users, ...(await testMetrics(m, o.split)),
        best_validation_ndcg_at_100: r4(Number(mt.best_validation)), best_step: Number(mt.best_epoch) * stepsPerEpoch, steps: Number(mt.epochs) * stepsPerEpoch,
        fit_seconds: +((performance.now() - t) / 1000).toFixed(2),
      });
    }
  }
  console.log(
    `Figure 3 on ${o.dataset}: LED (full softmax, d = ${dim}, ${steps} steps of ≤ ${batch} users, best checkpoint on validation NDCG@100) ` +
      `trained on a fraction of the ${n} training users; RSVD on all of them: Recall@20 ${rsvdTest.recall_at_20}, Recall@50 ${rsvdTest.recall_at_50}, ${rsvdSeconds.toFixed(1)} s`,
  );
  for (const [key, title] of [['recall_at_50', 'Recall@50 (the paper\'s metric)'], ['recall_at_20', 'Recall@20']] as const) {
    console.log(`test ${title}`);
    console.log('fraction  users  ' + variants.map((v) => v.label.padStart(14)).join(''));
    for (const f of fractions) {
      const rs = rows.filter((r) => r.fraction === f);
      console.log(`${String(f * 100 + '%').padStart(8)}  ${String(rs[0].train_users).padStart(5)}  ${rs.map((r) => (r[key] as number).toFixed(4).padStart(14)).join('')}`);
    }
  }
  const gain = (f: number, key: string) => {
    const rs = rows.filter((r) => r.fraction === f);
    return Math.max(rs[1][key] as number, rs[2][key] as number) - (rs[0][key] as number);
  };
  const key = 'recall_at_50';
  const small = gain(fractions[0], key);
  const full = gain(fractions[fractions.length - 1], key);
  const helpsSmall = small > 0;
  const sign = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(4)}`;
  console.log(
    `direction (Recall@50, best SVD variant − random): ${fractions.map((f) => `${f * 100}%: ${sign(gain(f, key))}`).join(', ')}; ` +
      `SVD helps on ${fractions[0] * 100}% ${helpsSmall ? 'yes' : 'NO'}, more than on 100% ${small > full ? 'yes' : 'NO'}`,
  );
  return {
    figure: 3, dataset: o.dataset, epochs: o.epochs, steps, patience: o.patience ?? null, rsvd_seconds: +rsvdSeconds.toFixed(2), rsvd: rsvdTest,
    svd_gain_recall_at_50: Object.fromEntries(fractions.map((f) => [String(f), r4(gain(f, key))])),
    svd_gain_recall_at_20: Object.fromEntries(fractions.map((f) => [String(f), r4(gain(f, 'recall_at_20'))])),
    direction_reproduced: helpsSmall && small > full, models: rows,
  };
}
