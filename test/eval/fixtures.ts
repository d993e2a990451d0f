import { SmallRng, timelinesFromArrays, type Timelines } from '../../src/models/retrieval/types.js';

/**
 * A seeded synthetic rating log: `users` users with 3..40 events each over `items` items
 * (popularity skewed), ratings 1..5 in half steps, timestamps increasing per user by one day.
 */
export function syntheticRatings(users = 80, items = 60, seed = 7): Timelines {
  const rng = new SmallRng(seed);
  const u: number[] = [];
  const i: number[] = [];
  const v: number[] = [];
  const t: number[] = [];
  for (let user = 0; user < users; user++) {
    const n = 3 + rng.int(38);
    for (let e = 0; e < n; e++) {
      u.push(user);
      i.push(Math.floor(items * Math.pow(rng.next(), 2)));
      v.push(1 + rng.int(9) / 2);
      t.push(Date.UTC(2020, 0, 1) + (user % 7) * 3_600_000 + e * 86_400_000);
    }
  }
  // Shuffle the event order: builders must sort by time per user.
  const order = Array.from(u.keys());
  for (let k = order.length - 1; k > 0; k--) {
    const j = rng.int(k + 1);
    [order[k], order[j]] = [order[j], order[k]];
  }
  return timelinesFromArrays({
    userIdx: order.map((k) => u[k]), itemIdx: order.map((k) => i[k]), value: order.map((k) => v[k]), timestamp: order.map((k) => t[k]),
    numUsers: users, numItems: items,
  });
}

export function rows(t: Timelines): number[][] {
  const out: number[][] = [];
  for (let r = 0; r < t.numUsers; r++) out.push(Array.from(t.items.subarray(t.indptr[r], t.indptr[r + 1])));
  return out;
}
