/**
 * The JSON text of a recommendation response, byte for byte what `JSON.stringify` gives for the
 * same object (test/serving/response-json.test.ts compares them on random responses), written
 * directly: `JSON.stringify` took ~20 µs per 20-item response on the serve bench's machines,
 * about half of it formatting the scores inside its generic walk (`String()` of the same
 * numbers: ~1 µs), and ~5% of a served request's CPU in the server's profile.
 */
import type { RecommendResponse } from './service.js';

/** A string needs JSON escaping: quote, backslash, control characters, or a surrogate (lone ones are escaped). */
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

function str(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

/** JSON's number: finite numbers as `String()` writes them (the same algorithm), others null. */
function num(x: number): string {
  return Number.isFinite(x) ? String(x) : 'null';
}

/** The JSON of one item's `sources` (a few generator names; the combinations repeat). */
const sourcesCache = new Map<string, string>();

function sourcesJson(sources: readonly string[]): string {
  // The key joins the names with NUL: a name holding one could collide, so those skip the cache.
  for (const g of sources) if (g.includes('\u0000')) return JSON.stringify(sources);
  const key = sources.length === 1 ? sources[0] : sources.join('\u0000');
  let v = sourcesCache.get(key);
  if (v === undefined) {
    v = JSON.stringify(sources);
    if (sourcesCache.size < 4096) sourcesCache.set(key, v);
  }
  return v;
}

/**
 * `JSON.stringify(body)` for the bodies the service builds (exactly the documented fields, in
 * that order). Bodies with debug details go through JSON.stringify.
 */
export function recommendationJson(body: RecommendResponse): string {
  if (body.debug !== undefined) return JSON.stringify(body);
  let out = `{"requestId":${str(body.requestId)},"scene":${str(body.scene)},"modelVersion":${str(body.modelVersion)},"items":[`;
  const items = body.items;
  for (let i = 0; i < items.length; i++) {
    const it = items[i];
    if (it.debug !== undefined) return JSON.stringify(body);
    out += `${i ? ',' : ''}{"id":${str(it.id)},"score":${num(it.score)},"sources":${sourcesJson(it.sources)}}`;
  }
  return `${out}]}`;
}
