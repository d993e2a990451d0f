/**
 * `npm run bench -- retrieval [--dataset ml-100k|ml-latest-small] [--heldout 100] [--seed N]
 *                              [--repeats R] [--models id,id,...] [--list]`
 * `npm run bench -- retrieval --dataset synthetic [--users 1000000] [--items 100000]
 *                              [--events 50000000] [--epochs 1] [--rsvd-window 5] [--rsvd-min-count 2]`
 * `npm run bench -- retrieval --dataset ml-latest-small --figure 2|3 [--epochs 200] [--patience P]`:
 *   the paper's Figure 2 (BPR with 10/100/1000 negatives vs full softmax) and Figure 3 (LED on
 *   0.1/1/10/100% of the training users, random vs RSVD init with Train/Project), with the paper's
 *   fixed budget (~200 epochs) and no early stopping by default; see bench/retrieval-figures.ts.
 *
 * Retrieval quality under the LED paper's ML-20M protocol (Mult-VAE strong generalization:
 * ratings > 3.5, users >= 5 events, disjoint held-out validation and test users, 80/20 fold-in)
 * on the MovieLens sets available here. Every model's hyper-parameters are chosen on the
 * validation users by NDCG@100 (as the paper selects checkpoints); the table reports the test
 * users: Recall@20, Recall@50, NDCG@100 and the fit time of the chosen configuration. With
 * --repeats R, R splits (seeds seed, seed+1, ...) are run and the metrics averaged (± their
 * standard deviation across splits in the JSON): 100 test users make single splits noisy.
 *
 * Rows with init 'SVD' start LED from RSVD on the PMI matrix of the training timelines (§5.1),
 * fine-tuned by 'Train' or 'Proj' (§5.4); the RSVD time is included in their fit seconds.
 * Adding a model = one entry in `modelSpecs` below.
 */
import { parseArgs } from 'node:util';
import { intOption } from '../src/cli/args.js';
import { loadMovieLens, MOVIELENS_NAMES, type LoadedDataset, type MovieLensName } from '../src/eval/datasets.js';
import { evaluate, heldOutNdcg } from '../src/eval/evaluate.js';
import { strongGeneralization, type Split } from '../src/eval/protocols.js';
import { formatTable, reportJson, type ReportRow } from '../src/eval/report.js';
import { CboModel } from '../src/models/retrieval/cbo.js';
import { EaseModel } from '../src/models/retrieval/ease.js';
import { ItemKnnModel } from '../src/models/retrieval/itemknn.js';
import { PopularityModel } from '../src/models/retrieval/popularity.js';
import { LedModel } from '../src/models/retrieval/led.js';
import { RsvdModel } from '../src/models/retrieval/rsvd.js';
import { syntheticTimelines } from '../src/eval/synthetic.js';
import { kernelInfo } from '../src/math/kernels/index.js';
import { itemCounts, type RetrievalModel, type Timelines } from '../src/models/retrieval/types.js';
import { createProgress } from '../src/util/progress.js';
import { figure2, figure3 } from './retrieval-figures.js';

/** One row of the table: a model family and the option grid searched on validation users. */
export interface ModelSpec {
  /** Short id for --models. */
  id: string;
  /** Table columns (LED paper Table 2 layout). */
  model: string;
  loss: string;
  init: string;
  tuning: string;
  create: () => RetrievalModel<never>;
  /** Options to try; the best validation NDCG@100 wins (one entry: no tuning). */
  grid: Record<string, unknown>[];
  /**
   * Work shared by the grid (e.g. RSVD pre-training for LED's init): run once per split, its
   * result merged into every grid entry and its time added to fit_seconds.
   */
  prepare?: (ctx: BenchContext) => Promise<Record<string, unknown>>;
}

export interface BenchContext {
  dataset: LoadedDataset;
  split: Split;
  seed: number;
}

/** Validation NDCG@100 of a model: the selection metric (e.g. LED's `validate` callback). */
export function validationNdcg(ctx: BenchContext): (m: object) => Promise<number> {
  return heldOutNdcg(ctx.split.validation);
}

/** The model rows, in table order. Add LED / RSVD rows here. */
/**
 * LED rows; dimensions and learning rates chosen by measurement on ml-100k validation users.
 * The paper's protocol: a fixed budget (~200 epochs), the best checkpoint on validation NDCG@100,
 * no early stopping — a patience of 10 stopped BPR (and CSS from a random start) inside the
 * plateau of its first epochs, at popularity level on ml-latest-small. BPR draws its 1000
 * negatives per user as in the paper (`negativeSharing: 'user'`): measured better on validation
 * than one draw shared by the batch (ml-latest-small, d = 64: best NDCG@100 0.363 vs 0.331).
 */
function ledSpecs(ctx: BenchContext): ModelSpec[] {
  const led = () => new LedModel() as RetrievalModel<never>;
  const common = { batchSize: 32, epochs: 200, patience: 200, seed: ctx.seed, validate: validationNdcg(ctx) };
  const css = { ...common, loss: 'css', dim: 128, negatives: 1000, lr: 0.002 };
  const bpr = { ...common, loss: 'bpr', dim: 128, negatives: 1000, negativeSharing: 'user', lr: 0.005 };
  // RSVD pre-training (§5.1) on the training users, d = 128 like the LED rows; U·Σ^½ (measured
  // better as an initialisation than the plain U). 'project' learns only P (§5.4), at lr 0.005.
  const svd = rsvdInit(128);
  return [
    { id: 'led-css', model: 'LED', loss: 'CSS', init: 'random', tuning: 'Train', create: led, grid: [css] },
    { id: 'led-bpr', model: 'LED', loss: 'BPR', init: 'random', tuning: 'Train', create: led, grid: [bpr] },
    { id: 'led-softmax', model: 'LED', loss: 'Softmax', init: 'random', tuning: 'Train', create: led, grid: [{ ...common, loss: 'softmax', dim: 64, lr: 0.005 }] },
    { id: 'led-css-svd', model: 'LED', loss: 'CSS', init: 'SVD', tuning: 'Train', create: led, prepare: svd, grid: [css] },
    { id: 'led-css-svd-proj', model: 'LED', loss: 'CSS', init: 'SVD', tuning: 'Proj', create: led, prepare: svd, grid: [{ ...css, tuning: 'project', lr: 0.005 }] },
    { id: 'led-bpr-svd', model: 'LED', loss: 'BPR', init: 'SVD', tuning: 'Train', create: led, prepare: svd, grid: [bpr] },
    { id: 'led-bpr-svd-proj', model: 'LED', loss: 'BPR', init: 'SVD', tuning: 'Proj', create: led, prepare: svd, grid: [{ ...bpr, tuning: 'project' }] },
  ];
}

/** LED's `initVectors` from RSVD on the PMI of the training timelines (a `prepare` step). */
export function rsvdInit(dim: number, opts: Record<string, unknown> = {}): (ctx: BenchContext) => Promise<Record<string, unknown>> {
  return async (ctx) => {
    const m = new RsvdModel();
    await m.fit(ctx.split.train, { dim, singularPower: 0.5, seed: ctx.seed, ...opts });
    return { initVectors: m.itemVectors().vectors };
  };
}

export function modelSpecs(ctx: BenchContext): ModelSpec[] {
  const ks = [20, 50, 100, 200, 500];
  const knnGrid = (similarity: string, extra: Record<string, unknown>[] = [{}]) =>
    ks.flatMap((k) => extra.map((e) => ({ similarity, k, ...e })));
  const knn = () => new ItemKnnModel() as RetrievalModel<never>;
  return [
    { id: 'pop', model: 'Popularity (GBO)', loss: '', init: '', tuning: '', create: () => new PopularityModel() as RetrievalModel<never>, grid: [{}] },
    {
      id: 'cbo', model: 'CBO', loss: '', init: '', tuning: '', create: () => new CboModel() as RetrievalModel<never>,
      grid: [5, 10, 20, 40, 80].map((clusters) => ({ clusters, seed: ctx.seed })),
    },
    { id: 'knn-cooc', model: 'Item-kNN (co-occurrence)', loss: '', init: '', tuning: '', create: knn, grid: knnGrid('cooccurrence') },
    { id: 'knn-cos', model: 'Item-kNN (cosine)', loss: '', init: '', tuning: '', create: knn, grid: knnGrid('cosine', [{ shrink: 0 }, { shrink: 20 }]) },
    { id: 'knn-pmi', model: 'Item-kNN (PMI, α=0.75)', loss: '', init: '', tuning: '', create: knn, grid: knnGrid('pmi', [{ minCount: 2 }, { minCount: 3 }, { minCount: 5 }]) },
    {
      id: 'ease', model: 'EASE', loss: 'Gauss', init: '', tuning: '', create: () => new EaseModel() as RetrievalModel<never>,
      grid: [10, 25, 50, 100, 200, 400, 800].map((lambda) => ({ lambda })),
    },
    {
      id: 'rsvd', model: 'RSVD (PMI)', loss: '', init: 'SVD', tuning: '', create: () => new RsvdModel() as RetrievalModel<never>,
      grid: [64, 128, 256].flatMap((dim) => [0.75, 1].map((alpha) => ({ dim, alpha, seed: ctx.seed }))),
    },
    ...ledSpecs(ctx),
  ];
}

const METRICS = ['recall@20', 'recall@50', 'ndcg@100', 'coverage@100', 'popularity@20'];

interface Outcome {
  metrics: Record<string, number>;
  fitSeconds: number;
  validation: number;
  name: string;
  params: Record<string, unknown>;
}

/** Fits every grid entry, keeps the best on validation, evaluates it on the test users. */
async function runSpec(spec: ModelSpec, ctx: BenchContext, popularity: Float64Array, tick: () => void): Promise<Outcome> {
  let shared: Record<string, unknown> = {};
  let prepSeconds = 0;
  if (spec.prepare) {
    const t = performance.now();
    shared = await spec.prepare(ctx);
    prepSeconds = (performance.now() - t) / 1000;
  }
  let best: { model: RetrievalModel<never>; opts: Record<string, unknown>; val: number; seconds: number } | undefined;
  for (const opts of spec.grid) {
    const model = spec.create();
    const t = performance.now();
    await model.fit(ctx.split.train, { ...shared, ...opts } as never);
    const seconds = (performance.now() - t) / 1000;
    const val = await validationNdcg(ctx)(model);
    if (!best || val > best.val) best = { model, opts, val, seconds };
    tick();
  }
  const test = await evaluate(best!.model, ctx.split.test, { metrics: METRICS, popularity });
  // Functions (callbacks) and typed arrays stay out of the JSON.
  const params = Object.fromEntries(Object.entries(best!.opts).filter(([, v]) => typeof v !== 'function' && !ArrayBuffer.isView(v)));
  return { metrics: test.metrics, fitSeconds: best!.seconds + prepSeconds, validation: best!.val, name: best!.model.name, params };
}

const avg = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
const sd = (a: number[]) => (a.length < 2 ? NaN : Math.sqrt(a.reduce((s, v) => s + (v - avg(a)) ** 2, 0) / (a.length - 1)));

/**
 * The scale figures (`--dataset synthetic`): one LED epoch (d = 64, 200 negatives, BPR) and
 * RSVD (d = 64) on the item PMI matrix of synthetic timelines, with peak RSS.
 */
async function runScale(o: { users: number; items: number; events: number; epochs: number; seed: number; rsvdWindow: number; rsvdMinCount: number }): Promise<Record<string, unknown>> {
  const rss = () => Math.round(process.resourceUsage().maxRSS / 1024);
  const t0 = performance.now();
  const data = syntheticTimelines({ users: o.users, items: o.items, events: o.events, seed: o.seed, progress: createProgress({ label: 'synthesising timelines', unit: ' users' }) });
  const genSeconds = (performance.now() - t0) / 1000;
  const rows: Record<string, unknown>[] = [];
  const led = new LedModel();
  const epochSeconds: number[] = [];
  const tl = performance.now();
  await led.fit(data, {
    dim: 64, negatives: 200, loss: 'bpr', epochs: o.epochs, batchSize: 512, seed: o.seed,
    onEpoch: (e) => epochSeconds.push(e.seconds),
  }, createProgress({ label: 'LED epoch', unit: ' batches' }));
  rows.push({ model: 'LED (BPR, d=64, 200 negatives)', seconds_per_epoch: +(epochSeconds.reduce((a, b) => a + b, 0) / epochSeconds.length).toFixed(2), fit_seconds: +((performance.now() - tl) / 1000).toFixed(2), rss_mb: rss() });
  const rsvdRow = await scaleRsvd(data, o.seed, o.rsvdWindow, o.rsvdMinCount);
  rows.push({ ...rsvdRow, rss_mb: rss() });
  console.log(`synthetic: ${o.users} users, ${o.items} items, ${data.items.length} events (generated in ${genSeconds.toFixed(1)} s), kernels ${kernelInfo().active}, ${kernelInfo().threads} threads`);
  for (const r of rows) console.log('  ' + Object.entries(r).map(([k, v]) => `${k}=${v}`).join('  '));
  return {
    dataset: 'synthetic', users: o.users, items: o.items, events: data.items.length, kernels: kernelInfo().active, threads: kernelInfo().threads,
    led_epoch_seconds: rows[0].seconds_per_epoch, rsvd_seconds: rsvdRow.seconds, rsvd_target_met: rsvdRow.seconds <= 60, rss_mb: rss(), models: rows,
  };
}

/**
 * RSVD (d = 64) on the PMI matrix for the scale run: co-occurrence within a window of
 * `window` events (whole timelines would give ~10⁹ pairs at this scale), pairs seen at least
 * `minCount` times, smoothed PPMI, randomized SVD. `seconds` is the whole fit (co-occurrence +
 * PMI + SVD); the parts are reported too.
 */
async function scaleRsvd(data: Timelines, seed: number, window: number, minCount: number): Promise<{ model: string; seconds: number } & Record<string, unknown>> {
  const m = new RsvdModel();
  const t = performance.now();
  const rep = await m.fit(data, { dim: 64, window, minCount, seed }, createProgress({ label: 'RSVD d=64', unit: '%' }));
  const seconds = (performance.now() - t) / 1000;
  const r = rep.metrics ?? {};
  const round = (x: number | undefined) => (x === undefined ? undefined : +x.toFixed(2));
  return {
    model: `RSVD (PPMI α=0.75, d=64, window=${window}, minCount=${minCount})`,
    seconds: +seconds.toFixed(2),
    cooccurrence_seconds: round(r.cooccurrence_seconds),
    pmi_seconds: round(r.pmi_seconds),
    svd_seconds: round(r.svd_seconds),
    pmi_nnz: r.pmi_nnz,
  };
}

export async function run(args: string[]): Promise<Record<string, unknown>> {
  const { values } = parseArgs({
    args,
    options: {
      dataset: { type: 'string', default: 'ml-100k' },
      heldout: { type: 'string' },
      seed: { type: 'string' },
      repeats: { type: 'string' },
      models: { type: 'string' },
      list: { type: 'boolean', default: false },
      users: { type: 'string' },
      items: { type: 'string' },
      events: { type: 'string' },
      epochs: { type: 'string' },
      'rsvd-window': { type: 'string' },
      'rsvd-min-count': { type: 'string' },
      figure: { type: 'string' },
      patience: { type: 'string' },
    },
  });
  if (values.dataset === 'synthetic') {
    return runScale({
      users: intOption(values.users, 'users', 1_000_000),
      items: intOption(values.items, 'items', 100_000),
      events: intOption(values.events, 'events', 50_000_000),
      epochs: intOption(values.epochs, 'epochs', 1),
      seed: intOption(values.seed, 'seed', 1),
      rsvdWindow: intOption(values['rsvd-window'], 'rsvd-window', 5),
      rsvdMinCount: intOption(values['rsvd-min-count'], 'rsvd-min-count', 2),
    });
  }
  const name = values.dataset as MovieLensName;
  if (!MOVIELENS_NAMES.includes(name)) throw new Error(`--dataset must be one of ${MOVIELENS_NAMES.join(', ')}`);
  const heldout = intOption(values.heldout, 'heldout', 100);
  const seed0 = intOption(values.seed, 'seed', 98765);
  const repeats = Math.max(1, intOption(values.repeats, 'repeats', 1));

  const dataset = await loadMovieLens(name);
  if (values.figure !== undefined) {
    // The paper's Figure 2 (negatives) or Figure 3 (init × share of users), on the same split.
    const split = strongGeneralization(dataset.timelines, { valueAbove: 3.5, minUserEvents: 5, validationUsers: heldout, testUsers: heldout, seed: seed0 });
    const fo = {
      split, dataset: name, seed: seed0, epochs: intOption(values.epochs, 'epochs', 200),
      ...(values.patience !== undefined ? { patience: intOption(values.patience, 'patience', 10) } : {}),
    };
    if (values.figure === '2') return figure2(fo);
    if (values.figure === '3') return figure3(fo);
    throw new Error(`--figure must be 2 or 3, got '${values.figure}'`);
  }
  const makeCtx = (seed: number): BenchContext => ({
    dataset, seed,
    split: strongGeneralization(dataset.timelines, { valueAbove: 3.5, minUserEvents: 5, validationUsers: heldout, testUsers: heldout, seed }),
  });
  let ctx = makeCtx(seed0);
  let specs = modelSpecs(ctx);
  if (values.list) {
    console.log(specs.map((s) => `${s.id.padEnd(10)} ${s.model}`).join('\n'));
    process.exit(0); // nothing to record in bench/results
  }
  const want = values.models ? new Set(values.models.split(',')) : undefined;
  if (want) {
    const unknown = [...want].filter((id) => !specs.some((s) => s.id === id));
    if (unknown.length) throw new Error(`unknown --models ${unknown.join(', ')} (known: ${specs.map((s) => s.id).join(', ')})`);
  }
  const pick = (all: ModelSpec[]) => (want ? all.filter((s) => want.has(s.id)) : all);
  specs = pick(specs);
  const s = ctx.split.stats;
  console.log(
    `${name}: ${s.input.users} users, ${s.input.items} items, ${s.input.events} events after filtering; ` +
      `train ${s.train.users} users / ${s.train.events} events; validation ${s.validation.users} users ` +
      `(${s.validation.targetEvents} targets); test ${s.test.users} users (${s.test.targetEvents} targets)` +
      (repeats > 1 ? `; ${repeats} splits (seeds ${seed0}..${seed0 + repeats - 1})` : ''),
  );

  const outcomes: Outcome[][] = specs.map(() => []);
  const totalFits = repeats * specs.reduce((n, sp) => n + sp.grid.length, 0);
  const bar = createProgress({ label: `retrieval ${name}`, total: totalFits, unit: ' fits' });
  let fits = 0;
  for (let rep = 0; rep < repeats; rep++) {
    if (rep > 0) {
      ctx = makeCtx(seed0 + rep);
      specs = pick(modelSpecs(ctx));
    }
    const popularity = itemCounts(ctx.split.train, true);
    for (let q = 0; q < specs.length; q++) outcomes[q].push(await runSpec(specs[q], ctx, popularity, () => bar.update(++fits)));
  }
  bar.done();

  const rows: ReportRow[] = specs.map((spec, q) => {
    const o = outcomes[q];
    const m = (key: string) => avg(o.map((x) => x.metrics[key]));
    const row: ReportRow = {
      model: spec.model, loss: spec.loss, init: spec.init, tuning: spec.tuning,
      recall_at_20: m('recall@20'), recall_at_50: m('recall@50'), ndcg_at_100: m('ndcg@100'),
      fit_seconds: avg(o.map((x) => x.fitSeconds)),
      name: o[0].name,
      params: repeats > 1 ? o.map((x) => x.params) : o[0].params,
      validation_ndcg_at_100: avg(o.map((x) => x.validation)),
      coverage_at_100: m('coverage@100'),
      mean_popularity_at_20: m('popularity@20'),
    };
    if (repeats > 1) {
      row.recall_at_20_sd = sd(o.map((x) => x.metrics['recall@20']));
      row.recall_at_50_sd = sd(o.map((x) => x.metrics['recall@50']));
      row.ndcg_at_100_sd = sd(o.map((x) => x.metrics['ndcg@100']));
    }
    return row;
  });
  console.log('');
  console.log(formatTable(rows, {
    title: `${name} — strong generalization, ${heldout} test users${repeats > 1 ? `, mean of ${repeats} splits` : ''} ` +
      `(hyper-parameters chosen on ${heldout} validation users by NDCG@100)`,
  }));
  console.log('');
  for (let q = 0; q < specs.length; q++) {
    console.log(`  ${specs[q].model}: ${outcomes[q].map((o) => o.name).join(', ')}`);
  }
  return reportJson(name, rows, { protocol: 'strong-generalization', heldout_users: heldout, seed: seed0, repeats, stats: s });
}
