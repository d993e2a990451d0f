/**
 * The item index of an artifact: built from LED's item vectors and biases at training time,
 * loaded beside the model at serving time.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { kernels } from '../math/kernels/index.js';
import type { LedModel } from '../models/retrieval/led.js';
import type { ItemSearch } from '../serving/generators.js';

export interface BuiltIndex {
  kind: string;
  size: number;
}

/** Exact maximum-inner-product search over the model's known items (score = ⟨u, v⟩ + b). */
export class ExactLedSearch implements ItemSearch {
  private readonly scores: Float32Array;
  constructor(private readonly led: LedModel) {
    this.scores = new Float32Array(led.numItems);
  }

  search(query: Float32Array, k: number, filter: { exclude: Set<number>; allow?: (item: number) => boolean }) {
    const { vectors, biases, dim } = this.led.itemVectors();
    const n = this.led.numItems;
    const known = this.led.knownItems();
    const s = this.scores;
    kernels.sgemm(false, true, 1, n, dim, 1, query, vectors, 0, s);
    // Select with a heap over the allowed items only.
    const ids: number[] = [];
    const sc: number[] = [];
    const heapI = new Int32Array(k);
    const heapS = new Float32Array(k);
    let size = 0;
    const worse = (a: number, b: number) => heapS[a] < heapS[b] || (heapS[a] === heapS[b] && heapI[a] > heapI[b]);
    const swap = (a: number, b: number) => {
      const ti = heapI[a]; heapI[a] = heapI[b]; heapI[b] = ti;
      const ts = heapS[a]; heapS[a] = heapS[b]; heapS[b] = ts;
    };
    const down = (p: number) => {
      for (;;) {
        const l = 2 * p + 1;
        if (l >= size) return;
        let m = l;
        if (l + 1 < size && worse(l + 1, l)) m = l + 1;
        if (!worse(m, p)) return;
        swap(m, p);
        p = m;
      }
    };
    if (k > 0) {
      for (let i = 0; i < n; i++) {
        if (!known[i]) continue;
        const v = s[i] + (biases ? biases[i] : 0);
        if (size === k && (v < heapS[0] || (v === heapS[0] && i > heapI[0]))) continue;
        if (filter.exclude.has(i) || (filter.allow && !filter.allow(i))) continue;
        if (size < k) {
          heapI[size] = i;
          heapS[size] = v;
          let c = size++;
          while (c > 0) {
            const p = (c - 1) >> 1;
            if (!worse(c, p)) break;
            swap(c, p);
            c = p;
          }
        } else {
          heapI[0] = i;
          heapS[0] = v;
          down(0);
        }
      }
    }
    while (size > 0) {
      ids.push(heapI[0]);
      sc.push(heapS[0]);
      size--;
      heapI[0] = heapI[size];
      heapS[0] = heapS[size];
      down(0);
    }
    return { ids: Int32Array.from(ids.reverse()), scores: Float32Array.from(sc.reverse()) };
  }
}

export async function buildItemIndex(led: LedModel, dir: string): Promise<BuiltIndex> {
  mkdirSync(dir, { recursive: true });
  let size = 0;
  for (const k of led.knownItems()) size += k;
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ kind: 'exact', source: 'led', items: size }, null, 2));
  return { kind: 'exact', size };
}

export async function loadItemIndex(dir: string, led: LedModel): Promise<ItemSearch> {
  const path = join(dir, 'index.json');
  if (!existsSync(path)) throw new Error(`${dir}: no index.json`);
  const meta = JSON.parse(readFileSync(path, 'utf8')) as { kind: string };
  if (meta.kind !== 'exact') throw new Error(`${dir}: unknown index kind '${meta.kind}'`);
  return new ExactLedSearch(led);
}
