/**
 * The LED paper's Figures 2 and 3 on MovieLens (`npm run bench -- retrieval --dataset
 * ml-latest-small --figure 2|3`), on the same strong-generalization split as the table.
 *
 * Figure 2 — number of negatives: LED trained with BPR against 10, 100 and 1000 sampled
 * negatives, and with the full softmax, all else equal. The paper's shape: more negatives
 * converge to better ranking, the full softmax best; we report the validation NDCG@100 curve
 * per epoch (with seconds) and the test metrics of the best checkpoint.
 *
 * Figure 3 — initialisation and the amount of training data: LED trained on 0.1%, 1%, 10%
 * and 100% of the training users, from a random initialisation and from RSVD on PMI (the
 * RSVD is fitted on all training users: it only needs co-occurrence counts, which are cheap to
 * collect on everything), fine-tuned by Train (the vectors) or Project (P ∈ R^{d×d}). The
 * paper's direction: SVD initialisation helps most when few users are used to train.
 */
import { evaluate } from '../src/eval/evaluate.js';
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

const validation = (split: Split) => async (m: LedModel) =>
  (await evaluate(m as unknown as RetrievalModel<never>, split.validation, { metrics: ['ndcg@100'] })).metrics['ndcg@100'];

export interface FigureOptions {
  split: Split;
  dataset: string;
  seed: number;
  /** Epoch budget per run (early stopping on validation may end it sooner). */
  epochs: number;
}

/** Figure 2: BPR with 10 / 100 / 1000 negatives against the full softmax. */
export async function figure2(o: FigureOptions): Promise<Record<string, unknown>> {
  const runs: { label: string; opts: LedOptions }[] = [
    ...[10, 100, 1000].map((n) => ({ label: `BPR, ${n} negatives`, opts: { loss: 'bpr' as const, negatives: n, lr: 0.005 } })),
    { label: 'Full softmax', opts: { loss: 'softmax' as const, lr: 0.005 } },
  ];
  const rows: Record<string, unknown>[] = [];
  for (const run of runs) {
    const curve: { epoch: number; seconds: number; validation_ndcg_at_100: number }[] = [];
    let elapsed = 0;
    const m = new LedModel();
    const t0 = performance.now();
    await m.fit(o.split.train, {
      dim: 64, batchSize: 32, epochs: o.epochs, patience: 10, seed: o.seed, validate: validation(o.split), ...run.opts,
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
  console.log(`Figure 2 on ${o.dataset} (strong generalization, d = 64, validation NDCG@100 per epoch, test metrics of the best checkpoint)`);
  console.log('run                   negatives  Recall@20  NDCG@100  best epoch  fit s');
  for (const r of rows) {
    console.log(`${String(r.model).padEnd(21)} ${String(r.negatives).padStart(9)}  ${(r.recall_at_20 as number).toFixed(4).padStart(9)}  ${(r.ndcg_at_100 as number).toFixed(4).padStart(8)}  ${String(r.best_epoch).padStart(10)}  ${String(r.fit_seconds).padStart(5)}`);
  }
  const rec = rows.map((r) => r.ndcg_at_100 as number);
  const monotone = rec[0] <= rec[1] && rec[1] <= rec[2];
  const softmaxBest = rec[3] >= Math.max(...rec.slice(0, 3)) - 0.005;
  console.log(`shape: NDCG@100 grows with negatives ${monotone ? 'yes' : 'NO'}; full softmax best (within 0.005) ${softmaxBest ? 'yes' : 'NO'}`);
  return { figure: 2, dataset: o.dataset, shape_more_negatives_better: monotone, shape_softmax_best: softmaxBest, models: rows };
}

/** Figure 3: LED on a fraction of the training users, random vs RSVD init (Train / Project). */
export async function figure3(o: FigureOptions & { fractions?: number[] }): Promise<Record<string, unknown>> {
  const fractions = o.fractions ?? [0.001, 0.01, 0.1, 1];
  const dim = 64;
  const t0 = performance.now();
  const rsvd = new RsvdModel();
  await rsvd.fit(o.split.train, { dim, seed: o.seed, singularPower: 0.5 }, createProgress({ label: 'RSVD', unit: '%' }));
  const rsvdSeconds = (performance.now() - t0) / 1000;
  const init = rsvd.itemVectors().vectors;
  const rsvdTest = await testMetrics(rsvd, o.split);
  const n = o.split.train.numUsers;
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
    for (const v of variants) {
      const m = new LedModel();
      const t = performance.now();
      await m.fit(train, {
        dim, loss: 'css', negatives: Math.min(1000, o.split.numItems), lr: 0.002, batchSize: Math.min(32, users), epochs: o.epochs, patience: 10, seed: o.seed,
        validate: validation(o.split), ...v.opts,
      });
      rows.push({ model: `LED (CSS) ${v.label}`, fraction: f, train_users: users, ...(await testMetrics(m, o.split)), fit_seconds: +((performance.now() - t) / 1000).toFixed(2) });
    }
  }
  console.log(`Figure 3 on ${o.dataset}: LED trained on a fraction of the ${n} training users (RSVD on all of them: Recall@20 ${rsvdTest.recall_at_20}, ${rsvdSeconds.toFixed(1)} s)`);
  console.log('fraction  users  ' + variants.map((v) => v.label.padStart(14)).join('') + '   (test Recall@20)');
  for (const f of fractions) {
    const rs = rows.filter((r) => r.fraction === f);
    console.log(`${String(f * 100 + '%').padStart(8)}  ${String(rs[0].train_users).padStart(5)}  ${rs.map((r) => (r.recall_at_20 as number).toFixed(4).padStart(14)).join('')}`);
  }
  const gain = (f: number) => {
    const rs = rows.filter((r) => r.fraction === f);
    return Math.max(rs[1].recall_at_20 as number, rs[2].recall_at_20 as number) - (rs[0].recall_at_20 as number);
  };
  const small = gain(fractions[0]);
  const full = gain(fractions[fractions.length - 1]);
  const helpsSmall = small > 0;
  console.log(`direction: SVD init helps on ${fractions[0] * 100}% of users (${small >= 0 ? '+' : ''}${small.toFixed(4)}) ${helpsSmall ? 'yes' : 'NO'}; gain on 100%: ${full >= 0 ? '+' : ''}${full.toFixed(4)}`);
  return {
    figure: 3, dataset: o.dataset, rsvd_seconds: +rsvdSeconds.toFixed(2), rsvd: rsvdTest,
    svd_gain_smallest_fraction_recall_at_20: r4(small), svd_gain_full_recall_at_20: r4(full), direction_reproduced: helpsSmall && small > full, models: rows,
  };
}
