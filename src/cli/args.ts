/** Helpers for sub-command options (parsed with node:util parseArgs, strict). */
export function intOption(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value.replace(/_/g, ''));
  if (!Number.isFinite(n)) throw new Error(`--${name} expects a number, got '${value}'`);
  return Math.trunc(n);
}

export function floatOption(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n)) throw new Error(`--${name} expects a number, got '${value}'`);
  return n;
}
