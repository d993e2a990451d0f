/**
 * The native kernels: loads native/build/Release/funnel_native.node (built by
 * scripts/build-native.mjs during `npm install`) and adapts it to the Kernels interface.
 * Loading never throws: `loadNative()` reports why the addon is unavailable instead.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Kernels } from './types.js';
import { firstOutOfRangeTs, withChecks } from './validate.js';

/** The addon's exports (positional arguments, as in native/src/addon.cc). */
export interface NativeAddon {
  sgemm: Kernels['sgemm'];
  csrmm: Kernels['csrmm'];
  mmcsr: Kernels['mmcsr'];
  dotRows: Kernels['dotRows'];
  axpyRows: Kernels['axpyRows'];
  embeddingBag(bags: number, d: number, indptr: Int32Array, indices: Int32Array, weights: Float32Array | null, table: Float32Array, mean: boolean, out: Float32Array): void;
  embeddingBagBackward(bags: number, d: number, indptr: Int32Array, indices: Int32Array, weights: Float32Array | null, gradOut: Float32Array, mean: boolean, gradTable: Float32Array): void;
  sampledScores: Kernels['sampledScores'];
  sampledScoresBackward: Kernels['sampledScoresBackward'];
  adamRows(n: number, d: number, rows: Int32Array | null, grad: Float32Array, param: Float32Array, m: Float32Array, v: Float32Array,
    lr: number, beta1: number, beta2: number, eps: number, step: number, weightDecay: number): void;
  topk: Kernels['topk'];
  bprPairs: Kernels['bprPairs'];
  /** Sets the thread budget (0: all hardware threads) and, if given, the work per extra thread. */
  firstOutOfRange(idx: Int32Array, from: number, to: number, limit: number): number;
  setThreads(n: number, grain?: number | null): number;
  getThreads(): number;
  getThreadGrain(): number;
  buildInfo(): NativeBuildInfo;
  /**
   * The IVF index's search (native/src/ivf.h): the nprobe lists of the best centroids scanned
   * by their 8-bit codes (more while fewer than minScan items were), the R best estimates
   * re-scored exactly from `rows`; returns how many
   * were written to outIds/outScores, best first. src/index/ivf.ts checks the shapes.
   */
  ivfSearch(query: Float32Array, dim: number, centroidCodes: Uint8Array, centroidBias: Float32Array, nlist: number, nprobe: number, start: Int32Array, len: Int32Array,
    codes: Uint8Array, codeBytes: number, slotBias: Float32Array, slotId: Int32Array, lo: Float32Array, step: Float32Array,
    rows: Float32Array, biases: Float32Array, R: number, minScan: number, outIds: Int32Array, outScores: Float32Array): number;
  /** HNSW graphs (native/src/hnsw.h; src/index/graph.ts types them). */
  HnswGraph: new (dim: number) => unknown;
  /**
   * The file's bytes mapped copy-on-write (shared with every process mapping the same file;
   * writes stay private; unmapped when collected); undefined where the platform has no mmap
   * or the file is empty. `populate`: every page mapped now rather than at its first read.
   * `huge`: the bytes read instead into private memory on transparent huge pages (see
   * setHugePageCopies), the mapping where that fails.
   */
  mapFile(path: string, populate?: boolean, huge?: boolean): ArrayBuffer | undefined;
  /** mapFile off the main thread (a thread of libuv's pool). */
  mapFileAsync(path: string, populate?: boolean, huge?: boolean): Promise<ArrayBuffer | undefined>;
}

let populate = false;

/**
 * From now on, artifact files mapped by this process (model arrays, HNSW graphs) get every page
 * mapped at load (MADV_POPULATE_READ) instead of one page fault per first touch on the request
 * path. Serving processes turn it on (src/server/serving-process.ts).
 */
export function setPopulateMappings(on: boolean): void {
  populate = on;
}

/** Whether mappings are populated at load (setPopulateMappings). */
export function populateMappings(): boolean {
  return populate;
}

let hugeCopies = false;

/**
 * From now on, the large artifact arrays this process loads (HNSW graphs' rows and links,
 * embedding tables, neighbour lists) are read into private memory that the kernel backs with
 * 2 MiB transparent huge pages, instead of being mapped from their files' 4 KiB page-cache
 * pages. A request reads a few thousand rows scattered over hundreds of MiB (an HNSW search,
 * the history's embeddings and neighbour lists): with 4 KiB pages nearly every such read also
 * misses the TLB, and in a virtual machine each miss walks two levels of page tables. The copy
 * is not shared with other processes (a mapping is) and cannot be evicted by the kernel's
 * page-cache reclaim, so serving processes use it when they serve alone
 * (src/server/serving-process.ts). Without transparent huge pages (THP "never", or no Linux)
 * this stays off: the copy would cost the sharing and gain nothing.
 */
export function setHugePageCopies(on: boolean): void {
  hugeCopies = on && transparentHugePages();
}

/** Whether artifact arrays are read onto huge pages (setHugePageCopies). */
export function hugePageCopies(): boolean {
  return hugeCopies;
}

/** Whether the kernel gives transparent huge pages to memory that asks (THP "always" or "madvise"). */
export function transparentHugePages(): boolean {
  try {
    const mode = readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8');
    return /\[(always|madvise)\]/.test(mode);
  } catch {
    return false;
  }
}

export interface NativeBuildInfo {
  simd: string;
  vectorWidth: number;
  tile: string;
  portable: boolean;
  fma: boolean;
  compiler?: string;
  hardwareThreads: number;
}

const REQUIRED: (keyof NativeAddon)[] = [
  'sgemm', 'csrmm', 'mmcsr', 'dotRows', 'axpyRows', 'embeddingBag', 'embeddingBagBackward',
  'sampledScores', 'sampledScoresBackward', 'adamRows', 'topk', 'bprPairs', 'firstOutOfRange', 'setThreads', 'getThreads', 'getThreadGrain', 'buildInfo', 'HnswGraph', 'mapFile', 'mapFileAsync', 'ivfSearch',
];

const ADDON_REL = join('native', 'build', 'Release', 'funnel_native.node');

/** The addon path: $FUNNEL_NATIVE_PATH, else native/build/Release/ in the nearest ancestor that has it. */
export function addonPath(): string {
  if (process.env.FUNNEL_NATIVE_PATH) return resolve(process.env.FUNNEL_NATIVE_PATH);
  let dir = dirname(fileURLToPath(import.meta.url));
  let first: string | null = null;
  for (let i = 0; i < 6; i++) {
    const p = join(dir, ADDON_REL);
    if (existsSync(p)) return p;
    if (first === null && existsSync(join(dir, 'package.json'))) first = p;
    const up = dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return first ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', ADDON_REL);
}

export type NativeLoad = { addon: NativeAddon; path: string; error: null } | { addon: null; path: string; error: string };

let once: NativeLoad | undefined;

/** The addon, loaded once per process (see loadNative). */
export function nativeAddon(): NativeLoad {
  return (once ??= loadNative());
}

export function loadNative(): NativeLoad {
  const path = addonPath();
  if (!existsSync(path)) return { addon: null, path, error: `${path} not found (not built: run 'node scripts/build-native.mjs')` };
  try {
    const addon = createRequire(import.meta.url)(path) as NativeAddon;
    const missing = REQUIRED.filter((f) => typeof addon[f] !== 'function');
    if (missing.length) return { addon: null, path, error: `addon is out of date (missing ${missing.join(', ')}): rebuild with 'node scripts/build-native.mjs'` };
    return { addon, path, error: null };
  } catch (err) {
    return { addon: null, path, error: `addon failed to load: ${(err as Error).message.split('\n')[0]}` };
  }
}

/** The Kernels interface over a loaded addon (no argument checks: wrap with withChecks). */
export function nativeRaw(addon: NativeAddon): Kernels {
  return {
    name: 'native',
    sgemm: addon.sgemm,
    csrmm: addon.csrmm,
    mmcsr: addon.mmcsr,
    dotRows: addon.dotRows,
    axpyRows: addon.axpyRows,
    embeddingBag(bags, d, indptr, indices, weights, table, mode, out) {
      addon.embeddingBag(bags, d, indptr, indices, weights, table, mode === 'mean', out);
    },
    embeddingBagBackward(bags, d, indptr, indices, weights, gradOut, mode, gradTable) {
      addon.embeddingBagBackward(bags, d, indptr, indices, weights, gradOut, mode === 'mean', gradTable);
    },
    sampledScores: addon.sampledScores,
    sampledScoresBackward: addon.sampledScoresBackward,
    adamRows(n, d, rows, grad, param, m, v, o) {
      addon.adamRows(n, d, rows, grad, param, m, v, o.lr, o.beta1 ?? 0.9, o.beta2 ?? 0.999, o.eps ?? 1e-8, o.step, o.weightDecay ?? 0);
    },
    topk: addon.topk,
    bprPairs: addon.bprPairs,
  };
}

/** The native kernels with argument checks (index ranges scanned in C++ for long arrays). */
export function nativeKernelsOf(addon: NativeAddon): Kernels {
  return withChecks(nativeRaw(addon), (idx, from, to, limit) =>
    to - from < 512 ? firstOutOfRangeTs(idx, from, to, limit) : addon.firstOutOfRange(idx, from, to, limit));
}

/** "-O3 -march=native (avx512+fma, tile 8x48, gcc 12.2.0)" from the addon's build info. */
export function describeBuild(info: NativeBuildInfo): string {
  const flags = info.portable ? '-O3 (portable, FUNNEL_PORTABLE=1)' : '-O3 -march=native';
  const parts = [info.simd + (info.fma ? '+fma' : ''), `tile ${info.tile}`];
  if (info.compiler) parts.push(info.compiler.split(' ').slice(0, 2).join(' '));
  return `${flags} (${parts.join(', ')})`;
}
