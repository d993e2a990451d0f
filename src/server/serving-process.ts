/**
 * Settings of a serving process (`funnel serve`, each of its workers, the serve bench's server),
 * applied before it loads artifacts and starts serving:
 *
 * - V8's allocation-site pretenuring off (FUNNEL_V8_DEFAULTS=1 keeps V8's defaults). V8
 *   allocates objects straight into the old generation from allocation sites whose objects it
 *   saw survive a young-generation collection; a request's short-lived objects (the funnel's
 *   ~450 candidates with their provenance, ~70 KB per request) caught that way then filled the
 *   old generation at ~45 MB/s at 650 requests/s, and a major collection every few seconds ran
 *   with 30–100 ms pauses. Measured on the serve bench (1M items, 650 requests/s, 7 rounds of
 *   12 s each, alternating): with pretenuring, 5 of 7 rounds went that way (p99.9 40–109 ms,
 *   p99 5.8–7.3 ms, 0.94–1.02 ms of CPU per request); without it none did (p99.9 6.8–9.2 ms,
 *   p99 3.6–4.7 ms, 0.86–1.04 ms).
 * - Mapped artifacts populated at load (FUNNEL_POPULATE=0 leaves them to fault in). The model
 *   arrays and HNSW graphs are mapped from their files (shared by the workers); without this,
 *   every first read of a 4 KiB page on the request path is a page fault, and requests read
 *   pages all over ~1.5 GB at 1M items (neighbour lists of the history items, their vectors, the
 *   graph's rows): the serve bench's server took ~530 page faults per second at 300 requests/s.
 *   Measured side by side (bench/_serve-ab.ts, 3 alternating rounds at 400/s): 1.722 vs 1.771 ms
 *   of CPU per request, each round lower or equal. Loading took the same time in process (3.5 s
 *   with or without: the pages come from the page cache), and the artifact shows in RSS from
 *   the start (file pages shared by every process serving it, not memory of each).
 * - Large artifact arrays on huge pages when the process serves alone (`shared: false`; the
 *   workers of `funnel serve --workers N` keep sharing the mapped files): FUNNEL_HUGE_PAGES=1
 *   or 0 forces it either way. See setHugePageCopies (src/math/kernels/native.ts). Measured
 *   on the serve bench's 1M-item index (bench/_serve-profile.ts ann, 5 and 4 alternating
 *   runs): a k = 200 search 0.269 ms median against 0.308 mapped, k = 100 0.212 against 0.240,
 *   with the same answers; the mapped files were then already ~55% on huge pages by the page
 *   cache's own large folios, which depends on how the file was read.
 */
import { setFlagsFromString } from 'node:v8';
import { setHugePageCopies, setPopulateMappings, transparentHugePages } from '../math/kernels/native.js';

let pretenuringOff = false;

/**
 * Applies the serving settings (V8's flag once per process). `shared`: other processes serve
 * the same artifacts (the workers of one server), so the artifact files stay mapped and shared.
 */
export function prepareServingProcess(opts: { shared?: boolean } = {}): void {
  if (!pretenuringOff && process.env.FUNNEL_V8_DEFAULTS !== '1') {
    pretenuringOff = true;
    setFlagsFromString('--no-allocation-site-pretenuring');
  }
  setPopulateMappings(process.env.FUNNEL_POPULATE !== '0');
  setHugePageCopies(servingHugePages(opts.shared ?? false));
}

/**
 * Whether a serving process reads its artifacts onto huge pages: when it serves alone, or as
 * FUNNEL_HUGE_PAGES=1|0 says, and only where the kernel has transparent huge pages.
 */
export function servingHugePages(shared: boolean): boolean {
  const huge = process.env.FUNNEL_HUGE_PAGES;
  return (huge === '1' || (huge !== '0' && !shared)) && transparentHugePages();
}
