/**
 * Re-ranking rules, declared per scene as JSON and applied in order (the whitepaper's
 * de-duplication, filtering, diversification and boosting; the primer's freshness and fairness).
 *
 *   buildRules([
 *     { "rule": "dedup" },
 *     { "rule": "filter_unavailable" },
 *     { "rule": "filter_purchased", "types": ["purchase"] },
 *     { "rule": "diversity", "maxPerCategory": 2, "topK": 10 },
 *     { "rule": "freshness", "halfLifeHours": 72 },
 *     { "rule": "pin", "items": [{ "id": "promo-1", "position": 0 }] }
 *   ], { catalog })
 *
 * Rules (each also takes an optional "name", used in traces):
 *  - dedup            { by?: "item" | attribute, keep?: 1 } — repeated items; or more than `keep`
 *                     items sharing the (first) value of a grouping attribute. Items without a
 *                     value are kept.
 *  - filter_unavailable { unknown?: "keep" | "remove" } — items marked unavailable (items the
 *                     catalog does not know are kept unless unknown = "remove").
 *  - filter_purchased { types?: ["purchase"] } — items in the request history with one of these
 *                     types (needs `RequestContext.historyTypes`; without it nothing is removed).
 *  - filter_rating    { min, attribute?: "rating", keepUnrated?: true } — numeric attribute < min.
 *  - filter           { keep: Predicate } or { remove: Predicate }.
 *  - diversity        { by?: "categories", maxPerCategory, topK?: k } — at most n items per value
 *                     in the top K (an item counts for each of its values); items over the cap
 *                     are deferred right after the top K, in order. Best effort: when the list
 *                     cannot fill K slots under the cap, deferred items fill them.
 *  - mmr              { lambda, topK?: k, similarity?: "cosine" | "dot" } — maximal marginal
 *                     relevance over catalog embeddings: picks argmax λ·rel − (1−λ)·max sim to
 *                     the picked ones, rel = score min-max normalized over the list. O(n·K·dim).
 *  - boost            { where: Predicate, factor?: 1, add?: 0 } — score·factor + add, re-sorted.
 *  - bury             { where: Predicate } — matching items moved to the end, in order.
 *  - pin              { items: [{ id | item, position }], inject?: true } — fixed positions
 *                     (0-based); items absent from the list are injected unless excluded by the
 *                     request or unavailable. Declare pins last: later sorting rules move them.
 *  - freshness        { halfLifeHours, floor?: 0, unknownAge?: "neutral" | "oldest" } — score ×
 *                     (floor + (1−floor)·2^(−age/halfLife)), age from `createdAt` at ctx.now;
 *                     negative scores are divided instead, so a staler item never gains.
 *                     Unknown ages: factor 1 ("neutral") or `floor` ("oldest").
 *  - fairness         { by, minShare: number | { value: share }, topK?: k } — each value of `by`
 *                     present in the list (or each value listed) gets at least ⌈share·K⌉ of the
 *                     top K when it has that many items; when the shares cannot all be met,
 *                     values are served in the order of their best item. The top K keeps the
 *                     list order. O(n + K²).
 * Predicate: { attr, op, value? } with op eq | ne | in | nin | lt | lte | gt | gte | exists |
 * missing, or { all: [...] }, { any: [...] }, { not: ... }. `attr`: a catalog column, "id",
 * "item" (index) or "age_days". Categorical columns: eq/in = has the value / one of them.
 *
 * Debug: when ctx.debug, every rule appends to `item.trace` what it did to that item (score
 * before → after, rank before → after when its order among the surviving items changed,
 * insertion, removal) and records the same in a per-request collector read with
 * `ruleEffects(ctx)`: the removed items are there (they are no longer in the list).
 * Costs: O(n) or O(n log n) per rule for n candidates; MMR O(n·K·dim); fairness O(n + K²).
 */
import type { ItemCatalog, CategoricalColumn, NumericColumn } from './catalog.js';
import { passesFilters, type RequestContext, type RerankRule, type ScoredItem } from './types.js';

export interface RuleDeps {
  /** Item metadata; needed by rules that read attributes, availability, age or embeddings. */
  catalog?: ItemCatalog;
}

/** A declaration that cannot be built; `rule` and `field` name the culprit. */
export class RuleConfigError extends Error {
  constructor(
    readonly rule: string,
    readonly field: string | undefined,
    message: string,
  ) {
    super(message);
    this.name = 'RuleConfigError';
  }
}

export interface RemovedItem {
  item: number;
  score: number;
  /** Rank in the list the rule received (0-based). */
  rank: number;
  rule: string;
  reason: string;
}

export interface RuleEffect {
  rule: string;
  item: number;
  kind: 'removed' | 'moved' | 'rescored' | 'inserted';
  from?: number;
  to?: number;
  scoreBefore?: number;
  scoreAfter?: number;
  reason?: string;
}

/** What the rules did during one request (debug only). */
export interface RuleEffects {
  removed: RemovedItem[];
  effects: RuleEffect[];
}

const EFFECTS = new WeakMap<RequestContext, RuleEffects>();

/** The effects recorded for a request in debug mode (undefined when none was recorded). */
export function ruleEffects(ctx: RequestContext): RuleEffects | undefined {
  return EFFECTS.get(ctx);
}

function effectsOf(ctx: RequestContext): RuleEffects {
  let e = EFFECTS.get(ctx);
  if (!e) {
    e = { removed: [], effects: [] };
    EFFECTS.set(ctx, e);
  }
  return e;
}

const fmt = (x: number) => (Number.isFinite(x) ? x.toPrecision(6) : String(x));

function note(x: ScoredItem, line: string): void {
  (x.trace ??= []).push(line);
}

/** Reasons a rule gives for what it did to items (debug only). */
type Notes = Map<ScoredItem, string> | null;

/** Base of every rule: runs it, and in debug mode diffs before/after into traces and effects. */
abstract class TracedRule implements RerankRule {
  constructor(readonly name: string) {}

  apply(ctx: RequestContext, list: ScoredItem[]): ScoredItem[] {
    if (!ctx.debug) return this.run(ctx, list, null);
    const before = list.slice();
    const scores = before.map((x) => x.score);
    const notes = new Map<ScoredItem, string>();
    const out = this.run(ctx, list, notes);
    this.record(ctx, before, scores, out, notes);
    return out;
  }

  protected abstract run(ctx: RequestContext, list: ScoredItem[], notes: Notes): ScoredItem[];

  private record(ctx: RequestContext, before: ScoredItem[], scores: number[], out: ScoredItem[], notes: Map<ScoredItem, string>): void {
    const eff = effectsOf(ctx);
    const name = this.name;
    const pos = new Map<ScoredItem, number>();
    before.forEach((x, i) => pos.set(x, i));
    const kept = new Set(out);
    const rel = new Map<ScoredItem, number>();
    let r = 0;
    before.forEach((x, i) => {
      if (kept.has(x)) {
        rel.set(x, r++);
        return;
      }
      const reason = notes.get(x) ?? 'removed';
      note(x, `${name}: removed from rank ${i} (${reason})`);
      eff.removed.push({ item: x.item, score: x.score, rank: i, rule: name, reason });
      eff.effects.push({ rule: name, item: x.item, kind: 'removed', from: i, reason });
    });
    let r2 = 0;
    out.forEach((x, j) => {
      const from = pos.get(x);
      const reason = notes.get(x);
      const why = reason ? ` (${reason})` : '';
      if (from === undefined) {
        note(x, `${name}: inserted at rank ${j}${why}`);
        eff.effects.push({ rule: name, item: x.item, kind: 'inserted', to: j, reason });
        return;
      }
      const sb = scores[from];
      if (!Object.is(sb, x.score)) {
        note(x, `${name}: score ${fmt(sb)} → ${fmt(x.score)}${why}`);
        eff.effects.push({ rule: name, item: x.item, kind: 'rescored', scoreBefore: sb, scoreAfter: x.score, reason });
      }
      if (rel.get(x) !== r2) {
        note(x, `${name}: rank ${from} → ${j}${reason && Object.is(sb, x.score) ? why : ''}`);
        eff.effects.push({ rule: name, item: x.item, kind: 'moved', from, to: j, reason });
      }
      r2++;
    });
  }
}

/** Descending by score, NaN last; stable (ties keep their order). */
function sortByScore(list: ScoredItem[]): ScoredItem[] {
  const key = (x: ScoredItem) => (Number.isNaN(x.score) ? -Infinity : x.score);
  return list.sort((a, b) => {
    const d = key(b) - key(a);
    return d > 0 ? 1 : d < 0 ? -1 : 0;
  });
}

// ------------------------------------------------------------------------------ declarations

type Obj = Record<string, unknown>;

function isObj(x: unknown): x is Obj {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Reads one declaration's fields with errors naming the rule and the field; rejects unknown fields. */
class Decl {
  private readonly used = new Set<string>(['rule', 'name']);
  constructor(
    readonly obj: Obj,
    readonly rule: string,
    readonly where: string,
  ) {}

  fail(field: string | undefined, msg: string): never {
    throw new RuleConfigError(this.rule, field, `${this.where} (${this.rule})${field ? `.${field}` : ''}: ${msg}`);
  }

  has(k: string): boolean {
    return this.obj[k] !== undefined;
  }

  raw(k: string): unknown {
    this.used.add(k);
    return this.obj[k];
  }

  num(k: string, o: { required?: boolean; int?: boolean; min?: number; max?: number; gt?: number } = {}): number | undefined {
    const v = this.raw(k);
    if (v === undefined) {
      if (o.required) this.fail(k, 'is required');
      return undefined;
    }
    const what = o.int ? 'an integer' : 'a number';
    if (typeof v !== 'number' || !Number.isFinite(v) || (o.int && !Number.isInteger(v))) this.fail(k, `must be ${what} (got ${JSON.stringify(v)})`);
    if (o.min !== undefined && v < o.min) this.fail(k, `must be ${what} >= ${o.min} (got ${v})`);
    if (o.gt !== undefined && !(v > o.gt)) this.fail(k, `must be ${what} > ${o.gt} (got ${v})`);
    if (o.max !== undefined && v > o.max) this.fail(k, `must be ${what} <= ${o.max} (got ${v})`);
    return v;
  }

  str(k: string, o: { required?: boolean; oneOf?: readonly string[] } = {}): string | undefined {
    const v = this.raw(k);
    if (v === undefined) {
      if (o.required) this.fail(k, 'is required');
      return undefined;
    }
    if (typeof v !== 'string' || v === '') this.fail(k, `must be a non-empty string (got ${JSON.stringify(v)})`);
    if (o.oneOf && !o.oneOf.includes(v)) this.fail(k, `must be one of ${o.oneOf.map((x) => JSON.stringify(x)).join(', ')} (got ${JSON.stringify(v)})`);
    return v;
  }

  bool(k: string): boolean | undefined {
    const v = this.raw(k);
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') this.fail(k, `must be true or false (got ${JSON.stringify(v)})`);
    return v;
  }

  strList(k: string, o: { required?: boolean } = {}): string[] | undefined {
    const v = this.raw(k);
    if (v === undefined) {
      if (o.required) this.fail(k, 'is required');
      return undefined;
    }
    if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string' && x !== '')) this.fail(k, `must be a non-empty array of strings (got ${JSON.stringify(v)})`);
    return v as string[];
  }

  done(): void {
    for (const k of Object.keys(this.obj)) {
      if (!this.used.has(k)) this.fail(k, `unknown field (this rule takes ${[...this.used].filter((x) => x !== 'rule').join(', ')})`);
    }
  }

  catalog(deps: RuleDeps, field: string | undefined, what: string): ItemCatalog {
    if (!deps.catalog) this.fail(field, `${what} needs an item catalog (deps.catalog)`);
    return deps.catalog;
  }

  categorical(deps: RuleDeps, field: string, name: string): CategoricalColumn {
    const col = this.catalog(deps, field, `attribute '${name}'`).column(name);
    if (!col) this.fail(field, `no attribute '${name}' in the catalog (known: ${deps.catalog!.columnNames().join(', ')})`);
    if (col.kind !== 'categorical') this.fail(field, `attribute '${name}' is numeric; a categorical one is needed`);
    return col;
  }

  numeric(deps: RuleDeps, field: string, name: string): NumericColumn {
    const col = this.catalog(deps, field, `attribute '${name}'`).column(name);
    if (!col) this.fail(field, `no attribute '${name}' in the catalog (known: ${deps.catalog!.columnNames().join(', ')})`);
    if (col.kind !== 'numeric') this.fail(field, `attribute '${name}' is categorical; a numeric one is needed`);
    return col;
  }
}

// ------------------------------------------------------------------------------ predicates

export type Predicate =
  | { attr: string; op: string; value?: unknown }
  | { all: Predicate[] }
  | { any: Predicate[] }
  | { not: Predicate };

type Pred = (item: number, ctx: RequestContext) => boolean;

const CAT_OPS = ['eq', 'ne', 'in', 'nin', 'exists', 'missing'];
const NUM_OPS = ['eq', 'ne', 'in', 'nin', 'lt', 'lte', 'gt', 'gte', 'exists', 'missing'];
const DAY_MS = 86_400_000;

function compilePredicate(p: unknown, d: Decl, deps: RuleDeps, field: string): Pred {
  if (!isObj(p)) d.fail(field, `must be a predicate object (got ${JSON.stringify(p)})`);
  const keys = Object.keys(p);
  if ('all' in p || 'any' in p) {
    const k = 'all' in p ? 'all' : 'any';
    if (keys.length !== 1) d.fail(field, `'${k}' stands alone in its object`);
    const list = p[k];
    if (!Array.isArray(list) || list.length === 0) d.fail(`${field}.${k}`, 'must be a non-empty array of predicates');
    const parts = list.map((q, i) => compilePredicate(q, d, deps, `${field}.${k}[${i}]`));
    return k === 'all' ? (it, c) => parts.every((f) => f(it, c)) : (it, c) => parts.some((f) => f(it, c));
  }
  if ('not' in p) {
    if (keys.length !== 1) d.fail(field, "'not' stands alone in its object");
    const f = compilePredicate(p.not, d, deps, `${field}.not`);
    return (it, c) => !f(it, c);
  }
  for (const k of keys) if (k !== 'attr' && k !== 'op' && k !== 'value') d.fail(`${field}.${k}`, 'unknown field (a predicate has attr, op, value; or all / any / not)');
  const attr = p.attr;
  if (typeof attr !== 'string' || attr === '') d.fail(`${field}.attr`, `must be a non-empty string (got ${JSON.stringify(attr)})`);
  const op = p.op;
  const value = p.value;
  const needsValue = op !== 'exists' && op !== 'missing';
  if (needsValue && value === undefined) d.fail(`${field}.value`, `is required with op '${String(op)}'`);
  const list = (): unknown[] => {
    if (!Array.isArray(value) || value.length === 0) d.fail(`${field}.value`, `must be a non-empty array with op '${String(op)}'`);
    return value;
  };

  if (attr === 'id') {
    if (op !== 'eq' && op !== 'ne' && op !== 'in' && op !== 'nin') d.fail(`${field}.op`, `must be eq, ne, in or nin for 'id' (got ${JSON.stringify(op)})`);
    const cat = d.catalog(deps, `${field}.attr`, "attribute 'id'");
    const ids = op === 'eq' || op === 'ne' ? [value] : list();
    const set = new Set<number>();
    for (const id of ids) {
      if (typeof id !== 'string') d.fail(`${field}.value`, `item ids are strings (got ${JSON.stringify(id)})`);
      const i = cat.itemIndex(id);
      if (i >= 0) set.add(i);
    }
    const neg = op === 'ne' || op === 'nin';
    return (it) => set.has(it) !== neg;
  }

  // numeric sources: 'item', 'age_days', numeric columns
  let num: ((item: number, ctx: RequestContext) => number) | undefined;
  let col: CategoricalColumn | undefined;
  if (attr === 'item') num = (it) => it;
  else if (attr === 'age_days') {
    const created = d.catalog(deps, `${field}.attr`, "attribute 'age_days'").createdAt;
    num = (it, c) => (it < created.length ? (c.now - created[it]) / DAY_MS : NaN);
  } else {
    const c = d.catalog(deps, `${field}.attr`, `attribute '${attr}'`).column(attr);
    if (!c) d.fail(`${field}.attr`, `no attribute '${attr}' in the catalog (known: ${deps.catalog!.columnNames().join(', ')})`);
    if (c.kind === 'numeric') {
      const v = c.values;
      num = (it) => (it < v.length ? v[it] : NaN);
    } else col = c;
  }

  if (num) {
    const f = num;
    if (typeof op !== 'string' || !NUM_OPS.includes(op)) d.fail(`${field}.op`, `must be one of ${NUM_OPS.join(', ')} for numeric '${attr}' (got ${JSON.stringify(op)})`);
    const numVal = (): number => {
      if (typeof value !== 'number' || !Number.isFinite(value)) d.fail(`${field}.value`, `must be a number for '${attr}' (got ${JSON.stringify(value)})`);
      return value;
    };
    switch (op) {
      case 'exists':
        return (it, c) => !Number.isNaN(f(it, c));
      case 'missing':
        return (it, c) => Number.isNaN(f(it, c));
      case 'in':
      case 'nin': {
        const set = new Set(list().map((x) => (typeof x === 'number' ? x : d.fail(`${field}.value`, `must hold numbers for '${attr}' (got ${JSON.stringify(x)})`))));
        const neg = op === 'nin';
        return (it, c) => set.has(f(it, c)) !== neg;
      }
      case 'eq': {
        const v = numVal();
        return (it, c) => f(it, c) === v;
      }
      case 'ne': {
        const v = numVal();
        return (it, c) => f(it, c) !== v;
      }
      case 'lt': {
        const v = numVal();
        return (it, c) => f(it, c) < v;
      }
      case 'lte': {
        const v = numVal();
        return (it, c) => f(it, c) <= v;
      }
      case 'gt': {
        const v = numVal();
        return (it, c) => f(it, c) > v;
      }
      default: {
        const v = numVal();
        return (it, c) => f(it, c) >= v;
      }
    }
  }

  const column = col!;
  if (typeof op !== 'string' || !CAT_OPS.includes(op)) d.fail(`${field}.op`, `must be one of ${CAT_OPS.join(', ')} for categorical '${attr}' (got ${JSON.stringify(op)})`);
  const { offsets, codes } = column;
  const size = offsets.length - 1;
  if (op === 'exists' || op === 'missing') {
    const want = op === 'exists';
    return (it) => (it < size && offsets[it + 1] > offsets[it]) === want;
  }
  const vals = op === 'eq' || op === 'ne' ? [value] : list();
  const set = new Set<number>();
  for (const v of vals) {
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') d.fail(`${field}.value`, `must hold strings for '${attr}' (got ${JSON.stringify(v)})`);
    const c = column.code(String(v));
    if (c >= 0) set.add(c);
  }
  const neg = op === 'ne' || op === 'nin';
  return (it) => {
    let has = false;
    if (it < size) {
      for (let j = offsets[it]; j < offsets[it + 1]; j++) {
        if (set.has(codes[j])) {
          has = true;
          break;
        }
      }
    }
    return has !== neg;
  };
}

// ------------------------------------------------------------------------------ rules

class DedupRule extends TracedRule {
  constructor(
    name: string,
    private readonly by: CategoricalColumn | null,
    private readonly keep: number,
  ) {
    super(name);
  }

  protected run(_ctx: RequestContext, list: ScoredItem[], notes: Notes): ScoredItem[] {
    const out: ScoredItem[] = [];
    const by = this.by;
    if (!by) {
      const seen = new Map<number, number>();
      list.forEach((x, i) => {
        const first = seen.get(x.item);
        if (first !== undefined) {
          notes?.set(x, `duplicate of rank ${first}`);
          return;
        }
        seen.set(x.item, i);
        out.push(x);
      });
      return out;
    }
    const { offsets, codes, dictionary } = by;
    const size = offsets.length - 1;
    const count = new Int32Array(dictionary.length);
    for (const x of list) {
      const it = x.item;
      if (it < size && offsets[it + 1] > offsets[it]) {
        const c = codes[offsets[it]];
        if (count[c] >= this.keep) {
          notes?.set(x, `${by.name} '${dictionary[c]}' already has ${this.keep}`);
          continue;
        }
        count[c]++;
      }
      out.push(x);
    }
    return out;
  }
}

/** Removes the items for which `test` (prepared once per request) gives a reason. */
class FilterRule extends TracedRule {
  constructor(
    name: string,
    private readonly prepare: (ctx: RequestContext) => ((item: number) => string | null) | null,
  ) {
    super(name);
  }

  protected run(ctx: RequestContext, list: ScoredItem[], notes: Notes): ScoredItem[] {
    const test = this.prepare(ctx);
    if (!test) return list.slice();
    const out: ScoredItem[] = [];
    for (const x of list) {
      const why = test(x.item);
      if (why === null) out.push(x);
      else notes?.set(x, why);
    }
    return out;
  }
}

class DiversityRule extends TracedRule {
  constructor(
    name: string,
    private readonly col: CategoricalColumn,
    private readonly max: number,
    private readonly topK: number | undefined,
  ) {
    super(name);
  }

  protected run(ctx: RequestContext, list: ScoredItem[], notes: Notes): ScoredItem[] {
    const K = Math.min(this.topK ?? ctx.k, list.length);
    const { offsets, codes, dictionary } = this.col;
    const size = offsets.length - 1;
    const count = new Int32Array(dictionary.length);
    const top: ScoredItem[] = [];
    const deferred: ScoredItem[] = [];
    let i = 0;
    for (; i < list.length && top.length < K; i++) {
      const x = list[i];
      const it = x.item;
      let blocking = -1;
      if (it < size) {
        for (let j = offsets[it]; j < offsets[it + 1]; j++) {
          if (count[codes[j]] >= this.max) {
            blocking = codes[j];
            break;
          }
        }
      }
      if (blocking >= 0) {
        deferred.push(x);
        notes?.set(x, `${this.col.name} '${dictionary[blocking]}' already has ${this.max} in the top ${K}`);
        continue;
      }
      if (it < size) for (let j = offsets[it]; j < offsets[it + 1]; j++) count[codes[j]]++;
      top.push(x);
    }
    return top.concat(deferred, list.slice(i));
  }
}

class MmrRule extends TracedRule {
  private readonly norms: Float64Array;
  constructor(
    name: string,
    private readonly catalog: ItemCatalog,
    private readonly lambda: number,
    private readonly topK: number | undefined,
    private readonly cosine: boolean,
  ) {
    super(name);
    const { dim, vectors } = catalog.embeddings!;
    this.norms = new Float64Array(catalog.size);
    for (let i = 0; i < catalog.size; i++) {
      let s = 0;
      for (let j = i * dim; j < (i + 1) * dim; j++) s += vectors[j] * vectors[j];
      this.norms[i] = Math.sqrt(s);
    }
  }

  protected run(ctx: RequestContext, list: ScoredItem[], notes: Notes): ScoredItem[] {
    const n = list.length;
    const K = Math.min(this.topK ?? ctx.k, n);
    if (K === 0) return list.slice();
    const { dim, vectors } = this.catalog.embeddings!;
    const size = this.catalog.size;
    let lo = Infinity;
    let hi = -Infinity;
    for (const x of list) {
      if (x.score < lo) lo = x.score;
      if (x.score > hi) hi = x.score;
    }
    const rel = new Float64Array(n);
    for (let i = 0; i < n; i++) rel[i] = hi > lo ? (list[i].score - lo) / (hi - lo) : 1;
    // max similarity to the picked items; -Infinity until one with an embedding is picked
    const maxSim = new Float64Array(n).fill(-Infinity);
    const picked = new Uint8Array(n);
    const out: ScoredItem[] = [];
    const lambda = this.lambda;
    for (let step = 0; step < K; step++) {
      let best = -1;
      let bestVal = -Infinity;
      for (let i = 0; i < n; i++) {
        if (picked[i]) continue;
        const v = lambda * rel[i] - (maxSim[i] === -Infinity ? 0 : (1 - lambda) * maxSim[i]);
        if (v > bestVal) {
          bestVal = v;
          best = i;
        }
      }
      picked[best] = 1;
      const x = list[best];
      out.push(x);
      notes?.set(x, `relevance ${rel[best].toFixed(3)}, max similarity ${maxSim[best] === -Infinity ? 'n/a' : maxSim[best].toFixed(3)}`);
      // update the max similarity of the others to the picked set
      const b = x.item;
      if (b >= size || (this.cosine && this.norms[b] === 0)) continue;
      const ob = b * dim;
      for (let i = 0; i < n; i++) {
        if (picked[i]) continue;
        const it = list[i].item;
        if (it >= size) continue;
        const oi = it * dim;
        let dot = 0;
        for (let j = 0; j < dim; j++) dot += vectors[oi + j] * vectors[ob + j];
        let sim = dot;
        if (this.cosine) sim = this.norms[it] === 0 ? 0 : dot / (this.norms[it] * this.norms[b]);
        if (sim > maxSim[i]) maxSim[i] = sim;
      }
    }
    for (let i = 0; i < n; i++) if (!picked[i]) out.push(list[i]);
    return out;
  }
}

class BoostRule extends TracedRule {
  constructor(
    name: string,
    private readonly where: Pred,
    private readonly factor: number,
    private readonly add: number,
  ) {
    super(name);
  }

  protected run(ctx: RequestContext, list: ScoredItem[], notes: Notes): ScoredItem[] {
    const out = list.slice();
    for (const x of out) {
      if (!this.where(x.item, ctx)) continue;
      x.score = x.score * this.factor + this.add;
      notes?.set(x, 'matched');
    }
    return sortByScore(out);
  }
}

class BuryRule extends TracedRule {
  constructor(
    name: string,
    private readonly where: Pred,
  ) {
    super(name);
  }

  protected run(ctx: RequestContext, list: ScoredItem[], notes: Notes): ScoredItem[] {
    const keep: ScoredItem[] = [];
    const buried: ScoredItem[] = [];
    for (const x of list) {
      if (this.where(x.item, ctx)) {
        buried.push(x);
        notes?.set(x, 'buried');
      } else keep.push(x);
    }
    return keep.concat(buried);
  }
}

class PinRule extends TracedRule {
  private readonly pinned: Set<number>;
  constructor(
    name: string,
    private readonly pins: { item: number; position: number }[],
    private readonly inject: boolean,
    private readonly catalog: ItemCatalog | undefined,
  ) {
    super(name);
    this.pins = [...pins].sort((a, b) => a.position - b.position);
    this.pinned = new Set(pins.map((p) => p.item));
  }

  protected run(ctx: RequestContext, list: ScoredItem[], notes: Notes): ScoredItem[] {
    const existing = new Map<number, ScoredItem>();
    const out: ScoredItem[] = [];
    for (const x of list) {
      if (this.pinned.has(x.item)) {
        if (!existing.has(x.item)) existing.set(x.item, x);
      } else out.push(x);
    }
    for (const p of this.pins) {
      let x = existing.get(p.item);
      if (!x) {
        const it = p.item;
        const cat = this.catalog;
        const allowed = this.inject && passesFilters(ctx, it) && (!cat || (it < cat.size && cat.available[it] === 1));
        if (!allowed) continue;
        const at = Math.min(p.position, out.length);
        const neighbour = out[at] ?? out[at - 1];
        x = { item: it, sources: [], score: neighbour ? neighbour.score : 0 };
        if (ctx.debug) x.trace = [];
      }
      existing.delete(p.item);
      out.splice(Math.min(p.position, out.length), 0, x);
      notes?.set(x, `pinned at ${p.position}`);
    }
    return out;
  }
}

class FreshnessRule extends TracedRule {
  constructor(
    name: string,
    private readonly catalog: ItemCatalog,
    private readonly halfLifeMs: number,
    private readonly floor: number,
    private readonly unknownFactor: number,
  ) {
    super(name);
  }

  protected run(ctx: RequestContext, list: ScoredItem[], notes: Notes): ScoredItem[] {
    const created = this.catalog.createdAt;
    const out = list.slice();
    for (const x of out) {
      const c = x.item < created.length ? created[x.item] : NaN;
      let f: number;
      let why: string;
      if (Number.isNaN(c)) {
        f = this.unknownFactor;
        why = 'age unknown';
      } else {
        const age = Math.max(0, ctx.now - c);
        f = this.floor + (1 - this.floor) * Math.pow(2, -age / this.halfLifeMs);
        why = `age ${(age / 3_600_000).toFixed(1)} h, factor ${f.toPrecision(4)}`;
      }
      if (f === 1) continue;
      x.score = x.score >= 0 ? x.score * f : f > 0 ? x.score / f : -Infinity;
      notes?.set(x, why);
    }
    return sortByScore(out);
  }
}

class FairnessRule extends TracedRule {
  constructor(
    name: string,
    private readonly col: CategoricalColumn,
    private readonly share: number | Map<number, number>,
    private readonly topK: number | undefined,
  ) {
    super(name);
  }

  protected run(ctx: RequestContext, list: ScoredItem[], notes: Notes): ScoredItem[] {
    const n = list.length;
    const K = Math.min(this.topK ?? ctx.k, n);
    const { offsets, codes, dictionary } = this.col;
    const size = offsets.length - 1;
    // positions of each value's items, in list order; values by their best item
    const byValue = new Map<number, number[]>();
    for (let i = 0; i < n; i++) {
      const it = list[i].item;
      if (it >= size) continue;
      for (let j = offsets[it]; j < offsets[it + 1]; j++) {
        const c = codes[j];
        let l = byValue.get(c);
        if (!l) byValue.set(c, (l = []));
        l.push(i);
      }
    }
    // requirements, served in the order of each value's best item while they fit in K
    const need = new Map<number, number>();
    let total = 0;
    for (const [c, pos] of byValue) {
      const s = typeof this.share === 'number' ? this.share : (this.share.get(c) ?? 0);
      const r = Math.min(Math.ceil(s * K - 1e-9), pos.length);
      if (r <= 0 || total + r > K) continue;
      need.set(c, r);
      total += r;
    }
    if (total === 0) return list.slice();
    const taken = new Uint8Array(n);
    const head = new Map<number, number>(); // next candidate index into byValue.get(c)
    for (const c of need.keys()) head.set(c, 0);
    let deficit = total;
    let next = 0; // next untaken position overall
    let filled = 0;
    const take = (i: number) => {
      taken[i] = 1;
      filled++;
      const it = list[i].item;
      if (it >= size) return;
      for (let j = offsets[it]; j < offsets[it + 1]; j++) {
        const c = codes[j];
        const r = need.get(c);
        if (r !== undefined && r > 0) {
          need.set(c, r - 1);
          deficit--;
        }
      }
    };
    while (filled < K) {
      while (next < n && taken[next]) next++;
      if (K - filled > deficit) {
        take(next);
        continue;
      }
      // every remaining slot is owed: the best untaken item of a value still short
      let best = -1;
      let bestValue = -1;
      for (const [c, r] of need) {
        if (r <= 0) continue;
        const pos = byValue.get(c)!;
        let h = head.get(c)!;
        while (h < pos.length && taken[pos[h]]) h++;
        head.set(c, h);
        if (h < pos.length && (best < 0 || pos[h] < best)) {
          best = pos[h];
          bestValue = c;
        }
      }
      if (best < 0) {
        take(next);
        continue;
      }
      if (notes && best !== next) notes.set(list[best], `${this.col.name} '${dictionary[bestValue]}' below its share of the top ${K}`);
      take(best);
    }
    const top: ScoredItem[] = [];
    const rest: ScoredItem[] = [];
    for (let i = 0; i < n; i++) (taken[i] ? top : rest).push(list[i]);
    return top.concat(rest);
  }
}

// ------------------------------------------------------------------------------ building

export const RULES = [
  'dedup',
  'filter_unavailable',
  'filter_purchased',
  'filter_rating',
  'filter',
  'diversity',
  'mmr',
  'boost',
  'bury',
  'pin',
  'freshness',
  'fairness',
] as const;

/** Builds one rule from its declaration; `where` prefixes error messages (e.g. "rules[2]"). */
export function buildRule(decl: unknown, deps: RuleDeps = {}, where = 'rule'): RerankRule {
  if (!isObj(decl)) throw new RuleConfigError('?', undefined, `${where}: a rule declaration must be an object (got ${JSON.stringify(decl)})`);
  const type = decl.rule;
  if (typeof type !== 'string' || !(RULES as readonly string[]).includes(type)) {
    throw new RuleConfigError(String(type), 'rule', `${where}.rule: unknown rule ${JSON.stringify(type)} (expected one of ${RULES.join(', ')})`);
  }
  const d = new Decl(decl, type, where);
  const nm = decl.name;
  if (nm !== undefined && (typeof nm !== 'string' || nm === '')) d.fail('name', `must be a non-empty string (got ${JSON.stringify(nm)})`);
  const name = (nm as string | undefined) ?? type;
  const rule = make(type, d, deps, name);
  d.done();
  return rule;
}

/** Builds a scene's rules, in order; errors name the rule's position, type and field. */
export function buildRules(decls: unknown, deps: RuleDeps = {}): RerankRule[] {
  if (!Array.isArray(decls)) throw new RuleConfigError('?', undefined, `rules: must be an array of rule declarations (got ${JSON.stringify(decls)})`);
  return decls.map((x, i) => buildRule(x, deps, `rules[${i}]`));
}

function make(type: string, d: Decl, deps: RuleDeps, name: string): RerankRule {
  switch (type) {
    case 'dedup': {
      const by = d.str('by') ?? 'item';
      const keep = d.num('keep', { int: true, min: 1 }) ?? 1;
      if (by === 'item') {
        if (keep !== 1) d.fail('keep', 'applies to dedup by an attribute only');
        return new DedupRule(name, null, 1);
      }
      return new DedupRule(name, d.categorical(deps, 'by', by), keep);
    }
    case 'filter_unavailable': {
      const cat = d.catalog(deps, undefined, 'filter_unavailable');
      const removeUnknown = (d.str('unknown', { oneOf: ['keep', 'remove'] }) ?? 'keep') === 'remove';
      const avail = cat.available;
      return new FilterRule(name, () => (it) => (it < avail.length ? (avail[it] === 1 ? null : 'unavailable') : removeUnknown ? 'unknown item' : null));
    }
    case 'filter_purchased': {
      const types = new Set(d.strList('types') ?? ['purchase']);
      const label = [...types].join('/');
      return new FilterRule(name, (ctx) => {
        if (!ctx.historyTypes) return null;
        const seen = new Set<number>();
        const h = ctx.history;
        for (let i = 0; i < h.length; i++) if (types.has(ctx.historyTypes[i])) seen.add(h[i]);
        if (seen.size === 0) return null;
        return (it) => (seen.has(it) ? `already in history as ${label}` : null);
      });
    }
    case 'filter_rating': {
      const min = d.num('min', { required: true })!;
      const attr = d.str('attribute') ?? 'rating';
      const keepUnrated = d.bool('keepUnrated') ?? true;
      const v = d.numeric(deps, 'attribute', attr).values;
      return new FilterRule(name, () => (it) => {
        const r = it < v.length ? v[it] : NaN;
        if (Number.isNaN(r)) return keepUnrated ? null : `no ${attr}`;
        return r < min ? `${attr} ${r} < ${min}` : null;
      });
    }
    case 'filter': {
      const hasKeep = d.has('keep');
      const hasRemove = d.has('remove');
      if (hasKeep === hasRemove) d.fail(hasKeep ? 'remove' : 'keep', "exactly one of 'keep' and 'remove' is needed");
      const field = hasKeep ? 'keep' : 'remove';
      const p = compilePredicate(d.raw(field), d, deps, field);
      return new FilterRule(name, (ctx) => (it) => (p(it, ctx) === hasKeep ? null : hasKeep ? 'not matching keep' : 'matching remove'));
    }
    case 'diversity': {
      const by = d.str('by') ?? 'categories';
      const max = d.num('maxPerCategory', { required: true, int: true, min: 1 })!;
      const topK = d.num('topK', { int: true, min: 1 });
      return new DiversityRule(name, d.categorical(deps, 'by', by), max, topK);
    }
    case 'mmr': {
      const lambda = d.num('lambda', { required: true, min: 0, max: 1 })!;
      const topK = d.num('topK', { int: true, min: 1 });
      const sim = d.str('similarity', { oneOf: ['cosine', 'dot'] }) ?? 'cosine';
      const cat = d.catalog(deps, undefined, 'mmr');
      if (!cat.embeddings) d.fail(undefined, 'mmr needs item embeddings in the catalog');
      return new MmrRule(name, cat, lambda, topK, sim === 'cosine');
    }
    case 'boost': {
      if (!d.has('where')) d.fail('where', 'is required');
      const where = compilePredicate(d.raw('where'), d, deps, 'where');
      const factor = d.num('factor', { min: 0 });
      const add = d.num('add');
      if (factor === undefined && add === undefined) d.fail('factor', "one of 'factor' and 'add' is needed");
      return new BoostRule(name, where, factor ?? 1, add ?? 0);
    }
    case 'bury': {
      if (!d.has('where')) d.fail('where', 'is required');
      return new BuryRule(name, compilePredicate(d.raw('where'), d, deps, 'where'));
    }
    case 'pin': {
      const raw = d.raw('items');
      if (!Array.isArray(raw) || raw.length === 0) d.fail('items', 'must be a non-empty array of { id | item, position }');
      const inject = d.bool('inject') ?? true;
      const pins = raw.map((p, i) => {
        const f = `items[${i}]`;
        if (!isObj(p)) d.fail(f, 'must be an object { id | item, position }');
        for (const k of Object.keys(p)) if (k !== 'id' && k !== 'item' && k !== 'position') d.fail(`${f}.${k}`, 'unknown field (id, item, position)');
        const pos = p.position;
        if (typeof pos !== 'number' || !Number.isInteger(pos) || pos < 0) d.fail(`${f}.position`, `must be an integer >= 0 (got ${JSON.stringify(pos)})`);
        let item: number;
        if (p.id !== undefined) {
          if (p.item !== undefined) d.fail(f, "takes 'id' or 'item', not both");
          if (typeof p.id !== 'string') d.fail(`${f}.id`, `must be a string (got ${JSON.stringify(p.id)})`);
          item = d.catalog(deps, `${f}.id`, 'pinning by id').itemIndex(p.id);
          if (item < 0) d.fail(`${f}.id`, `unknown item id ${JSON.stringify(p.id)}`);
        } else {
          if (typeof p.item !== 'number' || !Number.isInteger(p.item) || p.item < 0) d.fail(`${f}.item`, `must be an item index (got ${JSON.stringify(p.item)})`);
          item = p.item;
        }
        return { item, position: pos };
      });
      const items = new Set<number>();
      pins.forEach((p, i) => {
        if (items.has(p.item)) d.fail(`items[${i}]`, `item ${p.item} is pinned twice`);
        items.add(p.item);
      });
      return new PinRule(name, pins, inject, deps.catalog);
    }
    case 'freshness': {
      const h = d.num('halfLifeHours', { required: true, gt: 0 })!;
      const floor = d.num('floor', { min: 0, max: 1 }) ?? 0;
      const unknown = d.str('unknownAge', { oneOf: ['neutral', 'oldest'] }) ?? 'neutral';
      const cat = d.catalog(deps, undefined, 'freshness');
      return new FreshnessRule(name, cat, h * 3_600_000, floor, unknown === 'neutral' ? 1 : floor);
    }
    case 'fairness': {
      const by = d.str('by', { required: true })!;
      const col = d.categorical(deps, 'by', by);
      const topK = d.num('topK', { int: true, min: 1 });
      const raw = d.raw('minShare');
      let share: number | Map<number, number>;
      if (typeof raw === 'number') {
        if (!(raw > 0 && raw <= 1)) d.fail('minShare', `must be in (0, 1] (got ${raw})`);
        share = raw;
      } else if (isObj(raw) && Object.keys(raw).length > 0) {
        share = new Map();
        let sum = 0;
        for (const [k, v] of Object.entries(raw)) {
          if (typeof v !== 'number' || !(v > 0 && v <= 1)) d.fail(`minShare.${k}`, `must be in (0, 1] (got ${JSON.stringify(v)})`);
          sum += v;
          const c = col.code(k);
          if (c >= 0) share.set(c, v);
        }
        if (sum > 1 + 1e-9) d.fail('minShare', `shares add up to ${sum} > 1`);
      } else d.fail('minShare', `must be a share in (0, 1] or an object { value: share } (got ${JSON.stringify(raw)})`);
      return new FairnessRule(name, col, share, topK);
    }
  }
  return d.fail('rule', 'unknown rule');
}
