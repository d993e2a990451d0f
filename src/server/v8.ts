/**
 * V8 settings for a serving process (`funnel serve`, each of its workers, the serve bench's
 * server), applied before it starts serving.
 *
 * Allocation-site pretenuring off. V8 allocates objects straight into the old generation from
 * allocation sites whose objects it saw survive a young-generation collection; a request's
 * short-lived objects (the funnel's ~450 candidates with their provenance, ~70 KB per request)
 * caught that way then filled the old generation at ~45 MB/s at 650 requests/s, and a major
 * collection every few seconds ran with 30–100 ms pauses. Measured on the serve bench (1M
 * items, 650 requests/s, 7 rounds of 12 s each, alternating): with pretenuring, 5 of 7 rounds
 * went that way (p99.9 40–109 ms, p99 5.8–7.3 ms, 0.94–1.02 ms of CPU per request); without it
 * none did (p99.9 6.8–9.2 ms, p99 3.6–4.7 ms, 0.86–1.04 ms).
 */
import { setFlagsFromString } from 'node:v8';

let applied = false;

/** Applies the serving settings once per process; FUNNEL_V8_DEFAULTS=1 leaves V8 as it is. */
export function tuneV8ForServing(): void {
  if (applied || process.env.FUNNEL_V8_DEFAULTS === '1') return;
  applied = true;
  setFlagsFromString('--no-allocation-site-pretenuring');
}
