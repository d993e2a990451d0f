/**
 * The active kernel implementation. `kernels` forwards to the native addon when it loads and
 * to the TypeScript twin otherwise; FUNNEL_KERNELS=ts|native forces one (native when it did not
 * load makes every kernel call throw, saying why). `selectKernels()` switches at run time,
 * `setThreads()` sets the native thread count (default: $FUNNEL_THREADS, else every available
 * core), and `kernelInfo()` says what is active and why (`funnel doctor` prints it).
 */
import { availableParallelism } from 'node:os';
import type { KernelInfo, Kernels } from './types.js';
import { tsKernels } from './ts.js';
import { describeBuild, nativeAddon, nativeKernelsOf } from './native.js';

export type { AdamOptions, KernelInfo, Kernels } from './types.js';
export { tsKernels } from './ts.js';

const loaded = nativeAddon();

/** The native kernels (with argument checks), or null when the addon did not load. */
export const nativeKernels: Kernels | null = loaded.addon ? nativeKernelsOf(loaded.addon) : null;

let active: Kernels | null = tsKernels;
let reason = '';
let choice: 'ts' | 'native' = 'ts';

/**
 * Make `kernels` use the given implementation ('auto': native if it loaded). Returns the one
 * chosen. Choosing 'native' when the addon did not load throws.
 */
export function selectKernels(which: 'ts' | 'native' | 'auto', why?: string): 'ts' | 'native' {
  if (which === 'native' && !nativeKernels) throw new Error(`native kernels unavailable: ${loaded.error}`);
  const useNative = which === 'native' || (which === 'auto' && nativeKernels !== null);
  active = useNative ? nativeKernels : tsKernels;
  choice = useNative ? 'native' : 'ts';
  if (why) reason = why;
  else if (which === 'auto') reason = useNative ? 'native addon loaded' : `native addon unavailable (${loaded.error}); using the TypeScript twin`;
  else reason = `selected at run time (${which})`;
  return choice;
}

function initialSelection(): void {
  const env = (process.env.FUNNEL_KERNELS ?? '').trim().toLowerCase();
  if (env === 'ts') selectKernels('ts', 'forced by FUNNEL_KERNELS=ts');
  else if (env === 'native') {
    if (nativeKernels) selectKernels('native', 'forced by FUNNEL_KERNELS=native');
    else {
      active = null;
      choice = 'native';
      reason = `FUNNEL_KERNELS=native but the native addon is unavailable: ${loaded.error}`;
    }
  } else {
    selectKernels('auto');
    if (env !== '' && env !== 'auto') reason += ` (FUNNEL_KERNELS=${env} not understood: use ts, native or auto)`;
  }
}
initialSelection();

const defaultThreads = (() => {
  const env = Number(process.env.FUNNEL_THREADS);
  return Number.isInteger(env) && env > 0 ? env : availableParallelism();
})();
if (loaded.addon) loaded.addon.setThreads(defaultThreads);

/**
 * Threads the native kernels may use (the TypeScript twin is single-threaded). n = 0 restores
 * the default. `grainNs` (default 30 000) is the estimated single-thread time, in ns, a call
 * needs per extra thread, so that short calls stay on one thread; 0 splits every call (tests).
 * Returns the thread count now in effect.
 */
export function setThreads(n: number, grainNs?: number): number {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`setThreads: expected a non-negative integer, got ${n}`);
  if (grainNs !== undefined && !(grainNs >= 0)) throw new RangeError(`setThreads: grainNs must be >= 0, got ${grainNs}`);
  return loaded.addon ? loaded.addon.setThreads(n === 0 ? defaultThreads : n, grainNs ?? null) : 1;
}

/** The current grainNs of the native kernels (see setThreads); 0 without the addon. */
export function getThreadGrain(): number {
  return loaded.addon ? loaded.addon.getThreadGrain() : 0;
}

/** Threads the native kernels use now (1 without the addon). */
export function getThreads(): number {
  return loaded.addon ? loaded.addon.getThreads() : 1;
}

export function kernelInfo(): KernelInfo {
  return {
    active: choice,
    nativeAvailable: nativeKernels !== null,
    reason,
    threads: choice === 'native' ? getThreads() : 1,
    buildFlags: loaded.addon ? describeBuild(loaded.addon.buildInfo()) : null,
    addonPath: loaded.path,
  };
}

function current(): Kernels {
  if (active) return active;
  throw new Error(reason);
}

/** The active kernel implementation (forwards each call; see selectKernels). */
export const kernels: Kernels = {
  get name() {
    return choice;
  },
  sgemm: (...a) => current().sgemm(...a),
  csrmm: (...a) => current().csrmm(...a),
  mmcsr: (...a) => current().mmcsr(...a),
  dotRows: (...a) => current().dotRows(...a),
  axpyRows: (...a) => current().axpyRows(...a),
  embeddingBag: (...a) => current().embeddingBag(...a),
  embeddingBagBackward: (...a) => current().embeddingBagBackward(...a),
  sampledScores: (...a) => current().sampledScores(...a),
  sampledScoresBackward: (...a) => current().sampledScoresBackward(...a),
  adamRows: (...a) => current().adamRows(...a),
  topk: (...a) => current().topk(...a),
  bprPairs: (...a) => current().bprPairs(...a),
};

/**
 * Top-k of one score vector, skipping `exclude` (e.g. items already seen): indices and scores,
 * best first, at most k (fewer when fewer indices are eligible).
 */
export function topkOf(scores: Float32Array, k: number, exclude?: Int32Array | null): { indices: Int32Array; scores: Float32Array } {
  const outIdx = new Int32Array(k);
  const outScores = new Float32Array(k);
  const ex = exclude && exclude.length ? exclude : null;
  kernels.topk(1, scores.length, scores, k, ex ? Int32Array.of(0, ex.length) : null, ex, outIdx, outScores);
  let found = 0;
  while (found < k && outIdx[found] >= 0) found++;
  return { indices: outIdx.subarray(0, found), scores: outScores.subarray(0, found) };
}
