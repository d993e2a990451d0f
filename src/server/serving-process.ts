/**
 * Settings of a serving process (`funnel serve`, each of its workers, the serve bench's server),
 * applied before it loads artifacts and starts serving:
 *
 * - V8 (src/server/v8.ts): allocation-site pretenuring off (FUNNEL_V8_DEFAULTS=1 keeps V8's).
 * - Mapped artifacts populated at load (FUNNEL_POPULATE=0 leaves them to fault in). The model
 *   arrays and HNSW graphs are mapped from their files (shared by the workers); without this,
 *   every first read of a 4 KiB page on the request path is a page fault, and requests read
 *   pages all over ~1.5 GB at 1M items (neighbour lists of the history items, their vectors, the
 *   graph's rows): the serve bench's server took ~530 page faults per second at 300 requests/s.
 *   Measured side by side (bench/_serve-ab.ts, 3 alternating rounds at 400/s): 1.722 vs 1.771 ms
 *   of CPU per request, each round lower or equal. Loading took the same time in process (3.5 s
 *   with or without: the pages come from the page cache), and the artifact shows in RSS from
 *   the start (file pages shared by every process serving it, not memory of each).
 */
import { setPopulateMappings } from '../math/kernels/native.js';
import { tuneV8ForServing } from './v8.js';

export function prepareServingProcess(): void {
  tuneV8ForServing();
  setPopulateMappings(process.env.FUNNEL_POPULATE !== '0');
}
