/**
 * A one-second portrait of the machine a benchmark ran on, recorded with every result so that
 * figures from different machines can be told apart: memory latency (a dependent pointer chase
 * over 64 MiB, far beyond any cache), a cache-resident integer loop, and the CPU model.
 * Funnel's memory-bound paths (profiles, ANN search, SQLite) scale with the first figure.
 */
import { cpus, totalmem } from 'node:os';

function chase(next: Int32Array, steps: number): number {
  let x = 0;
  for (let i = 0; i < steps; i++) x = next[x];
  return x;
}

function intLoop(n: number): number {
  let s = 0;
  for (let i = 0; i < n; i++) s = (s + Math.imul(i, i)) | 0;
  return s;
}

export interface MachinePortrait {
  cpu: string;
  cores: number;
  mem_gb: number;
  /** ns per dependent random read over 64 MiB. */
  mem_latency_ns: number;
  /** ns per iteration of a register-only integer loop (a proxy for clock speed). */
  int_loop_ns: number;
}

export function machinePortrait(): MachinePortrait {
  const n = 1 << 24; // 64 MiB of Int32
  const next = new Int32Array(n);
  for (let i = 0; i < n; i++) next[i] = i;
  // Sattolo: one cycle through every element
  let r = 0x9e3779b9;
  for (let i = n - 1; i > 0; i--) {
    r ^= r << 13;
    r ^= r >>> 17;
    r ^= r << 5;
    const j = (r >>> 0) % i;
    const t = next[i];
    next[i] = next[j];
    next[j] = t;
  }
  for (let i = 0; i < 50; i++) chase(next, 1000);
  const steps = 2_000_000;
  let t = performance.now();
  const sink = chase(next, steps);
  const memNs = ((performance.now() - t) * 1e6) / steps;
  for (let i = 0; i < 50; i++) intLoop(100_000); // optimised as a whole function, not on-stack
  const loops = 200_000_000;
  t = performance.now();
  const sink2 = intLoop(loops);
  const intNs = ((performance.now() - t) * 1e6) / loops;
  if (sink === -1 && sink2 === 7) console.log('');
  const c = cpus();
  return {
    cpu: c[0]?.model ?? 'unknown',
    cores: c.length,
    mem_gb: Math.round(totalmem() / 2 ** 30),
    mem_latency_ns: +memNs.toFixed(1),
    int_loop_ns: +intNs.toFixed(2),
  };
}
