/**
 * Cheap in-process timing of the serving hot path, off by default: when enabled (the
 * FUNNEL_PROFILE=1 environment variable, or `servingProfile.enable()`), each stage adds its
 * duration to a running sum, so a benchmark can report where a request's time goes (history
 * read, user encoding, ANN search, the other generators, merge, scoring, rules, response).
 * When disabled, a hook costs one property read.
 */
export type ServingStage = 'history' | 'encode' | 'ann' | 'generators' | 'merge' | 'score' | 'rules' | 'respond' | 'total';

export class ServingProfile {
  enabled: boolean;
  private readonly sums = new Map<ServingStage, { ms: number; count: number }>();

  constructor(enabled = false) {
    this.enabled = enabled;
  }

  enable(on = true): void {
    this.enabled = on;
  }

  /** Adds one observation of `stage` (call only when enabled). */
  add(stage: ServingStage, ms: number): void {
    let s = this.sums.get(stage);
    if (!s) this.sums.set(stage, (s = { ms: 0, count: 0 }));
    s.ms += ms;
    s.count++;
  }

  /** Mean milliseconds and count per stage since the last reset. */
  snapshot(): Record<string, { mean_ms: number; count: number }> {
    const out: Record<string, { mean_ms: number; count: number }> = {};
    for (const [k, v] of this.sums) out[k] = { mean_ms: v.count ? v.ms / v.count : 0, count: v.count };
    return out;
  }

  reset(): void {
    this.sums.clear();
  }
}

/** The process-wide profile the serving code reports to. */
export const servingProfile = new ServingProfile(process.env.FUNNEL_PROFILE === '1');
