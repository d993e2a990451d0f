/**
 * Benchmark dispatcher: `npm run bench -- NAME [options]`.
 * Loads bench/NAME.ts, which exports `run(args): Promise<BenchResult>`; the module prints its
 * own readable table, and this runner ends with one JSON line `{"bench":NAME,...}` that is also
 * appended (with date and commit) to bench/results/NAME.jsonl.
 */
import { appendFileSync, existsSync, mkdirSync, readdirSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { machinePortrait } from './machine.js';

export type BenchResult = Record<string, unknown>;

const here = join(fileURLToPath(import.meta.url), '..');
const [name, ...args] = process.argv.slice(2);
const available = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && f !== 'machine.ts' && !f.startsWith('_'))
  .map((f) => f.slice(0, -3));
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- NAME [options]\navailable: ${available.join(', ')}`);
  process.exit(2);
}
const mod = (await import(pathToFileURL(join(here, `${name}.ts`)).href)) as {
  run(args: string[]): Promise<BenchResult>;
};
// The machine's portrait before the run as well as after it: these machines change speed
// within minutes (the same code measured an integer loop of 0.7 and 1.8 ns an hour apart).
const machineStart = machinePortrait();
const result = await mod.run(args);
let commit = 'unknown';
try {
  commit = execSync('git rev-parse --short HEAD', { cwd: here, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  const dirty = execSync('git status --porcelain --untracked-files=no', { cwd: here, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  if (dirty) commit += '-dirty';
} catch {
  /* not a git checkout */
}
// Figures depend on the machine (memory latency above all): each record says which it was.
const machine = machinePortrait();
const drift = Math.max(machine.int_loop_ns / machineStart.int_loop_ns, machineStart.int_loop_ns / machine.int_loop_ns, machine.mem_latency_ns / machineStart.mem_latency_ns, machineStart.mem_latency_ns / machine.mem_latency_ns);
console.log(
  `machine: ${machine.cpu}, ${machine.cores} cores, memory latency ${machine.mem_latency_ns} ns, integer loop ${machine.int_loop_ns} ns/iteration ` +
    `(at the start: ${machineStart.mem_latency_ns} ns, ${machineStart.int_loop_ns} ns${drift > 1.25 ? '; the machine changed speed during the run: compare with care' : ''})`,
);
const line = { bench: name, ...result, machine, machine_start: machineStart };
const record = { ...line, date: new Date().toISOString(), commit, node: process.version };
const dir = join(here, 'results');
if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
appendFileSync(join(dir, `${name}.jsonl`), JSON.stringify(record) + '\n');
console.log(JSON.stringify(line));
