/**
 * Benchmark dataset loaders (MovieLens) into Timelines with id maps.
 *
 * The datasets are research-only and never shipped: they are read at run time from
 * `$FUNNEL_DATASETS`, else `../shared/datasets` next to the repository.
 *  - ml-100k/u.data: `user \t item \t rating \t unix-seconds`; genres from u.item (19 flags).
 *  - ml-latest-small/ratings.csv: `userId,movieId,rating,timestamp` (header, CRLF); genres from
 *    movies.csv (`movieId,title,genres` with `|`-separated genres, quoted titles).
 *
 * Users and items get dense indices in increasing numeric id order; the item category is the
 * first listed genre (-1 when none). Values are the ratings, timestamps epoch milliseconds.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'csv-parse/sync';
import { timelinesFromArrays, type Timelines } from '../models/retrieval/types.js';

export type MovieLensName = 'ml-100k' | 'ml-latest-small';
export const MOVIELENS_NAMES: readonly MovieLensName[] = ['ml-100k', 'ml-latest-small'];

export interface LoadedDataset {
  name: string;
  timelines: Timelines;
  /** Original ids by dense index. */
  userIds: string[];
  itemIds: string[];
  /** Item → category code (first genre), -1 when none. */
  itemCategories?: Int32Array;
  categoryNames?: string[];
  itemTitles?: string[];
}

/** Where the shared datasets live: $FUNNEL_DATASETS, else ../shared/datasets beside the repo. */
export function datasetsDir(): string {
  if (process.env.FUNNEL_DATASETS) return resolve(process.env.FUNNEL_DATASETS);
  const repo = resolve(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
  return resolve(repo, '..', 'shared', 'datasets');
}

/** True when the dataset's rating file is present (tests skip otherwise). */
export function hasDataset(name: MovieLensName, dir = datasetsDir()): boolean {
  return existsSync(join(dir, name, name === 'ml-100k' ? 'u.data' : 'ratings.csv'));
}

export interface RatingRows {
  users: string[];
  items: string[];
  ratings: Float64Array;
  /** Epoch seconds. */
  seconds: Float64Array;
}

function parseDelimited(text: string, sep: string, header: boolean, what: string): RatingRows {
  const lines = text.split(/\r?\n/);
  const users: string[] = [];
  const items: string[] = [];
  const r: number[] = [];
  const s: number[] = [];
  for (let l = header ? 1 : 0; l < lines.length; l++) {
    const line = lines[l];
    if (line.trim() === '') continue;
    const f = line.split(sep);
    if (f.length < 4) throw new Error(`${what}: line ${l + 1} has ${f.length} fields, expected 4`);
    const rating = Number(f[2]);
    const ts = Number(f[3]);
    if (!Number.isFinite(rating) || !Number.isFinite(ts)) throw new Error(`${what}: line ${l + 1}: bad rating or timestamp`);
    users.push(f[0].trim());
    items.push(f[1].trim());
    r.push(rating);
    s.push(ts);
  }
  return { users, items, ratings: Float64Array.from(r), seconds: Float64Array.from(s) };
}

/** Parses ml-100k's u.data (tab-separated, no header). */
export function parseU100kData(text: string): RatingRows {
  return parseDelimited(text, '\t', false, 'u.data');
}

/** Parses ml-latest-small's ratings.csv (header, CRLF or LF). */
export function parseRatingsCsv(text: string): RatingRows {
  const first = text.slice(0, text.indexOf('\n')).trim();
  if (!/^userId,movieId,rating,timestamp$/.test(first)) throw new Error(`ratings.csv: unexpected header '${first}'`);
  return parseDelimited(text, ',', true, 'ratings.csv');
}

function denseIds(ids: string[]): { list: string[]; index: Map<string, number> } {
  const list = [...new Set(ids)].sort((a, b) => {
    const na = Number(a);
    const nb = Number(b);
    return Number.isFinite(na) && Number.isFinite(nb) ? na - nb : a < b ? -1 : a > b ? 1 : 0;
  });
  return { list, index: new Map(list.map((id, i) => [id, i])) };
}

/** Rating rows → Timelines (values = ratings, timestamps in ms) with id maps. */
export function ratingsToDataset(name: string, rows: RatingRows): LoadedDataset {
  const u = denseIds(rows.users);
  const it = denseIds(rows.items);
  const n = rows.users.length;
  const userIdx = new Int32Array(n);
  const itemIdx = new Int32Array(n);
  const ms = new Float64Array(n);
  for (let e = 0; e < n; e++) {
    userIdx[e] = u.index.get(rows.users[e])!;
    itemIdx[e] = it.index.get(rows.items[e])!;
    ms[e] = rows.seconds[e] * 1000;
  }
  const timelines = timelinesFromArrays({
    userIdx, itemIdx, timestamp: ms, value: rows.ratings, numUsers: u.list.length, numItems: it.list.length,
  });
  return { name, timelines, userIds: u.list, itemIds: it.list };
}

const ML100K_GENRES = [
  'unknown', 'Action', 'Adventure', 'Animation', "Children's", 'Comedy', 'Crime', 'Documentary', 'Drama', 'Fantasy',
  'Film-Noir', 'Horror', 'Musical', 'Mystery', 'Romance', 'Sci-Fi', 'Thriller', 'War', 'Western',
];

/** Parses ml-100k's u.item (latin-1, `|`-separated; last 19 fields are genre flags). */
export function parseU100kItems(text: string): Map<string, { title: string; genres: string[] }> {
  const out = new Map<string, { title: string; genres: string[] }>();
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim()) continue;
    const f = line.split('|');
    if (f.length < 5 + ML100K_GENRES.length) continue;
    const flags = f.slice(f.length - ML100K_GENRES.length);
    out.set(f[0], { title: f[1], genres: ML100K_GENRES.filter((_, g) => flags[g] === '1') });
  }
  return out;
}

/** Parses ml-latest-small's movies.csv. */
export function parseMoviesCsv(text: string): Map<string, { title: string; genres: string[] }> {
  const rows = parse(text, { columns: true, skip_empty_lines: true, trim: true }) as { movieId: string; title: string; genres: string }[];
  const out = new Map<string, { title: string; genres: string[] }>();
  for (const r of rows) {
    const genres = r.genres === '(no genres listed)' ? [] : r.genres.split('|');
    out.set(r.movieId, { title: r.title, genres });
  }
  return out;
}

function attachCategories(d: LoadedDataset, meta: Map<string, { title: string; genres: string[] }>): void {
  const names: string[] = [];
  const code = new Map<string, number>();
  const cats = new Int32Array(d.itemIds.length).fill(-1);
  const titles: string[] = [];
  d.itemIds.forEach((id, i) => {
    const m = meta.get(id);
    titles.push(m?.title ?? '');
    const g = m?.genres[0];
    if (g === undefined) return;
    if (!code.has(g)) { code.set(g, names.length); names.push(g); }
    cats[i] = code.get(g)!;
  });
  d.itemCategories = cats;
  d.categoryNames = names;
  d.itemTitles = titles;
}

/** Loads a MovieLens dataset (ratings + first-genre categories). */
export async function loadMovieLens(name: MovieLensName, opts: { dir?: string } = {}): Promise<LoadedDataset> {
  const dir = join(opts.dir ?? datasetsDir(), name);
  if (!MOVIELENS_NAMES.includes(name)) throw new Error(`unknown dataset '${name}' (known: ${MOVIELENS_NAMES.join(', ')})`);
  if (!hasDataset(name, opts.dir ?? datasetsDir())) {
    throw new Error(`dataset ${name} not found in ${dir} (set FUNNEL_DATASETS to the folder holding ${name}/)`);
  }
  if (name === 'ml-100k') {
    const d = ratingsToDataset(name, parseU100kData(await readFile(join(dir, 'u.data'), 'utf8')));
    if (existsSync(join(dir, 'u.item'))) attachCategories(d, parseU100kItems(await readFile(join(dir, 'u.item'), 'latin1')));
    return d;
  }
  const d = ratingsToDataset(name, parseRatingsCsv(await readFile(join(dir, 'ratings.csv'), 'utf8')));
  if (existsSync(join(dir, 'movies.csv'))) attachCategories(d, parseMoviesCsv(await readFile(join(dir, 'movies.csv'), 'utf8')));
  return d;
}
