import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import type { CliCommand } from '../main.js';
import { openStore, resolveDbPath } from '../../store/open.js';
import { floatOption, intOption } from '../args.js';
import { compareModels, MODEL_IDS, type Protocol } from '../../eval/compare.js';
import { loadMovieLens, MOVIELENS_NAMES, type MovieLensName } from '../../eval/datasets.js';
import { formatTable } from '../../eval/report.js';
import { timelinesFromStore, type Timelines } from '../../models/retrieval/types.js';
import { createProgress, progressEnabled } from '../../util/progress.js';

export const command: CliCommand = {
  name: 'evaluate',
  summary: 'offline comparison of retrieval models on a held-out split (Table 2 of the LED paper)',
  usage: `usage: funnel evaluate [--db PATH | --dataset NAME] [--protocol strong|temporal|loo]
                      [--models LIST] [--metrics LIST] [--heldout N] [--last-n N]
                      [--types LIST] [--value-above X] [--dim D] [--epochs N] [--seed N] [--json]

  --db PATH         the store to read events from (default: $FUNNEL_DB or ./funnel.db)
  --dataset NAME    a MovieLens set from ../shared/datasets instead (${MOVIELENS_NAMES.join(', ')})
  --protocol P      strong (default): Mult-VAE strong generalization — held-out users, 80/20
                    fold-in of each; temporal: each user's last --last-n events held out;
                    loo: leave-one-out with 100 sampled negatives (older papers only)
  --models LIST     comma-separated, from: ${MODEL_IDS.join(', ')}
                    (default pop,knn,ease,led; ease is skipped above 50K items)
  --metrics LIST    e.g. recall@20,ndcg@100,map@10,hit@10,mrr,auc,click_rank,coverage@100
  --heldout N       validation and test users each (strong, default 100)
  --types LIST      event types read from the store (default: all)
  --value-above X   keep events whose value is > X (default 3.5 when the data has values)
  --dim D, --epochs N   LED/RSVD embedding size (default 64) and LED's epoch budget (50)
  --json            print JSON instead of the table`,
  async run(args) {
    const { values } = parseArgs({
      args,
      options: {
        db: { type: 'string' }, dataset: { type: 'string' }, protocol: { type: 'string' }, models: { type: 'string' },
        metrics: { type: 'string' }, heldout: { type: 'string' }, 'last-n': { type: 'string' }, types: { type: 'string' },
        'value-above': { type: 'string' }, dim: { type: 'string' }, epochs: { type: 'string' }, seed: { type: 'string' },
        json: { type: 'boolean' },
      },
      strict: true,
    });
    const list = (s: string | undefined) => (s === undefined ? undefined : s.split(',').map((x) => x.trim()).filter(Boolean));
    const protocol = (values.protocol ?? 'strong') as Protocol;
    if (!['strong', 'temporal', 'loo'].includes(protocol)) throw new Error(`--protocol: expected strong, temporal or loo, got '${protocol}'`);
    let data: Timelines;
    let source: string;
    if (values.dataset !== undefined) {
      if (values.db !== undefined) throw new Error('give --db or --dataset, not both');
      if (!(MOVIELENS_NAMES as readonly string[]).includes(values.dataset)) throw new Error(`--dataset: expected one of ${MOVIELENS_NAMES.join(', ')}, got '${values.dataset}'`);
      data = (await loadMovieLens(values.dataset as MovieLensName)).timelines;
      source = values.dataset;
    } else {
      const path = resolveDbPath(values.db);
      if (!existsSync(path)) throw new Error(`${path}: no store here (import data first, or pass --db or --dataset)`);
      const store = await openStore(path);
      try {
        data = await timelinesFromStore(store, { types: list(values.types) });
      } finally {
        await store.close();
      }
      source = path;
    }
    const quiet = values.json || !progressEnabled();
    const result = await compareModels(data, {
      protocol,
      models: list(values.models),
      metrics: list(values.metrics),
      heldOutUsers: values.heldout === undefined ? undefined : intOption(values.heldout, 'heldout', 100),
      lastN: intOption(values['last-n'], 'last-n', 1),
      ...(values['value-above'] !== undefined ? { valueAbove: floatOption(values['value-above'], 'value-above', 3.5) } : {}),
      dim: intOption(values.dim, 'dim', 64),
      epochs: intOption(values.epochs, 'epochs', 50),
      seed: intOption(values.seed, 'seed', 1),
      onModel: quiet ? undefined : (id, i, n) => console.error(`[${i + 1}/${n}] fitting ${id}`),
      progress: quiet ? undefined : (id) => createProgress({ label: id, unit: '' }),
    });
    if (values.json) {
      console.log(JSON.stringify({ source, protocol: result.protocol, split: result.split, models: result.rows, skipped: result.skipped }));
    } else {
      const s = result.split;
      console.log(`${source}: ${result.protocol}; train ${s.train.users} users × ${s.train.items} items (${s.train.events} events), ` +
        `validation ${s.validation.users} users, test ${s.test.users} users (${s.test.targetEvents} target events)`);
      console.log(formatTable(result.rows));
      for (const k of result.skipped) console.log(`skipped ${k.model}: ${k.reason}`);
    }
    return 0;
  },
};
