/**
 * The item index of an artifact: built from LED's item vectors and biases at training time,
 * loaded beside the model at serving time (src/index/).
 *
 * Kinds: 'exact' (an O(items) scan per request; nothing is written but index.json, the vectors
 * are LED's), 'ivf' (inverted lists of 8-bit codes over LED's vectors: centroids, codes and
 * list files; the float vectors are again LED's, so serving holds them once) and 'hnsw' (the
 * graph over LED's vectors, likewise). 'auto' picks IVF from `annMinItems` items on: on the
 * serve bench's catalogue it answers in about half the HNSW graph's time at a higher recall,
 * with a fifth of its memory, and builds in less than half the time (README, Architecture).
 * The kind is recorded in index.json and in the artifact manifest.
 */
import { mkdirSync } from 'node:fs';
import { ExactIndex } from '../index/exact.js';
import { HnswIndex } from '../index/hnsw.js';
import { IvfIndex, ivfUnavailable } from '../index/ivf.js';
import { readMeta, writeMeta } from '../index/io.js';
import type { IndexKind, VectorIndex } from '../index/types.js';
import type { LedModel } from '../models/retrieval/led.js';
import { DEFAULT_TRAINING, type ItemIndexConfig } from './config.js';

export type { ItemIndexConfig };

export interface BuiltIndex {
  kind: IndexKind;
  /** Items indexed. */
  size: number;
  seconds: number;
}

/** LED's item vectors and biases (zero biases for a model without them). */
function ledArrays(led: LedModel): { vectors: Float32Array; biases: Float32Array; dim: number } {
  const { vectors, biases, dim } = led.itemVectors();
  return { vectors, biases: biases ?? new Float32Array(led.numItems), dim };
}

/**
 * The kind 'auto' resolves to for a catalogue of `items` (exact without the native addon,
 * which holds the HNSW graphs: src/index/graph.ts).
 */
export function indexKindFor(cfg: ItemIndexConfig, items: number): IndexKind {
  return cfg.kind === 'auto' ? (items >= cfg.annMinItems && ivfUnavailable() === null ? 'ivf' : 'exact') : cfg.kind;
}

export async function buildItemIndex(
  led: LedModel,
  dir: string,
  cfg: ItemIndexConfig = DEFAULT_TRAINING.index,
  onProgress?: (done: number, total: number) => void,
): Promise<BuiltIndex> {
  const t0 = performance.now();
  mkdirSync(dir, { recursive: true });
  const known = led.knownItems();
  let size = 0;
  for (const k of known) size += k;
  const kind = indexKindFor(cfg, size);
  if (kind === 'exact') {
    writeMeta(dir, { kind: 'exact', format: 1, source: 'led', items: size });
  } else if (kind === 'ivf') {
    const { vectors, biases, dim } = ledArrays(led);
    const idx = IvfIndex.adopt(vectors, biases, dim, known, { ...(cfg.lists ? { lists: cfg.lists } : {}), ...(cfg.probe ? { probe: cfg.probe } : {}), onProgress });
    await idx.save(dir);
  } else {
    const { vectors, biases, dim } = ledArrays(led);
    // The bands build in parallel (the same graphs as one after the other).
    const idx = await HnswIndex.adoptAsync(vectors, biases, dim, known, { m: cfg.m, efConstruction: cfg.efConstruction, efSearch: cfg.efSearch, bands: cfg.bands, onProgress });
    await idx.save(dir);
  }
  return { kind, size, seconds: (performance.now() - t0) / 1000 };
}

/** Loads the index written by `buildItemIndex` over the (already loaded) LED model's vectors. */
export async function loadItemIndex(dir: string, led: LedModel, opts: { efSearch?: number; probe?: number } = {}): Promise<VectorIndex> {
  const meta = readMeta(dir);
  const { vectors, biases, dim } = ledArrays(led);
  const known = led.knownItems();
  switch (meta.kind) {
    case 'exact':
      // Written by buildItemIndex (source 'led'): the vectors are the model's.
      if (meta.source === 'led' || meta.source === undefined) return ExactIndex.adopt(vectors, biases, dim, known);
      return ExactIndex.load(dir);
    case 'hnsw':
      return HnswIndex.load(dir, { vectors, biases, present: known }, opts);
    case 'ivf':
      return IvfIndex.load(dir, { vectors, biases, present: known }, opts);
    default:
      throw new Error(`${dir}: unknown index kind '${meta.kind}' (expected exact, ivf or hnsw)`);
  }
}
