import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import type { CliCommand } from '../main.js';
import { openStore, resolveDbPath } from '../../store/open.js';
import type { StoreCounts } from '../../store/types.js';

export function formatCounts(c: StoreCounts, path: string): string {
  const lines = [`store ${path}`, '', `  users   ${String(c.users).padStart(12)}   (${c.undeclaredUsers} only seen in events)`];
  lines.push(`  items   ${String(c.items).padStart(12)}   (${c.undeclaredItems} only seen in events, ${c.deletedItems} deleted)`);
  lines.push(`  events  ${String(c.events).padStart(12)}`);
  const types = Object.entries(c.eventsByType).sort((a, b) => b[1] - a[1]);
  for (const [t, n] of types) lines.push(`    ${t.padEnd(14)} ${String(n).padStart(10)}  ${((100 * n) / Math.max(1, c.events)).toFixed(1).padStart(5)}%`);
  return lines.join('\n');
}

export const command: CliCommand = {
  name: 'stats',
  summary: 'counts of users, items and events (per type) in the store',
  usage: `usage: funnel stats [--db PATH] [--json]

  --db PATH   the store (default: $FUNNEL_DB or ./funnel.db)
  --json      print JSON instead of a table`,
  async run(args) {
    const { values } = parseArgs({ args, options: { db: { type: 'string' }, json: { type: 'boolean' } }, strict: true });
    const path = resolveDbPath(values.db);
    if (!existsSync(path)) throw new Error(`${path}: no store here (import data first, or pass --db)`);
    const store = await openStore(path);
    try {
      const c = await store.counts();
      console.log(values.json ? JSON.stringify(c) : formatCounts(c, path));
    } finally {
      await store.close();
    }
    return 0;
  },
};
