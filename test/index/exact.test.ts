import { ExactIndex } from '../../src/index/exact.js';
import { indexConformance } from './conformance.js';

indexConformance('exact', {
  exact: true,
  build: (vectors, biases, dim, ids) => ExactIndex.build(vectors, biases, dim, ids),
  load: (dir) => ExactIndex.load(dir),
});
