/** Small fixtures for the ranking tests: a synthetic log with its catalog, and hand-made logs. */
import { buildSynthWorld, synthEventBatches, synthItems, type SynthInput } from '../../src/data/synth.js';
import { ColumnarCatalog } from '../../src/funnel/catalog.js';
import type { Provenance } from '../../src/funnel/types.js';
import { MemoryProfileStore } from '../../src/profiles/memory.js';
import { FeatureExtractor, FeatureSpace, type CandidateInfo, type FeatureConfig, type RequestInfo } from '../../src/rank/features.js';
import { LoggedEventsBuilder, loggedEventsFromSynth, timeOrder, type ImpressionRequest, type LoggedEvents, type SampleSet } from '../../src/rank/samples.js';
import type { SparseRows } from '../../src/rank/types.js';
import { seededUniform } from '../../src/math/rng.js';

export const T0 = Date.UTC(2026, 0, 5, 10, 0, 0);

export function synthFixture(input: SynthInput = {}) {
  const world = buildSynthWorld({ users: 200, items: 300, events: 20_000, seed: 2, days: 10, ...input });
  const events = loggedEventsFromSynth(synthEventBatches(world));
  const catalog = ColumnarCatalog.fromItems([...synthItems(world)]);
  return { world, events, catalog };
}

/** A fresh profile store with the space's item keys, and an extractor over it. */
export function freshExtractor(space: FeatureSpace): FeatureExtractor {
  const p = new MemoryProfileStore({ recentSize: 200 });
  const k = space.profileKeys();
  p.setItemKeys(k.items, k.keys);
  return new FeatureExtractor(space, p);
}

/**
 * The serving process's state: the events strictly before `before` (default: all) replayed in
 * time order into a fresh extractor.
 */
export function servingExtractor(sp: FeatureSpace, ev: LoggedEvents, before = Infinity): FeatureExtractor {
  const ex = freshExtractor(sp);
  const sel = Array.from(timeOrder(ev)).filter((j) => ev.timestamp[j] < before);
  ex.profiles.recordBatch({
    length: sel.length,
    userIdx: Int32Array.from(sel, (j) => ev.user[j]),
    itemIdx: Int32Array.from(sel, (j) => ev.item[j]),
    type: Uint16Array.from(sel, (j) => ev.type[j]),
    timestamp: Float64Array.from(sel, (j) => ev.timestamp[j]),
    typeNames: new Map(ev.typeNames.map((n, c) => [c, n])),
  });
  return ex;
}

/**
 * Impression group g of `samples` as the server saw it: its rows, an extractor over the events
 * before it, the request (user, time, scene, device) and the candidates with `fakeProvenance`.
 */
export function servedGroup(sp: FeatureSpace, events: LoggedEvents, samples: SampleSet, g: number) {
  const rows: number[] = [];
  for (let s = 0; s < samples.size; s++) if (samples.group[s] === g) rows.push(s);
  const t = samples.groupTime[g];
  const j0 = samples.event[rows[0]];
  const ex = servingExtractor(sp, events, t);
  const info: RequestInfo = {
    user: samples.groupUser[g],
    now: t,
    ...(events.scene[j0] >= 0 ? { scene: events.sceneNames[events.scene[j0]] } : {}),
    ...(events.device[j0] >= 0 ? { device: events.deviceNames[events.device[j0]] } : {}),
  };
  const cands: CandidateInfo[] = rows.map((s) => {
    const src = fakeProvenance({ user: info.user, now: t, items: Int32Array.of(samples.item[s]), events: Int32Array.of(0) })[0];
    return { item: samples.item[s], position: samples.position[s], ...(src ? { sources: src } : {}) };
  });
  return { rows, ex, info, cands };
}

/** Deterministic fake provenance: generator 'a' proposes items divisible by 2, 'b' by 3. */
export function fakeProvenance(req: ImpressionRequest): (Provenance[] | undefined)[] {
  return Array.from(req.items, (it) => {
    const out: Provenance[] = [];
    if (it % 2 === 0) out.push({ generator: 'a', rank: it % 50, score: 1 / (1 + (it % 7)) });
    if (it % 3 === 0) out.push({ generator: 'b', rank: it % 20, score: (it % 11) * 0.25 });
    return out.length ? out : undefined;
  });
}

export function space(catalog: ColumnarCatalog, cfg: Partial<FeatureConfig> = {}): FeatureSpace {
  return new FeatureSpace({ generators: ['a', 'b'], ...cfg }, catalog);
}

/** A small hand-made catalog: 12 items over categories c0..c3, prices and creation times. */
export function smallCatalog(): ColumnarCatalog {
  return ColumnarCatalog.fromItems(
    Array.from({ length: 12 }, (_, i) => ({ id: `i${i}`, categories: [`c${i % 4}`], price: 5 + i, createdAt: T0 - (i + 1) * 86_400_000 })),
  );
}

export type Ev = { u: number; i: number; type: string; t: number; req?: string; pos?: number; scene?: string; device?: string };

export function log(events: Ev[]): LoggedEvents {
  const b = new LoggedEventsBuilder();
  for (const e of events) {
    b.add({
      user: e.u, item: e.i, type: e.type, timestamp: e.t,
      ...(e.req ? { requestId: e.req } : {}),
      ...(e.pos !== undefined ? { position: e.pos } : {}),
      ...(e.scene ? { scene: e.scene } : {}),
      ...(e.device ? { device: e.device } : {}),
    });
  }
  return b.build();
}

/** Row r of sparse rows as [index, value, field] triples, in order. */
export function rowOf(x: SparseRows, r: number): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (let e = x.indptr[r]; e < x.indptr[r + 1]; e++) out.push([x.indices[e], x.values[e], x.fields ? x.fields[e] : -1]);
  return out;
}

/** A seeded uniform generator. */
export const rng = seededUniform;
