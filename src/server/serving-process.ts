/**
 * Settings of a serving process (`funnel serve`, each of its workers, the serve bench's server),
 * applied before it loads artifacts and starts serving:
 *
 * - V8 (src/server/v8.ts): allocation-site pretenuring off (FUNNEL_V8_DEFAULTS=1 keeps V8's).
 * - Mapped artifacts populated at load (FUNNEL_POPULATE=0 leaves them to fault in). The model
 *   arrays and HNSW graphs are mapped from their files (shared by the workers); without this,
 *   every first read of a 4 KiB page on the request path is a page fault, and a request reads
 *   pages all over ~1.5 GB at 1M items (neighbour lists of the history items, their vectors, the
 *   graph's rows). Measured in process (bench/_serve-profile.ts service, 1M items, 3,000
 *   users): item-kNN's reads of five neighbour lists took 0.089 ms per request on first touch
 *   and 0.028 ms on the same users again. Populating costs load time (the pages come from the
 *   page cache: ~1 s for the bench's 1.5 GB when cached) and shows the artifact in RSS from the
 *   start (file pages shared by every process serving it, not memory of each).
 */
import { setPopulateMappings } from '../math/kernels/native.js';
import { tuneV8ForServing } from './v8.js';

export function prepareServingProcess(): void {
  tuneV8ForServing();
  setPopulateMappings(process.env.FUNNEL_POPULATE !== '0');
}
