import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { availableParallelism, cpus } from 'node:os';
import type { CliCommand } from '../main.js';
import { kernelInfo, kernels, nativeKernels, tsKernels } from '../../math/kernels/index.js';
import type { KernelInfo } from '../../math/kernels/index.js';
import { hnswUnavailable } from '../../index/graph.js';

export interface DoctorReport {
  node: string;
  platform: string;
  arch: string;
  cpu: string;
  cores: number;
  funnel: string;
  kernels: KernelInfo & { selfTest: string };
  sqlite: { version: string | null; error?: string };
  /** Approximate item indexes, IVF and HNSW (both native): null when available, else why not. */
  hnsw: string | null;
}

/** A small sgemm through the active kernels, compared with the TypeScript twin. */
function selfTest(): string {
  try {
    const [m, n, k] = [13, 37, 71];
    const a = Float32Array.from({ length: m * k }, (_, i) => Math.sin(i));
    const b = Float32Array.from({ length: k * n }, (_, i) => Math.cos(i));
    const c = new Float32Array(m * n);
    const ref = new Float32Array(m * n);
    kernels.sgemm(false, true, m, n, k, 1, a, b, 0, c);
    tsKernels.sgemm(false, true, m, n, k, 1, a, b, 0, ref);
    let err = 0;
    let scale = 0;
    for (let i = 0; i < c.length; i++) {
      err = Math.max(err, Math.abs(c[i] - ref[i]));
      scale = Math.max(scale, Math.abs(ref[i]));
    }
    return err <= 1e-5 * scale ? 'ok' : `FAILED: sgemm differs from the TypeScript twin by ${err}`;
  } catch (err) {
    return `FAILED: ${(err as Error).message}`;
  }
}

function sqliteVersion(): DoctorReport['sqlite'] {
  try {
    const require = createRequire(import.meta.url);
    const Database = require('better-sqlite3') as new (path: string) => { prepare(sql: string): { pluck(): { get(): unknown } }; close(): void };
    const db = new Database(':memory:');
    try {
      return { version: String(db.prepare('select sqlite_version()').pluck().get()) };
    } finally {
      db.close();
    }
  } catch (err) {
    return { version: null, error: (err as Error).message.split('\n')[0] };
  }
}

export function doctorReport(): DoctorReport {
  const require = createRequire(import.meta.url);
  let version = 'unknown';
  try {
    version = (require('../../../package.json') as { version: string }).version;
  } catch {
    /* not in the package tree */
  }
  return {
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    cpu: cpus()[0]?.model?.trim() ?? 'unknown',
    cores: availableParallelism(),
    funnel: version,
    kernels: { ...kernelInfo(), selfTest: selfTest() },
    sqlite: sqliteVersion(),
    hnsw: hnswUnavailable(),
  };
}

export function formatReport(r: DoctorReport): string {
  const k = r.kernels;
  const lines = [
    'funnel doctor',
    '',
    `  funnel     ${r.funnel}`,
    `  node       ${r.node} (${r.platform} ${r.arch})`,
    `  cpu        ${r.cpu}, ${r.cores} core${r.cores === 1 ? '' : 's'} available`,
    `  kernels    ${k.active}: ${k.reason}`,
    `  native     ${k.nativeAvailable ? `available, built ${k.buildFlags}` : 'not available'}`,
    `             ${k.addonPath ?? ''}`,
    `  threads    ${k.active === 'native' ? `${k.threads} (set FUNNEL_THREADS or --threads to change)` : '1 (the TypeScript kernels are single-threaded)'}`,
    `  self-test  ${k.selfTest}`,
    `  sqlite     ${r.sqlite.version ?? `unavailable: ${r.sqlite.error}`}`,
    `  ann index  ${r.hnsw === null ? 'IVF and HNSW available (native addon)' : `unavailable: item indexes fall back to the exact scan (${r.hnsw})`}`,
  ];
  if (!k.nativeAvailable) lines.push('', "  To build the native kernels: node scripts/build-native.mjs (needs a C++ compiler, make and python3).");
  else if (k.active === 'ts') lines.push('', '  The native kernels are built but not in use (unset FUNNEL_KERNELS to use them).');
  return lines.join('\n');
}

export const command: CliCommand = {
  name: 'doctor',
  summary: 'check the installation: node, native kernels (active and why), sqlite',
  usage: `usage: funnel doctor [--json]

  Prints the Node version, which kernel implementation is active (native addon or the
  TypeScript twin) and why, how the addon was built, the thread count, a kernel self-test,
  the SQLite version and whether the approximate item indexes (IVF, HNSW) are available (they need the addon). Exit status 1 when something is broken.

  --json      print JSON instead of text

  Environment: FUNNEL_KERNELS=ts|native|auto, FUNNEL_THREADS=N, FUNNEL_PORTABLE=1 (at build).`,
  async run(args) {
    const { values } = parseArgs({ args, options: { json: { type: 'boolean' } }, strict: true });
    const report = doctorReport();
    console.log(values.json ? JSON.stringify(report, null, 2) : formatReport(report));
    const broken = report.kernels.selfTest !== 'ok' || report.sqlite.version === null || (report.kernels.active === 'native' && !nativeKernels);
    return broken ? 1 : 0;
  },
};
