/**
 * Progress reporting for long operations: a one-line bar with rate and ETA on a terminal,
 * nothing at all when stderr is not a TTY (CI, pipes) or FUNNEL_QUIET is set.
 */
export interface Progress {
  /** Set the absolute amount done (and optionally change the total). */
  update(done: number, total?: number): void;
  /** Add to the amount done. */
  tick(n?: number): void;
  /** Finish: print a final line (on a terminal) and stop. */
  done(message?: string): void;
}

export interface ProgressOptions {
  label: string;
  total?: number;
  unit?: string;
  /** Force on/off; default: stderr is a TTY and FUNNEL_QUIET is unset. */
  enabled?: boolean;
  stream?: NodeJS.WriteStream;
}

function fmtNum(n: number): string {
  if (n >= 1e9) return (n / 1e9).toFixed(2) + 'G';
  if (n >= 1e6) return (n / 1e6).toFixed(2) + 'M';
  if (n >= 1e4) return (n / 1e3).toFixed(1) + 'K';
  return String(Math.round(n));
}

export function fmtDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '?';
  if (seconds < 60) return `${seconds.toFixed(0)}s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m}m${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export function progressEnabled(): boolean {
  return Boolean(process.stderr.isTTY) && !process.env.FUNNEL_QUIET && !process.env.CI;
}

export function createProgress(opts: ProgressOptions): Progress {
  const stream = opts.stream ?? process.stderr;
  const enabled = opts.enabled ?? progressEnabled();
  const start = Date.now();
  let total = opts.total;
  let current = 0;
  let lastDraw = 0;
  const unit = opts.unit ?? '';
  const draw = (final: boolean) => {
    const now = Date.now();
    if (!final && now - lastDraw < 100) return;
    lastDraw = now;
    const secs = (now - start) / 1000;
    const rate = secs > 0 ? current / secs : 0;
    let line = `${opts.label} `;
    if (total && total > 0) {
      const frac = Math.min(1, current / total);
      const width = 24;
      const filled = Math.round(frac * width);
      line += `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(1)}% `;
      line += `${fmtNum(current)}/${fmtNum(total)}${unit}`;
      const eta = rate > 0 ? (total - current) / rate : NaN;
      line += ` ${fmtNum(rate)}${unit}/s ETA ${final ? '0s' : fmtDuration(eta)}`;
    } else {
      line += `${fmtNum(current)}${unit} ${fmtNum(rate)}${unit}/s ${fmtDuration(secs)}`;
    }
    stream.write(`\r\x1b[2K${line}`);
  };
  return {
    update(done, t) {
      current = done;
      if (t !== undefined) total = t;
      if (enabled) draw(false);
    },
    tick(n = 1) {
      current += n;
      if (enabled) draw(false);
    },
    done(message) {
      if (!enabled) return;
      draw(true);
      stream.write(message ? ` ${message}\n` : '\n');
    },
  };
}
