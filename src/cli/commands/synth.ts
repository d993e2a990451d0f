import { parseArgs } from 'node:util';
import type { CliCommand } from '../main.js';
import { floatOption, intOption } from '../args.js';
import { createProgress, fmtDuration } from '../../util/progress.js';
import { resolveSynthOptions, writeSynth, type SynthFormat, type SynthInput } from '../../data/synth.js';

function parseStart(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  const t = Number.isFinite(n) && /^\d+$/.test(v) ? n : Date.parse(v);
  if (!Number.isFinite(t)) throw new Error(`--start expects an ISO date or epoch ms, got '${v}'`);
  return t;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

export const command: CliCommand = {
  name: 'synth',
  summary: 'generate a seeded synthetic data set (users, items, events, ground truth)',
  usage: `usage: funnel synth --out DIR [options]

Writes users, items and events (CSV or JSON Lines, the columns the 'funnel' import preset
reads) and the ground truth (truth.json, item_factors.f32, ...) into DIR. The same options
and seed give the same bytes. Import with: funnel import --preset funnel --dir DIR

  --out DIR            output folder (created if needed)
  --users N            users (default 1000)
  --items N            items (default 2000)
  --events N           target number of events, ±a few % (default 50000)
  --seed S             random seed (default 1)
  --days D             span of the events in days (default 30)
  --start DATE         start of the span, ISO date or epoch ms (default 2024-01-01)
  --categories N       categories (default √items / 2, 4..1000)
  --impressions N      items shown per request (default 10)
  --format csv|jsonl   file format (default csv)
  --quiet              no summary`,
  async run(args) {
    const { values } = parseArgs({
      args,
      options: {
        out: { type: 'string' },
        users: { type: 'string' },
        items: { type: 'string' },
        events: { type: 'string' },
        seed: { type: 'string' },
        days: { type: 'string' },
        start: { type: 'string' },
        categories: { type: 'string' },
        impressions: { type: 'string' },
        format: { type: 'string' },
        quiet: { type: 'boolean' },
      },
      strict: true,
    });
    if (!values.out) throw new Error('--out DIR is required');
    const format = (values.format ?? 'csv') as SynthFormat;
    if (format !== 'csv' && format !== 'jsonl') throw new Error(`--format expects csv or jsonl, got '${values.format}'`);
    const input: SynthInput = {};
    if (values.users !== undefined) input.users = intOption(values.users, 'users', 1000);
    if (values.items !== undefined) input.items = intOption(values.items, 'items', 2000);
    if (values.events !== undefined) input.events = intOption(values.events, 'events', 50_000);
    if (values.seed !== undefined) input.seed = intOption(values.seed, 'seed', 1);
    if (values.days !== undefined) input.days = floatOption(values.days, 'days', 30);
    if (values.categories !== undefined) input.categories = intOption(values.categories, 'categories', 0);
    if (values.impressions !== undefined) input.impressionsPerRequest = intOption(values.impressions, 'impressions', 10);
    const start = parseStart(values.start);
    if (start !== undefined) input.start = start;
    const opts = resolveSynthOptions(input);

    const progress = createProgress({ label: 'synth', total: opts.users + opts.items + opts.events, unit: ' rows' });
    const r = await writeSynth(values.out, opts, { format, progress });
    progress.done();
    if (!values.quiet) {
      const lines = [
        `synth: wrote ${r.dir} (${format}, seed ${opts.seed}) in ${r.seconds < 60 ? r.seconds.toFixed(1) + 's' : fmtDuration(r.seconds)}, ${(r.bytes / 1e6).toFixed(1)} MB`,
        `  users   ${fmt(r.users).padStart(14)}`,
        `  items   ${fmt(r.items).padStart(14)}`,
        `  events  ${fmt(r.events).padStart(14)}   ${fmt(r.eventsPerSecond)} events/s`,
      ];
      const types = Object.entries(r.eventsByType).sort((a, b) => b[1] - a[1]);
      for (const [t, n] of types) lines.push(`    ${t.padEnd(12)} ${fmt(n).padStart(12)}  ${((100 * n) / Math.max(1, r.events)).toFixed(2).padStart(6)}%`);
      if (r.files.truth) lines.push(`  truth   ${r.files.truth}`);
      lines.push('', `import with: funnel import --preset funnel --dir ${r.dir}`);
      console.log(lines.join('\n'));
    }
    return 0;
  },
};
