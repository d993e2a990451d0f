/**
 * `floorIndex`: the last index i with x[i] <= p in an ascending array, for the piecewise-linear
 * maps of the ranking stage (the CDF normaliser, isotonic calibration) that run per candidate
 * and feature at serving. A branch-free binary search: a fixed number of halvings with no
 * data-dependent jump to mispredict (faster than the branching search on unpredictable inputs;
 * a guide table over a uniform grid measured no better), with the same result.
 */
export function floorIndex(x: Float64Array, p: number): number {
  let base = 0;
  let len = x.length;
  while (len > 1) {
    const half = len >> 1;
    base += half * +(x[base + half] <= p);
    len -= half;
  }
  return base;
}
