/**
 * Maximum-inner-product search with an item bias, reduced to nearest-neighbour search.
 *
 * 1. The bias becomes a coordinate: the query gets a constant 1, item i its bias, so
 *        ⟨[u, 1], [v_i, b_i]⟩ = ⟨u, v_i⟩ + b_i.
 * 2. Norm augmentation (Bachrach et al. 2014, "Speeding up the Xbox recommender system using a
 *    Euclidean transformation for inner-product spaces"; Neyshabur & Srebro 2015): with
 *    M ≥ max_i ‖x_i‖, item x_i = [v_i, b_i] gets the extra coordinate √(M² − ‖x_i‖²) and the
 *    query q = [u, 1] gets 0. Every augmented item has norm M, and
 *        ‖q' − x_i'‖² = ‖q‖² + M² − 2⟨q, x_i⟩,
 *    so the nearest item in L2 is the item of largest biased inner product.
 *
 * Items of norm above M (added after the build) cannot be augmented exactly; the HNSW index
 * keeps them aside and scans them exactly (src/index/hnsw.ts).
 */

/** Row-wise [v, b, √(M² − ‖[v, b]‖²)] (dim + 2 columns); M is the largest norm unless given. */
export function augmentItems(vectors: Float32Array, biases: Float32Array, dim: number, maxNorm?: number): { vectors: Float32Array; dim: number; maxNorm: number } {
  const n = biases.length;
  const D = dim + 2;
  const norms2 = new Float64Array(n);
  let max2 = 0;
  for (let i = 0; i < n; i++) {
    let s = biases[i] * biases[i];
    const o = i * dim;
    for (let j = 0; j < dim; j++) s += vectors[o + j] * vectors[o + j];
    norms2[i] = s;
    if (s > max2) max2 = s;
  }
  const M = maxNorm ?? Math.sqrt(max2);
  const out = new Float32Array(n * D);
  for (let i = 0; i < n; i++) augmentItemInto(vectors, i * dim, biases[i], dim, M, out, i * D, norms2[i]);
  return { vectors: out, dim: D, maxNorm: M };
}

/** Squared norm of [v, b]. */
export function itemNorm2(vectors: Float32Array, offset: number, bias: number, dim: number): number {
  let s = bias * bias;
  for (let j = 0; j < dim; j++) s += vectors[offset + j] * vectors[offset + j];
  return s;
}

/** Writes one augmented item; an item of norm above M gets 0 as its extra coordinate. */
export function augmentItemInto(vectors: Float32Array, offset: number, bias: number, dim: number, M: number, out: Float32Array, outOffset: number, norm2 = itemNorm2(vectors, offset, bias, dim)): void {
  for (let j = 0; j < dim; j++) out[outOffset + j] = vectors[offset + j];
  out[outOffset + dim] = bias;
  out[outOffset + dim + 1] = Math.sqrt(Math.max(0, M * M - norm2));
}

/** [u, 1, 0]: the query of the augmented L2 problem. */
export function augmentQuery(query: Float32Array, dim: number, out: Float32Array | number[] = new Float32Array(dim + 2)): Float32Array | number[] {
  for (let j = 0; j < dim; j++) out[j] = query[j];
  out[dim] = 1;
  out[dim + 1] = 0;
  return out;
}
