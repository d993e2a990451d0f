#!/usr/bin/env node
// Runs every test/**/*.test.ts file with node's test runner (TypeScript through tsx).
// Usage: node scripts/test.mjs [filter-substring ...]
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const filters = process.argv.slice(2);
function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}
const files = walk(join(root, 'test'), []).sort().filter((f) => filters.length === 0 || filters.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-timeout=180000', '--test-force-exit', ...files], {
  cwd: root,
  stdio: 'inherit',
  timeout: 14 * 60 * 1000, // a hung test must fail CI, never stall it
  killSignal: 'SIGKILL',
  env: { ...process.env, FUNNEL_QUIET: '1' },
});
process.exit(r.status ?? 1);
