/**
 * A scene's re-ranking rules at serving time. Rules read item metadata (availability,
 * categories, attributes, age, embeddings) from the catalog snapshot, which is rebuilt in the
 * background when items change; `SceneRules` rebuilds its rules from their declarations when
 * the snapshot it was built on is replaced, so a price change or a new item is seen by the
 * rules without a restart. Declarations are checked when the service is built (a bad rule
 * fails the model load with a message naming the rule and field, never a request).
 */
import type { ItemCatalog, ItemEmbeddings } from '../funnel/catalog.js';
import { buildRules } from '../funnel/rules.js';
import type { RequestContext, RerankRule, ScoredItem } from '../funnel/types.js';

/** Does any declaration use a rule that needs item embeddings (MMR)? */
export function needsEmbeddings(decls: readonly Record<string, unknown>[]): boolean {
  return decls.some((d) => d.rule === 'mmr');
}

/**
 * Pads model item vectors to the catalog's size (items newer than the model get a zero row,
 * i.e. "no embedding", which MMR treats as dissimilar to everything).
 */
export function catalogEmbeddings(size: number, dim: number, vectors: Float32Array): ItemEmbeddings {
  if (vectors.length === size * dim) return { dim, vectors };
  const out = new Float32Array(size * dim);
  out.set(vectors.subarray(0, Math.min(vectors.length, out.length)));
  return { dim, vectors: out };
}

export class SceneRules implements RerankRule {
  readonly name = 'rules';
  private built: { snap: ItemCatalog; rules: RerankRule[] } | undefined;

  /**
   * @param decls the scene's `rules` declarations, applied in order
   * @param snapshot returns the current catalog snapshot
   * @param withEmbeddings adds item embeddings to a snapshot (for MMR), when the scene needs them
   */
  constructor(
    private readonly decls: readonly Record<string, unknown>[],
    private readonly snapshot: () => ItemCatalog,
    private readonly withEmbeddings?: (snap: ItemCatalog) => ItemCatalog,
  ) {
    this.rules(); // validate now: errors surface at load time
  }

  /** The rules built on the current snapshot (rebuilt when the snapshot changed). */
  rules(): RerankRule[] {
    const snap = this.snapshot();
    if (this.built?.snap !== snap) {
      const catalog = this.withEmbeddings && needsEmbeddings(this.decls) ? this.withEmbeddings(snap) : snap;
      this.built = { snap, rules: buildRules(this.decls, { catalog }) };
    }
    return this.built.rules;
  }

  apply(ctx: RequestContext, list: ScoredItem[]): ScoredItem[] {
    let out = list;
    for (const r of this.rules()) out = r.apply(ctx, out);
    return out;
  }
}

/** A catalog that is `base` plus item embeddings. */
export function withEmbeddings(base: ItemCatalog, embeddings: ItemEmbeddings): ItemCatalog {
  return new Proxy(base, {
    get(target, prop, receiver) {
      if (prop === 'embeddings') return embeddings;
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
