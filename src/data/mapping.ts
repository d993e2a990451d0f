/**
 * Column mapping: which source column (or JSON key) feeds which field of a user, item or event,
 * how its text is converted (numbers, timestamps in s/ms/ISO, '|'-separated lists, one-hot flag
 * columns), and constants for fields a file does not carry (MovieLens has no event type: every
 * row is a 'rating').
 *
 * A `MappingSpec` is compiled against a file's header into a `Mapper` that turns records into
 * typed entities, or into per-field errors `{field, code, message, expected}`. Compilation fails
 * early (MappingError) when a named column is missing or a required field has no source, with
 * the header in the message. The delimited path reads numbers straight from the chunk text, so
 * only the strings an entity keeps are ever allocated.
 */
import { BUILTIN_EVENT_TYPES, type EntityKind, type Event, type Item, type User } from './model.js';
import type { FieldError } from './schema.js';
import type { RecordBatch } from './parse.js';
import { contextSlot, EventColumnsBuilder } from './event-columns.js';

export type TimeUnit = 's' | 'ms' | 'us' | 'ns' | 'iso' | 'auto';
export type ValueKind = 'string' | 'number' | 'integer' | 'boolean' | 'timestamp' | 'list' | 'auto';
export const TIME_UNITS: readonly TimeUnit[] = ['s', 'ms', 'us', 'ns', 'iso', 'auto'];
const VALUE_KINDS: readonly ValueKind[] = ['string', 'number', 'integer', 'boolean', 'timestamp', 'list', 'auto'];

/** Where one field comes from. */
export interface FieldSpec {
  /** Source column: a header name (or JSON key path, dots for nesting) or a 0-based index. */
  column?: string | number;
  /** Several 0/1 columns whose set ones give a list (`labels[j]` for `columns[j]`), e.g. MovieLens genre flags. */
  columns?: (string | number)[];
  labels?: string[];
  /** A constant instead of a column. */
  value?: string | number | boolean;
  /** Conversion; by default the target field's own type (attributes and context: string). */
  as?: ValueKind;
  /** Timestamps: unit of numbers ('auto': by magnitude) or 'iso'. Default 'auto'. */
  unit?: TimeUnit;
  /** Lists: separator (default '|'). */
  split?: string;
  /** Values treated as empty (e.g. '(no genres listed)', 'unknown'). */
  ignore?: string[];
  /** Value translation applied before conversion (e.g. event type names: { pv: 'view' }). */
  values?: Record<string, string>;
  /** The column may be missing from the header: the field is then left out (presets). */
  optional?: boolean;
}

/** A field source: a spec, a column name, or a 0-based column index; null leaves the field out. */
export type FieldSource = FieldSpec | string | number | null;

export interface MappingSpec {
  /** Target field → source. Targets: see `TARGETS`, plus `attributes.NAME` / `context.NAME`. */
  fields?: Record<string, FieldSource>;
  /** Look up targets not given in `fields` among the header by their usual names. Default true. */
  auto?: boolean;
  /** Unmapped columns: 'keep' as attributes (users, items) or context (events), or 'ignore'. Default 'keep'. */
  rest?: 'keep' | 'ignore';
  /** Values that mean "empty" in every column (e.g. 'unknown', 'NULL', 'NA'). */
  empty?: string[];
}

/** A field-level problem in one record. */
export interface MappedFieldError extends FieldError {
  /** What was expected, e.g. 'a number', 'epoch seconds/milliseconds or an ISO-8601 date'. */
  expected?: string;
}

/** The configuration does not fit the file (missing column, no source for a required field). */
export class MappingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MappingError';
  }
}

type TargetType = Exclude<ValueKind, 'auto'>;

/** Known target fields per kind, with their types. */
export const TARGETS: Record<EntityKind, Record<string, TargetType>> = {
  events: {
    id: 'string',
    userId: 'string',
    itemId: 'string',
    type: 'string',
    value: 'number',
    timestamp: 'timestamp',
    'context.scene': 'string',
    'context.position': 'integer',
    'context.requestId': 'string',
    'context.device': 'string',
  },
  items: {
    id: 'string',
    title: 'string',
    categories: 'list',
    tags: 'list',
    price: 'number',
    available: 'boolean',
    createdAt: 'timestamp',
    text: 'string',
    imageUrl: 'string',
  },
  users: { id: 'string' },
};

export const REQUIRED: Record<EntityKind, string[]> = {
  events: ['userId', 'itemId', 'type', 'timestamp'],
  items: ['id'],
  users: ['id'],
};

/** Prefix of free fields per kind. */
export const FREE_PREFIX: Record<EntityKind, string> = { events: 'context.', items: 'attributes.', users: 'attributes.' };

/** Usual column names of each target (compared lower-cased, without _ - . and spaces). */
const ALIASES: Record<EntityKind, Record<string, string[]>> = {
  events: {
    id: ['eventid', 'id'],
    userId: ['userid', 'user', 'uid', 'visitorid', 'customerid', 'customer', 'memberid'],
    itemId: ['itemid', 'item', 'iid', 'movieid', 'productid', 'product', 'sku', 'articleid', 'contentid'],
    type: ['type', 'eventtype', 'event', 'action', 'behavior', 'behaviour', 'interaction'],
    value: ['value', 'rating', 'score', 'weight', 'amount'],
    timestamp: ['timestamp', 'ts', 'time', 'datetime', 'eventtime', 'date', 'occurredat', 'createdat'],
    'context.scene': ['scene', 'contextscene', 'placement'],
    'context.position': ['position', 'contextposition', 'pos', 'rank', 'slot'],
    'context.requestId': ['requestid', 'contextrequestid', 'reqid', 'impressionid'],
    'context.device': ['device', 'contextdevice', 'platform'],
  },
  items: {
    id: ['itemid', 'id', 'item', 'movieid', 'productid', 'sku', 'iid'],
    title: ['title', 'name'],
    categories: ['categories', 'category', 'genres', 'genre'],
    tags: ['tags', 'tag', 'keywords'],
    price: ['price'],
    available: ['available', 'isavailable', 'instock', 'active'],
    createdAt: ['createdat', 'created', 'publishedat', 'published'],
    text: ['text', 'description', 'desc', 'summary', 'body'],
    imageUrl: ['imageurl', 'image', 'imageuri', 'icon', 'thumbnail'],
  },
  users: {
    id: ['userid', 'id', 'user', 'uid'],
  },
};

export function normalizeName(s: string): string {
  return s.toLowerCase().replace(/[\s_\-.]/g, '');
}

const BUILTIN = new Set<string>(BUILTIN_EVENT_TYPES);
/** Timestamps are epoch milliseconds between 1970 and 2200 (as the store accepts). */
export const MAX_TIMESTAMP = Date.UTC(2200, 0, 1);

const EXPECTED: Record<TargetType, string> = {
  string: 'text',
  number: 'a number',
  integer: 'an integer',
  boolean: 'a boolean (true/false, 1/0, yes/no)',
  timestamp: 'epoch seconds/milliseconds or an ISO-8601 date',
  list: 'a list of values',
};

// ---- conversions --------------------------------------------------------------------------------

const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22];
const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/**
 * A decimal number from s[a, b) (surrounding spaces allowed). Returns NaN for anything that is
 * not a plain decimal number (hex, 'Infinity', '1,5', text). Exact: digits are accumulated as
 * an integer and divided by a power of ten once (correctly rounded), else Number() is used.
 */
export function parseNumberRange(s: string, a: number, b: number): number {
  while (a < b && s.charCodeAt(a) <= 32) a++;
  while (b > a && s.charCodeAt(b - 1) <= 32) b--;
  if (a === b) return NaN;
  let i = a;
  let neg = false;
  let c = s.charCodeAt(i);
  if (c === 45 || c === 43) {
    neg = c === 45;
    i++;
  }
  let m = 0;
  let digits = 0;
  let decimals = 0;
  let dot = false;
  for (; i < b; i++) {
    c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      m = m * 10 + (c - 48);
      digits++;
      if (dot) decimals++;
    } else if (c === 46 && !dot) dot = true;
    else break;
  }
  if (i === b && digits > 0 && digits <= 15) {
    const v = decimals ? m / POW10[decimals] : m;
    return neg ? -v : v;
  }
  const t = s.slice(a, b);
  return NUMBER_RE.test(t) ? Number(t) : NaN;
}

export function parseNumberText(s: string): number {
  return parseNumberRange(s, 0, s.length);
}

const ISO_NO_ZONE = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;
const HAS_ZONE = /(Z|[+-]\d{2}:?\d{2}|\b(UTC|GMT)\b)$/i;

/** Milliseconds from a date text; times without a zone are UTC. NaN when not a date. */
export function parseDateText(s: string): number {
  const t = s.trim();
  if (t === '' || !/[-/:a-z]/i.test(t)) return NaN;
  if (ISO_NO_ZONE.test(t)) return Date.parse(t.replace(' ', 'T') + 'Z');
  if (HAS_ZONE.test(t)) return Date.parse(t);
  if (/^\d{4}-\d{2}-\d{2}$/.test(t)) return Date.parse(t);
  const utc = Date.parse(t + ' UTC');
  return Number.isFinite(utc) ? utc : Date.parse(t);
}

/** Epoch milliseconds from a number in `unit` ('auto': < 1e11 seconds, < 1e14 ms, < 1e17 µs, else ns). */
export function scaleEpoch(n: number, unit: TimeUnit): number {
  switch (unit) {
    case 's':
      return Math.round(n * 1000);
    case 'ms':
      return n;
    case 'us':
      return Math.round(n / 1000);
    case 'ns':
      return Math.round(n / 1e6);
    default: {
      const a = Math.abs(n);
      if (a < 1e11) return Math.round(n * 1000);
      if (a < 1e14) return n;
      if (a < 1e17) return Math.round(n / 1000);
      return Math.round(n / 1e6);
    }
  }
}

const TRUE = new Set(['true', '1', 'yes', 'y', 't']);
const FALSE = new Set(['false', '0', 'no', 'n', 'f']);

function show(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v) ?? String(v);
  return `'${s.length > 40 ? s.slice(0, 40) + '…' : s}'`;
}

/**
 * Shares the strings of low-cardinality columns (event types, scenes, devices, categories):
 * a hit costs a hash and a compare instead of a new string (and its garbage collection). A
 * column whose values rarely repeat turns interning off after a trial.
 */
class Interner {
  private readonly table: (string | undefined)[] = new Array(1024);
  private lookups = 0;
  private hits = 0;
  private on = true;
  get(s: string, a: number, b: number): string {
    const len = b - a;
    if (!this.on || len > 32) return s.slice(a, b);
    let h = len;
    for (let i = a; i < b; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
    const slot = (h ^ (h >>> 15)) & 1023;
    const cand = this.table[slot];
    if (++this.lookups === 20_000) this.on = this.hits > 15_000;
    if (cand !== undefined && cand.length === len && s.startsWith(cand, a)) {
      this.hits++;
      return cand;
    }
    const v = s.slice(a, b);
    this.table[slot] = v;
    return v;
  }
}

interface Conv {
  /** From text (a CSV cell or a JSON string). */
  text(s: string, errs: MappedFieldError[]): unknown;
  /** From a range of a chunk's text (delimited fast path). */
  range(s: string, a: number, b: number, errs: MappedFieldError[]): unknown;
  /** From a JSON value of any type. */
  json(v: unknown, errs: MappedFieldError[]): unknown;
}

function makeConv(target: string, kind: TargetType | 'auto', spec: FieldSpec): Conv {
  const ignore = spec.ignore && spec.ignore.length ? new Set(spec.ignore) : undefined;
  const values = spec.values;
  const bad = (errs: MappedFieldError[], got: unknown, k: TargetType = kind === 'auto' ? 'string' : kind) => {
    errs.push({ field: target, code: 'INVALID_TYPE', message: `${target}: expected ${EXPECTED[k]}, got ${show(got)}`, expected: EXPECTED[k] });
    return undefined;
  };
  const pre = (s: string): string | undefined => {
    if (values) {
      const v = values[s];
      if (v !== undefined) s = v;
    }
    if (s === '' || (ignore && ignore.has(s))) return undefined;
    return s;
  };
  const simple = !ignore && !values;
  switch (kind) {
    case 'string':
    case 'auto': {
      const auto = kind === 'auto';
      const text = (s: string, _errs: MappedFieldError[]): unknown => {
        const t = pre(s.trim());
        if (t === undefined) return undefined;
        if (auto) {
          const n = parseNumberText(t);
          if (Number.isFinite(n) && !/^[+-]?0\d/.test(t)) return n;
          const l = t.toLowerCase();
          if (l === 'true' || l === 'false') return l === 'true';
        }
        return t;
      };
      const intern = new Interner();
      // The previous row's value: logs come in sessions, so a user id (or a request id) often
      // repeats the row before; then the same string is handed out again, with no new one made.
      let last = '';
      return {
        text,
        range(s, a, b, errs) {
          if (simple && !auto) {
            while (a < b && s.charCodeAt(a) <= 32) a++;
            while (b > a && s.charCodeAt(b - 1) <= 32) b--;
            if (a === b) return undefined;
            if (last.length === b - a && s.startsWith(last, a)) return last;
            return (last = intern.get(s, a, b));
          }
          return text(s.slice(a, b), errs);
        },
        json(v, errs) {
          if (v === undefined || v === null) return undefined;
          if (typeof v === 'string') return text(v, errs);
          if (typeof v === 'number' || typeof v === 'boolean') return auto ? v : text(String(v), errs);
          if (auto) return v;
          return bad(errs, v);
        },
      };
    }
    case 'number':
    case 'integer': {
      const int = kind === 'integer';
      const check = (n: number, got: unknown, errs: MappedFieldError[]): unknown => {
        if (!Number.isFinite(n)) return bad(errs, got);
        if (int && !Number.isInteger(n)) return bad(errs, got);
        return n;
      };
      const text = (s: string, errs: MappedFieldError[]): unknown => {
        const t = pre(s.trim());
        if (t === undefined) return undefined;
        return check(parseNumberText(t), t, errs);
      };
      return {
        text,
        range(s, a, b, errs) {
          if (!simple) return text(s.slice(a, b), errs);
          const n = parseNumberRange(s, a, b);
          if (n === n) return int && !Number.isInteger(n) ? bad(errs, s.slice(a, b)) : n;
          const t = s.slice(a, b);
          return t.trim() === '' ? undefined : bad(errs, t);
        },
        json(v, errs) {
          if (v === undefined || v === null) return undefined;
          if (typeof v === 'number') return check(v, v, errs);
          if (typeof v === 'string') return text(v, errs);
          return bad(errs, v);
        },
      };
    }
    case 'boolean': {
      const text = (s: string, errs: MappedFieldError[]): unknown => {
        const t = pre(s.trim());
        if (t === undefined) return undefined;
        const l = t.toLowerCase();
        if (TRUE.has(l)) return true;
        if (FALSE.has(l)) return false;
        return bad(errs, t);
      };
      return {
        text,
        range: (s, a, b, errs) => text(s.slice(a, b), errs),
        json(v, errs) {
          if (v === undefined || v === null) return undefined;
          if (typeof v === 'boolean') return v;
          if (v === 0 || v === 1) return v === 1;
          if (typeof v === 'string') return text(v, errs);
          return bad(errs, v);
        },
      };
    }
    case 'timestamp': {
      const unit = spec.unit ?? 'auto';
      // Event times are 1970..2200 (as the store wants); other dates (an old film's release) may be earlier.
      const lo = target === 'timestamp' ? 0 : -MAX_TIMESTAMP;
      const range = (n: number, got: unknown, errs: MappedFieldError[]): unknown => {
        if (n < lo || n >= MAX_TIMESTAMP) {
          const expected = `a time ${lo === 0 ? 'between 1970 and 2200' : 'before 2200'} (${unit === 'auto' ? 'epoch s/ms/µs by magnitude' : unit === 'iso' ? 'ISO-8601' : 'epoch ' + unit})`;
          errs.push({ field: target, code: 'INVALID_VALUE', message: `${target}: ${show(got)} is outside ${lo === 0 ? '1970..2200' : '..2200'}; check the unit (e.g. --map ${target}=COLUMN:s)`, expected });
          return undefined;
        }
        return n;
      };
      const fromText = (t: string, errs: MappedFieldError[]): unknown => {
        if (unit !== 'iso') {
          const n = parseNumberText(t);
          if (Number.isFinite(n)) return range(scaleEpoch(n, unit), t, errs);
        }
        const d = parseDateText(t);
        if (Number.isFinite(d)) return range(d, t, errs);
        return bad(errs, t);
      };
      const text = (s: string, errs: MappedFieldError[]): unknown => {
        const t = pre(s.trim());
        return t === undefined ? undefined : fromText(t, errs);
      };
      return {
        text,
        range(s, a, b, errs) {
          if (simple && unit !== 'iso') {
            const n = parseNumberRange(s, a, b);
            if (n === n) {
              const t = scaleEpoch(n, unit);
              // The text only for the error message.
              return t >= lo && t < MAX_TIMESTAMP ? t : range(t, s.slice(a, b), errs);
            }
          }
          return text(s.slice(a, b), errs);
        },
        json(v, errs) {
          if (v === undefined || v === null) return undefined;
          if (typeof v === 'number') return Number.isFinite(v) ? range(scaleEpoch(v, unit === 'iso' ? 'ms' : unit), v, errs) : bad(errs, v);
          if (typeof v === 'string') return text(v, errs);
          return bad(errs, v);
        },
      };
    }
    case 'list': {
      const sep = spec.split ?? '|';
      const text = (s: string, _errs: MappedFieldError[]): unknown => {
        const t = s.trim();
        if (t === '') return undefined;
        const out: string[] = [];
        for (const part of t.split(sep)) {
          const p = pre(part.trim());
          if (p !== undefined) out.push(p);
        }
        return out.length ? out : undefined;
      };
      return {
        text,
        range: (s, a, b, errs) => text(s.slice(a, b), errs),
        json(v, errs) {
          if (v === undefined || v === null) return undefined;
          if (typeof v === 'string') return text(v, errs);
          if (Array.isArray(v)) {
            const out: string[] = [];
            for (const x of v) {
              if (typeof x !== 'string' && typeof x !== 'number') return bad(errs, v);
              const p = pre(String(x).trim());
              if (p !== undefined) out.push(p);
            }
            return out.length ? out : undefined;
          }
          return bad(errs, v);
        },
      };
    }
  }
}

// ---- compilation --------------------------------------------------------------------------------

/** Reads one field of a record. */
type Reader = {
  target: string;
  /** What it reads, for messages and `describe()`. */
  source: string;
  cells(b: RecordBatch, i: number, errs: MappedFieldError[]): unknown;
  object(o: Record<string, unknown>, errs: MappedFieldError[]): unknown;
};

export interface CompileOptions {
  /** Refuse event types outside the built-in list and `customEventTypes`. */
  strictTypes?: boolean;
  customEventTypes?: Iterable<string>;
  /** Label for messages (the file). */
  file?: string;
}

export interface Mapper<T> {
  readonly kind: EntityKind;
  /** target → source description ("userId ← column user_id"). */
  describe(): string[];
  /** Targets this mapper fills (for empty-rate statistics). */
  readonly targets: string[];
  /** Record i of a batch → entity; on failure undefined, with `errs` filled. */
  fromBatch(b: RecordBatch, i: number, errs: MappedFieldError[]): T | undefined;
  /** A JSON value (JSON Lines record) → entity. */
  fromObject(v: unknown, errs: MappedFieldError[]): T | undefined;
  /**
   * Events of a delimited file only: record i straight into columns (no object per event when
   * its fields fit them); false, with `errs` filled, when the record is refused.
   */
  eventInto?(b: RecordBatch, i: number, errs: MappedFieldError[], out: EventColumnsBuilder): boolean;
}

function resolveColumn(
  ref: string | number,
  header: string[] | undefined,
  columns: number | undefined,
  target: string,
  file: string,
): number {
  if (typeof ref === 'number') {
    if (!Number.isInteger(ref) || ref < 0 || (columns !== undefined && ref >= columns)) {
      throw new MappingError(`${file}: column #${Number(ref) + 1} for ${target} does not exist (the file has ${columns ?? '?'} columns)`);
    }
    return ref;
  }
  if (!header) {
    const m = /^#?(\d+)$/.exec(ref);
    if (m) return resolveColumn(Number(m[1]) - 1, header, columns, target, file);
    throw new MappingError(`${file}: the file has no header, so ${target} cannot come from column '${ref}'; name columns by position (#1, #2, ...)`);
  }
  let idx = header.indexOf(ref);
  if (idx < 0) idx = header.findIndex((h) => normalizeName(h) === normalizeName(ref));
  if (idx < 0) {
    const m = /^#(\d+)$/.exec(ref);
    if (m) return resolveColumn(Number(m[1]) - 1, header, columns, target, file);
    throw new MappingError(`${file}: column '${ref}' (for ${target}) is not in the header (${header.join(', ')})`);
  }
  return idx;
}

function getPath(o: Record<string, unknown>, path: string[]): unknown {
  let v: unknown = o;
  for (const p of path) {
    if (typeof v !== 'object' || v === null) return undefined;
    v = (v as Record<string, unknown>)[p];
  }
  return v;
}

function targetType(kind: EntityKind, target: string): TargetType | 'auto' {
  const t = TARGETS[kind][target];
  if (t) return t;
  return 'string';
}

function isKnownTarget(kind: EntityKind, target: string): boolean {
  return target in TARGETS[kind] || (target.startsWith(FREE_PREFIX[kind]) && target.length > FREE_PREFIX[kind].length);
}

function toSpec(src: FieldSource): FieldSpec | null {
  if (src === null) return null;
  if (typeof src === 'string' || typeof src === 'number') return { column: src };
  return src;
}

/**
 * Compiles a mapping for a file. `header`: its column names (delimited with header); `columns`:
 * fields per record (headerless delimited); neither for JSON Lines.
 */
export function compileMapping<K extends EntityKind>(
  kind: K,
  spec: MappingSpec | undefined,
  source: { format: 'delimited' | 'jsonl'; header?: string[]; columns?: number },
  opts: CompileOptions = {},
): Mapper<K extends 'events' ? Event : K extends 'items' ? Item : User> {
  const file = opts.file ?? 'input';
  const fields: Record<string, FieldSpec | null> = {};
  const header = source.header;
  const empty = spec?.empty ?? [];
  for (const [t, s] of Object.entries(spec?.fields ?? {})) {
    if (!isKnownTarget(kind, t)) {
      throw new MappingError(
        `${file}: unknown ${kind.slice(0, -1)} field '${t}' in the mapping; expected one of ${Object.keys(TARGETS[kind]).join(', ')} or ${FREE_PREFIX[kind]}NAME`,
      );
    }
    let f = toSpec(s);
    if (f && f.optional && source.format !== 'jsonl' && typeof f.column === 'string' && header) {
      const ref = f.column;
      if (!header.includes(ref) && !header.some((h) => normalizeName(h) === normalizeName(ref))) f = null;
    }
    if (f && empty.length) f = { ...f, ignore: [...(f.ignore ?? []), ...empty] };
    fields[t] = f;
  }
  const auto = spec?.auto ?? true;
  const keepRest = (spec?.rest ?? 'keep') === 'keep';
  const readers: Reader[] = [];
  const jsonl = source.format === 'jsonl';
  const used = new Set<number>();

  // Explicit columns named in the spec are used whatever the auto mapping finds.
  for (const [t, s] of Object.entries(fields)) {
    if (!s || jsonl) continue;
    if (s.column !== undefined) used.add(resolveColumn(s.column, header, source.columns, t, file));
    for (const c of s.columns ?? []) used.add(resolveColumn(c, header, source.columns, t, file));
  }

  // Auto: targets without an explicit source, looked up by usual names.
  const autoTargets = new Map<string, string[]>();
  if (auto) {
    for (const [t, aliases] of Object.entries(ALIASES[kind])) {
      if (t in fields) continue;
      if (jsonl) {
        autoTargets.set(t, aliases);
        continue;
      }
      if (!header) continue;
      const norm = header.map(normalizeName);
      let found = -1;
      // An exact target name wins, then aliases in order of preference.
      const exact = norm.indexOf(normalizeName(t));
      if (exact >= 0 && !used.has(exact)) found = exact;
      for (const a of aliases) {
        if (found >= 0) break;
        const j = norm.findIndex((h, idx) => h === a && !used.has(idx));
        if (j >= 0) found = j;
      }
      if (found >= 0) {
        fields[t] = { column: found };
        used.add(found);
      }
    }
  }

  for (const [t, s] of Object.entries(fields)) {
    if (!s) continue;
    readers.push(makeReader(kind, t, s, header, source.columns, jsonl, file));
  }

  // Unmapped columns become attributes / context.
  if (keepRest && !jsonl && header) {
    header.forEach((name, col) => {
      if (used.has(col) || name === '') return;
      const t = FREE_PREFIX[kind] + name;
      if (t in fields) return;
      readers.push(makeReader(kind, t, { column: col, ignore: empty.length ? empty : undefined }, header, source.columns, false, file));
    });
  }

  // JSON Lines: targets found by alias at run time; other keys kept as attributes/context.
  const jsonAuto: { target: string; keys: string[]; conv: Conv }[] = [];
  if (jsonl) {
    for (const [t, aliases] of autoTargets) {
      const keys = [...new Set([normalizeName(t.slice(t.indexOf('.') + 1)), ...aliases])];
      jsonAuto.push({ target: t, keys, conv: checked(t, makeConv(t, targetType(kind, t), { ignore: empty })) });
    }
  }
  const normCache = new Map<string, string>();
  const explicitKeys = new Set<string>();
  if (jsonl) for (const s of Object.values(fields)) if (s && typeof s.column === 'string' && !s.column.includes('.')) explicitKeys.add(s.column);

  const required = REQUIRED[kind];
  for (const r of required) {
    if (fields[r]) continue;
    if (jsonl && autoTargets.has(r)) continue;
    const looked = ALIASES[kind][r];
    const where = header ? `in the header (${header.join(', ')})` : 'and the file has no header';
    const how =
      r === 'type'
        ? `pass --map type=COLUMN, or a constant type with --map type==view`
        : r === 'timestamp'
          ? `pass --map timestamp=COLUMN (unit with :s, :ms or :iso), or a constant with --map timestamp==2020-01-01`
          : `pass --map ${r}=COLUMN${header ? '' : ' (columns by position: #1, #2, ...)'}`;
    throw new MappingError(`${file}: no column for ${kind.slice(0, -1)} field ${r} (looked for ${looked.join(', ')} ${where}); ${how}`);
  }

  const targets = [...new Set([...readers.map((r) => r.target), ...jsonAuto.map((j) => j.target)])];
  const strict = kind === 'events' && Boolean(opts.strictTypes);
  const allowed = new Set<string>([...BUILTIN, ...(opts.customEventTypes ?? [])]);
  const freePrefix = FREE_PREFIX[kind];
  const freeKey = freePrefix.slice(0, -1); // 'context' | 'attributes'

  /** Builds the entity from the values read; checks required fields and event types. */
  const build = (get: (t: string) => unknown, errs: MappedFieldError[], errCount: number, extra?: Record<string, unknown>) => {
    const hasErr = (t: string) => {
      for (let k = errCount; k < errs.length; k++) if (errs[k].field === t) return true;
      return false;
    };
    for (const r of required) {
      const v = get(r);
      if (v === undefined && !hasErr(r)) {
        errs.push({ field: r, code: 'MISSING_FIELD', message: `${r} is required but ${sourceOf(r)} is empty`, expected: EXPECTED[TARGETS[kind][r]] });
      }
    }
    if (kind === 'events') {
      const type = get('type');
      if (typeof type === 'string') {
        if (type.length > 64) errs.push({ field: 'type', code: 'INVALID_VALUE', message: `type must be at most 64 characters, got ${type.length}`, expected: 'at most 64 characters' });
        else if (strict && !allowed.has(type)) {
          errs.push({
            field: 'type',
            code: 'UNKNOWN_EVENT_TYPE',
            message: `unknown event type ${show(type)} (strict types); expected one of ${[...allowed].join(', ')}`,
            expected: [...allowed].join(', '),
          });
        }
      }
    }
    if (errs.length > errCount) return undefined;
    const out: Record<string, unknown> = {};
    let free: Record<string, unknown> | undefined;
    for (const t of targets) {
      const v = get(t);
      if (v === undefined) continue;
      if (t.startsWith(freePrefix)) (free ??= {})[t.slice(freePrefix.length)] = v;
      else out[t] = v;
    }
    if (extra) for (const [k, v] of Object.entries(extra)) if (v !== undefined && !(free && k in free)) (free ??= {})[k] = v;
    if (free) out[freeKey] = free;
    return out;
  };

  const sourceOf = (t: string): string => {
    const r = readers.find((x) => x.target === t);
    if (r) return r.source;
    const j = jsonAuto.find((x) => x.target === t);
    return j ? `the record has no key ${j.keys.slice(0, 3).join(' / ')}, or it` : 'its column';
  };

  const readerIndex = new Map(readers.map((r, i) => [r.target, i]));
  const vals: unknown[] = new Array(readers.length);

  // ---- delimited hot path: events get a dedicated builder ----
  let fromBatch: (b: RecordBatch, i: number, errs: MappedFieldError[]) => unknown;
  let eventInto: Mapper<unknown>['eventInto'];
  if (kind === 'events' && !jsonl) {
    const ri = (t: string) => readerIndex.get(t) ?? -1;
    const iId = ri('id');
    const iUser = ri('userId');
    const iItem = ri('itemId');
    const iType = ri('type');
    const iValue = ri('value');
    const iTs = ri('timestamp');
    const ctxReaders = readers.map((r, k) => ({ r, k })).filter((x) => x.r.target.startsWith('context.'));
    const ctxKeys = ctxReaders.map((x) => x.r.target.slice(8));
    const typeOk = (type: unknown) => typeof type === 'string' && type.length <= 64 && (!strict || allowed.has(type));
    /** Every field of record i into `vals` (errors into errs). */
    const read = (b: RecordBatch, i: number, errs: MappedFieldError[]): void => {
      for (let k = 0; k < readers.length; k++) vals[k] = readers[k].cells(b, i, errs);
    };
    fromBatch = (b, i, errs) => {
      const errCount = errs.length;
      read(b, i, errs);
      const userId = vals[iUser];
      const itemId = vals[iItem];
      const type = vals[iType];
      const timestamp = vals[iTs];
      if (errs.length > errCount || userId === undefined || itemId === undefined || timestamp === undefined || !typeOk(type)) {
        return build((t) => vals[readerIndex.get(t) ?? -1], errs, errCount);
      }
      const ev: Event = { userId: userId as string, itemId: itemId as string, type: type as string, timestamp: timestamp as number };
      if (iValue >= 0 && vals[iValue] !== undefined) ev.value = vals[iValue] as number;
      if (iId >= 0 && vals[iId] !== undefined) ev.id = vals[iId] as string;
      let ctx: Record<string, unknown> | undefined;
      for (let k = 0; k < ctxReaders.length; k++) {
        const v = vals[ctxReaders[k].k];
        if (v !== undefined) (ctx ??= {})[ctxKeys[k]] = v;
      }
      if (ctx) ev.context = ctx;
      return ev;
    };
    const ctxSlots = ctxKeys.map(contextSlot);
    const ctxIndex = ctxReaders.map((x) => x.k);
    eventInto = (b, i, errs, out) => {
      const errCount = errs.length;
      read(b, i, errs);
      const type = vals[iType];
      const value = iValue >= 0 ? vals[iValue] : undefined;
      const id = iId >= 0 ? vals[iId] : undefined;
      let fits = errs.length === errCount && typeOk(type) && EventColumnsBuilder.fits(vals[iUser], vals[iItem], type, vals[iTs], value, id);
      for (let k = 0; k < ctxIndex.length && fits; k++) fits = EventColumnsBuilder.fitsContext(ctxSlots[k], vals[ctxIndex[k]]);
      if (fits) {
        out.addFields(vals[iUser] as string, vals[iItem] as string, type as string, vals[iTs] as number, value as number | undefined, id as string | undefined, ctxKeys, ctxSlots, ctxIndex, vals);
        return true;
      }
      // Anything unusual: the object path (its checks and errors).
      errs.length = errCount;
      const ev = fromBatch(b, i, errs) as Event | undefined;
      if (ev === undefined) return false;
      out.add(ev);
      return true;
    };
  } else {
    fromBatch = (b, i, errs) => {
      const errCount = errs.length;
      for (let k = 0; k < readers.length; k++) vals[k] = readers[k].cells(b, i, errs);
      return build((t) => vals[readerIndex.get(t) ?? -1], errs, errCount);
    };
  }

  const fromObject = (v: unknown, errs: MappedFieldError[]): unknown => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) {
      errs.push({ field: '', code: 'NOT_AN_OBJECT', message: `expected a JSON object per line, got ${Array.isArray(v) ? 'an array' : show(v)}`, expected: 'a JSON object' });
      return undefined;
    }
    const o = v as Record<string, unknown>;
    const errCount = errs.length;
    const got = new Map<string, unknown>();
    for (const r of readers) got.set(r.target, r.object(o, errs));
    const consumed = new Set<string>(explicitKeys);
    if (jsonAuto.length) {
      // Keys by normalized name ('user_id', 'userId', 'UserID' → 'userid'); the first one wins.
      const byNorm = new Map<string, string>();
      for (const k in o) {
        let nk = normCache.get(k);
        if (nk === undefined) {
          nk = normalizeName(k);
          if (normCache.size < 10_000) normCache.set(k, nk);
        }
        if (!byNorm.has(nk)) byNorm.set(nk, k);
      }
      const nested = o[freeKey];
      const nestedObj = typeof nested === 'object' && nested !== null && !Array.isArray(nested) ? (nested as Record<string, unknown>) : undefined;
      for (const j of jsonAuto) {
        let val: unknown;
        let found = false;
        // The native shape first: context.scene / attributes.x inside the nested object.
        if (nestedObj && j.target.startsWith(freePrefix)) {
          const x = nestedObj[j.target.slice(freePrefix.length)];
          if (x !== undefined && x !== null) {
            val = j.conv.json(x, errs);
            found = true;
          }
        }
        if (!found) {
          for (const alias of j.keys) {
            const k = byNorm.get(alias);
            if (k === undefined || consumed.has(k)) continue;
            consumed.add(k);
            const x = o[k];
            if (x !== null && x !== undefined) {
              val = j.conv.json(x, errs);
              break;
            }
          }
        }
        if (got.get(j.target) === undefined) got.set(j.target, val);
      }
    }
    let extra: Record<string, unknown> | undefined;
    if (keepRest) {
      for (const [k, x] of Object.entries(o)) {
        if (consumed.has(k) || x === undefined || x === null) continue;
        if (k === freeKey && typeof x === 'object') {
          if (Array.isArray(x)) {
            errs.push({ field: freeKey, code: 'INVALID_TYPE', message: `${freeKey} must be an object, got an array`, expected: 'an object' });
            continue;
          }
          for (const [k2, x2] of Object.entries(x as Record<string, unknown>)) {
            if (!got.has(freePrefix + k2) || got.get(freePrefix + k2) === undefined) (extra ??= {})[k2] = x2;
          }
          continue;
        }
        (extra ??= {})[k] = x;
      }
    }
    return build((t) => got.get(t), errs, errCount, extra);
  };

  const describe = () => {
    const lines = readers.map((r) => `${r.target} ← ${r.source}`);
    for (const j of jsonAuto) lines.push(`${j.target} ← first key named ${j.keys.join(' / ')} (any case, _ or -)`);
    if (jsonl && keepRest) lines.push(`other keys → ${freeKey}`);
    return lines;
  };

  return {
    kind,
    targets,
    describe,
    fromBatch: fromBatch as never,
    fromObject: fromObject as never,
    eventInto,
  };
}

/** Field limits the store enforces (schema.ts), checked here so that rejects carry line numbers. */
const MAX_ID = 256;
const LIMITS: Record<string, (v: unknown) => MappedFieldError | undefined> = {
  id: idLimit('id'),
  userId: idLimit('userId'),
  itemId: idLimit('itemId'),
  price: (v) =>
    typeof v === 'number' && v < 0 ? { field: 'price', code: 'INVALID_VALUE', message: `price must be >= 0, got ${v}`, expected: 'a number >= 0' } : undefined,
  'context.position': (v) =>
    typeof v === 'number' && v < 0
      ? { field: 'context.position', code: 'INVALID_VALUE', message: `context.position must be an integer >= 0, got ${v}`, expected: 'an integer >= 0' }
      : undefined,
};

function idLimit(field: string): (v: unknown) => MappedFieldError | undefined {
  return (v) =>
    typeof v === 'string' && v.length > MAX_ID
      ? { field, code: 'ID_TOO_LONG', message: `${field} is ${v.length} characters long; at most ${MAX_ID} allowed`, expected: `at most ${MAX_ID} characters` }
      : undefined;
}

/** Wraps a conversion with the target's limit check, if it has one. */
function checked(target: string, conv: Conv): Conv {
  const limit = LIMITS[target];
  if (!limit) return conv;
  const apply = (v: unknown, errs: MappedFieldError[]) => {
    if (v === undefined) return v;
    const e = limit(v);
    if (!e) return v;
    errs.push(e);
    return undefined;
  };
  return {
    text: (s, errs) => apply(conv.text(s, errs), errs),
    range: (s, a, b, errs) => apply(conv.range(s, a, b, errs), errs),
    json: (v, errs) => apply(conv.json(v, errs), errs),
  };
}

function makeReader(
  kind: EntityKind,
  target: string,
  spec: FieldSpec,
  header: string[] | undefined,
  columns: number | undefined,
  jsonl: boolean,
  file: string,
): Reader {
  const declared = spec.as;
  if (declared !== undefined && !VALUE_KINDS.includes(declared)) {
    throw new MappingError(`${file}: unknown conversion '${declared}' for ${target}; expected one of ${VALUE_KINDS.join(', ')}`);
  }
  const type: TargetType | 'auto' = declared ?? targetType(kind, target);
  if (spec.unit !== undefined && !TIME_UNITS.includes(spec.unit)) {
    throw new MappingError(`${file}: unknown time unit '${spec.unit}' for ${target}; expected one of ${TIME_UNITS.join(', ')}`);
  }
  const conv = checked(target, makeConv(target, type, spec));
  if (spec.value !== undefined) {
    const errs: MappedFieldError[] = [];
    const v = typeof spec.value === 'string' ? conv.text(spec.value, errs) : conv.json(spec.value, errs);
    if (errs.length) throw new MappingError(`${file}: the constant for ${target} is invalid: ${errs[0].message}`);
    return { target, source: `constant ${JSON.stringify(v)}`, cells: () => v, object: () => v };
  }
  if (spec.columns) {
    const labels = spec.labels;
    if (!labels || labels.length !== spec.columns.length) {
      throw new MappingError(`${file}: ${target} reads ${spec.columns.length} flag columns but has ${labels?.length ?? 0} labels`);
    }
    if (jsonl) {
      const keys = spec.columns.map(String);
      return {
        target,
        source: `flags ${keys.join(', ')}`,
        cells: () => undefined,
        object(o) {
          const out: string[] = [];
          keys.forEach((k, j) => {
            const x = o[k];
            if (x === 1 || x === true || x === '1' || x === 'true') out.push(labels[j]);
          });
          return out.length ? out : undefined;
        },
      };
    }
    const cols = spec.columns.map((c) => resolveColumn(c, header, columns, target, file));
    return {
      target,
      source: `flag columns ${cols.map((c) => (header ? header[c] : '#' + (c + 1))).join(', ')}`,
      cells(b, i, errs) {
        const out: string[] = [];
        for (let j = 0; j < cols.length; j++) {
          const f = b.field(i, cols[j]).trim();
          if (f === '1' || f === 'true') out.push(labels[j]);
          else if (f !== '0' && f !== '' && f !== 'false') {
            errs.push({ field: target, code: 'INVALID_TYPE', message: `${target}: flag column ${cols[j] + 1} should be 0 or 1, got ${show(f)}`, expected: '0 or 1' });
          }
        }
        return out.length ? out : undefined;
      },
      object: () => undefined,
    };
  }
  if (spec.column === undefined) throw new MappingError(`${file}: ${target} needs a column or a constant value`);
  if (jsonl) {
    const path = String(spec.column).split('.');
    const key = path[0];
    return {
      target,
      source: `key ${spec.column}`,
      cells: () => undefined,
      object: (o, errs) => conv.json(path.length === 1 ? o[key] : getPath(o, path), errs),
    };
  }
  const col = resolveColumn(spec.column, header, columns, target, file);
  const label = header ? `column ${header[col]}` : `column #${col + 1}`;
  return {
    target,
    source: label,
    cells(b, i, errs) {
      const k = b.cell0[i] + col;
      if (b.unescaped !== undefined) {
        const u = b.unescaped.get(k);
        if (u !== undefined) return conv.text(u, errs);
      }
      return conv.range(b.text, b.starts[k], b.ends[k], errs);
    },
    object: () => undefined,
  };
}

// ---- --map option -------------------------------------------------------------------------------

/** Canonical target name for a user-typed one ('user_id' → 'userId', 'request_id' → 'context.requestId'). */
export function canonicalTarget(kind: EntityKind, name: string): string | undefined {
  if (isKnownTarget(kind, name)) return name;
  const n = normalizeName(name);
  for (const t of Object.keys(TARGETS[kind])) {
    if (normalizeName(t) === n || normalizeName(t.replace(/^(context|attributes)\./, '')) === n) return t;
  }
  const ownId = kind === 'items' ? 'itemid' : kind === 'users' ? 'userid' : 'eventid';
  if (n === ownId) return 'id';
  return undefined;
}

/**
 * Parses `--map` text: comma-separated `TARGET=SOURCE[:OPTION]` entries.
 * SOURCE: a column name; `#N` (1-based position); `=VALUE` a constant (`type==rating`); empty to
 * leave the field out. OPTION: a time unit for timestamps (s, ms, us, ns, iso, auto), the
 * separator for lists, or a conversion (string, number, integer, boolean, timestamp, list, auto).
 */
export function parseMapOption(kind: EntityKind, text: string): Record<string, FieldSource> {
  const out: Record<string, FieldSource> = {};
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new MappingError(`--map: '${entry}' should be TARGET=COLUMN (e.g. userId=user_id, type==view, timestamp=ts:s)`);
    const name = entry.slice(0, eq).trim();
    const target = canonicalTarget(kind, name);
    if (!target) {
      throw new MappingError(`--map: unknown ${kind.slice(0, -1)} field '${name}'; expected one of ${Object.keys(TARGETS[kind]).join(', ')} or ${FREE_PREFIX[kind]}NAME`);
    }
    const src = entry.slice(eq + 1);
    if (src === '') {
      out[target] = null;
      continue;
    }
    if (src.startsWith('=')) {
      out[target] = { value: src.slice(1) };
      continue;
    }
    const spec: FieldSpec = {};
    let col = src;
    const colon = src.lastIndexOf(':');
    if (colon > 0) {
      const opt = src.slice(colon + 1);
      const type = targetType(kind, target);
      if (TIME_UNITS.includes(opt as TimeUnit) && (type === 'timestamp' || opt !== 'auto')) {
        spec.unit = opt as TimeUnit;
        if (type !== 'timestamp') spec.as = 'timestamp';
        col = src.slice(0, colon);
      } else if (VALUE_KINDS.includes(opt as ValueKind)) {
        spec.as = opt as ValueKind;
        col = src.slice(0, colon);
      } else if (type === 'list' && opt.length >= 1) {
        spec.split = opt;
        col = src.slice(0, colon);
      }
    }
    const m = /^#(\d+)$/.exec(col);
    if (m) {
      const n = Number(m[1]);
      if (n < 1) throw new MappingError(`--map: column positions start at #1, got '${col}'`);
      spec.column = n - 1;
    } else spec.column = col;
    out[target] = spec;
  }
  return out;
}
