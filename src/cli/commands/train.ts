import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { CliCommand } from '../main.js';
import { openStore, resolveDbPath } from '../../store/open.js';
import { loadConfigFile } from '../../train/config.js';
import { train } from '../../train/train.js';
import { intOption } from '../args.js';
import { progressEnabled } from '../../util/progress.js';

export const command: CliCommand = {
  name: 'train',
  summary: 'train the retrieval models and write a versioned artifact that `funnel serve` picks up',
  usage: `usage: funnel train [--db PATH] [--models DIR] [--config FILE] [--seed N] [--json]

  --db PATH       the store (default: $FUNNEL_DB or ./funnel.db)
  --models DIR    folder of versioned artifacts (default: ./models)
  --config FILE   scene configuration: "training" and "scenes" sections (default: built-in defaults)
  --seed N        random seed (default 1)
  --json          print the manifest as JSON

Trains LED (checkpoint chosen on held-out users), item-kNN and popularity, builds the item
index, and writes models/<version>/ with a manifest (version, data snapshot, offline metrics).
A running 'funnel serve' loads it without dropping a request.`,
  async run(args) {
    const { values } = parseArgs({
      args,
      options: { db: { type: 'string' }, models: { type: 'string' }, config: { type: 'string' }, seed: { type: 'string' }, json: { type: 'boolean' } },
      strict: true,
    });
    const db = resolveDbPath(values.db);
    if (!existsSync(db)) throw new Error(`${db}: no store here (import data first, or pass --db)`);
    const config = loadConfigFile(values.config);
    const store = await openStore(db);
    const quiet = values.json || !progressEnabled();
    try {
      const r = await train(store, {
        modelsDir: resolve(values.models ?? 'models'),
        config,
        seed: intOption(values.seed, 'seed', 1),
        log: quiet ? () => {} : (line) => console.error(line),
      });
      if (values.json) console.log(JSON.stringify(r.manifest));
      else {
        console.log(`artifact ${r.manifest.version} in ${r.dir}`);
        for (const [model, m] of Object.entries(r.manifest.metrics)) {
          if (m && typeof m === 'object' && 'recall_at_20' in m) {
            const x = m as Record<string, number>;
            console.log(`  ${model.padEnd(12)} recall@20 ${x.recall_at_20.toFixed(4)}  recall@50 ${x.recall_at_50.toFixed(4)}  ndcg@100 ${x.ndcg_at_100.toFixed(4)}  (held-out users)`);
          }
        }
      }
    } finally {
      await store.close();
    }
    return 0;
  },
};
