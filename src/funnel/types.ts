/**
 * The serving funnel's stage interfaces: candidate generators → merge (dedup + provenance) →
 * scoring (rank fusion now, a trained ranker later) → re-ranking rules → top k.
 * Items are dense item indices throughout; ids are mapped at the edges.
 */

/** What the funnel knows about the request. */
export interface RequestContext {
  /** The user's id when known (unknown users are served from their explicit history or cold). */
  userId?: string;
  /** The user's dense index in the store, when known (the ranker reads profiles by it). */
  userIdx?: number;
  /** The client's device ('mobile', 'desktop'...), when the request says (a ranking feature). */
  device?: string;
  /** Recent item indices, most recent first. */
  history: Int32Array;
  /** Event type names parallel to `history` (when known). */
  historyTypes?: string[];
  /** Number of items wanted. */
  k: number;
  scene: string;
  /** Epoch ms of the request. */
  now: number;
  /** Items that must not be returned (seen, explicit exclude list, previous pages...). */
  exclude: Set<number>;
  /** Item-level predicate from the request's filters, or undefined when there are none. */
  allow?: (item: number) => boolean;
  /**
   * Items servable only where mask[item] === 1 (none beyond its length): the catalogue's
   * availability, one byte per item, checked before `allow`. Absent: no mask.
   */
  mask?: Uint8Array;
  debug: boolean;
}

/** Whether `item` passes the request's mask, exclusions and predicate (what every generator honours). */
export function passesFilters(ctx: Pick<RequestContext, 'exclude' | 'mask' | 'allow'>, item: number): boolean {
  const { mask, allow } = ctx;
  return !(mask && mask[item] !== 1) && !ctx.exclude.has(item) && (!allow || allow(item));
}

/** Output of one generator: items in its own order, best first, with its scores. */
export interface GeneratorOutput {
  items: Int32Array;
  scores: Float32Array;
}

export interface CandidateGenerator {
  readonly name: string;
  /**
   * True when every item `generate` returns is known to pass `ctx.exclude`, `ctx.mask` and `ctx.allow`
   * (the built-in generators): the merge then does not check them again. Otherwise the merge
   * drops the items that do not pass.
   */
  readonly filtered?: boolean;
  /** Up to `k` items that pass `ctx.exclude`, `ctx.mask` and `ctx.allow`, best first. */
  generate(ctx: RequestContext, k: number): GeneratorOutput | Promise<GeneratorOutput>;
}

/** Which generators proposed an item, at which rank (0-based) and with which score. */
export interface Provenance {
  generator: string;
  rank: number;
  score: number;
}

export interface Candidate {
  item: number;
  sources: Provenance[];
}

export interface ScoredItem extends Candidate {
  score: number;
  /** Filled when the request asks for debug output: what each stage and rule did. */
  trace?: string[];
}

/** The scoring stage: one score per candidate, higher is better. */
export interface Scorer {
  readonly name: string;
  score(ctx: RequestContext, candidates: Candidate[]): Float32Array | Promise<Float32Array>;
}

/** A re-ranking rule: takes the scored list (best first) and returns the new list. */
export interface RerankRule {
  readonly name: string;
  apply(ctx: RequestContext, list: ScoredItem[]): ScoredItem[];
}

export interface GeneratorSlot {
  generator: CandidateGenerator;
  /** How many candidates this generator contributes at most. */
  quota: number;
  /** Weight in rank fusion (default 1). */
  weight?: number;
}

export interface FunnelTimings {
  generate_ms: number;
  merge_ms: number;
  score_ms: number;
  rerank_ms: number;
  total_ms: number;
}

export interface FunnelResult {
  items: ScoredItem[];
  /** Candidates considered after the merge. */
  candidates: number;
  timings: FunnelTimings;
}
