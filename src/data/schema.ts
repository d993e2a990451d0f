/**
 * Validation of entity objects (as they arrive over the API or from a mapped file row).
 * Every check names the field and what was expected; codes are stable (see ERROR_CODES).
 */
import { BUILTIN_EVENT_TYPES, type Event, type EventContext, type Item, type User } from './model.js';

export interface FieldError {
  field: string;
  code: string;
  message: string;
}

export type Checked<T> = { ok: true; value: T } | { ok: false; errors: FieldError[] };

/** Stable error codes for entity validation. */
export const ERROR_CODES = {
  NOT_AN_OBJECT: 'the entry is not a JSON object',
  MISSING_FIELD: 'a required field is absent or empty',
  INVALID_TYPE: 'a field has the wrong type',
  INVALID_VALUE: 'a field has a value outside its domain',
  UNKNOWN_EVENT_TYPE: 'the event type is not built in nor configured (strict mode)',
  UNKNOWN_USER: 'the event names a user that does not exist (unknownEntities: reject)',
  UNKNOWN_ITEM: 'the event names an item that does not exist (unknownEntities: reject)',
  ID_TOO_LONG: 'an id is longer than 256 characters',
} as const;
export type ErrorCode = keyof typeof ERROR_CODES;

const MAX_ID = 256;
const BUILTIN = new Set<string>(BUILTIN_EVENT_TYPES);
/** Timestamps are epoch milliseconds between 1970 and 2200. */
const MAX_TS = Date.UTC(2200, 0, 1);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkId(obj: Record<string, unknown>, field: string, errors: FieldError[]): string | undefined {
  const v = obj[field];
  if (v === undefined || v === null || v === '') {
    errors.push({ field, code: 'MISSING_FIELD', message: `${field} is required (a non-empty string)` });
    return undefined;
  }
  if (typeof v !== 'string' && typeof v !== 'number') {
    errors.push({ field, code: 'INVALID_TYPE', message: `${field} must be a string, got ${typeName(v)}` });
    return undefined;
  }
  const s = String(v);
  if (s.length > MAX_ID) {
    errors.push({ field, code: 'ID_TOO_LONG', message: `${field} is ${s.length} characters long; at most ${MAX_ID} allowed` });
    return undefined;
  }
  return s;
}

export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** Parses a timestamp: epoch ms number, or an ISO-8601 string. */
export function parseTimestamp(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'string' && v.trim() !== '') {
    const n = Number(v);
    if (Number.isFinite(n)) return n;
    const t = Date.parse(v);
    return Number.isFinite(t) ? t : undefined;
  }
  return undefined;
}

function optString(obj: Record<string, unknown>, field: string, errors: FieldError[], path = field): string | undefined {
  const v = obj[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') {
    errors.push({ field: path, code: 'INVALID_TYPE', message: `${path} must be a string, got ${typeName(v)}` });
    return undefined;
  }
  return v;
}

function optNumber(obj: Record<string, unknown>, field: string, errors: FieldError[], path = field): number | undefined {
  const v = obj[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    errors.push({ field: path, code: 'INVALID_TYPE', message: `${path} must be a finite number, got ${typeName(v)}` });
    return undefined;
  }
  return v;
}

function optStringArray(obj: Record<string, unknown>, field: string, errors: FieldError[]): string[] | undefined {
  const v = obj[field];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) {
    errors.push({ field, code: 'INVALID_TYPE', message: `${field} must be an array of strings` });
    return undefined;
  }
  return v as string[];
}

function optAttributes(obj: Record<string, unknown>, field: string, errors: FieldError[]): Record<string, unknown> | undefined {
  const v = obj[field];
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) {
    errors.push({ field, code: 'INVALID_TYPE', message: `${field} must be an object, got ${typeName(v)}` });
    return undefined;
  }
  return v;
}

function result<T>(value: T, errors: FieldError[]): Checked<T> {
  return errors.length ? { ok: false, errors } : { ok: true, value };
}

export function checkUser(input: unknown): Checked<User> {
  if (!isObject(input)) return { ok: false, errors: [{ field: '', code: 'NOT_AN_OBJECT', message: `a user must be an object, got ${typeName(input)}` }] };
  const errors: FieldError[] = [];
  const id = checkId(input, 'id', errors);
  const attributes = optAttributes(input, 'attributes', errors);
  const user: User = { id: id ?? '' };
  if (attributes) user.attributes = attributes;
  return result(user, errors);
}

export function checkItem(input: unknown): Checked<Item> {
  if (!isObject(input)) return { ok: false, errors: [{ field: '', code: 'NOT_AN_OBJECT', message: `an item must be an object, got ${typeName(input)}` }] };
  const errors: FieldError[] = [];
  const item: Item = { id: checkId(input, 'id', errors) ?? '' };
  const title = optString(input, 'title', errors);
  if (title !== undefined) item.title = title;
  const categories = optStringArray(input, 'categories', errors);
  if (categories) item.categories = categories;
  const tags = optStringArray(input, 'tags', errors);
  if (tags) item.tags = tags;
  const price = optNumber(input, 'price', errors);
  if (price !== undefined) {
    if (price < 0) errors.push({ field: 'price', code: 'INVALID_VALUE', message: `price must be >= 0, got ${price}` });
    item.price = price;
  }
  const available = input.available;
  if (available !== undefined && available !== null) {
    if (typeof available !== 'boolean') errors.push({ field: 'available', code: 'INVALID_TYPE', message: `available must be a boolean, got ${typeName(available)}` });
    else item.available = available;
  }
  if (input.createdAt !== undefined && input.createdAt !== null) {
    const t = parseTimestamp(input.createdAt);
    if (t === undefined) errors.push({ field: 'createdAt', code: 'INVALID_TYPE', message: 'createdAt must be epoch milliseconds or an ISO-8601 date' });
    else item.createdAt = t;
  }
  const text = optString(input, 'text', errors);
  if (text !== undefined) item.text = text;
  const imageUrl = optString(input, 'imageUrl', errors);
  if (imageUrl !== undefined) item.imageUrl = imageUrl;
  const attributes = optAttributes(input, 'attributes', errors);
  if (attributes) item.attributes = attributes;
  return result(item, errors);
}

export interface EventCheckOptions {
  strictEventTypes?: boolean;
  customEventTypes?: Iterable<string>;
}

/**
 * The checks of `checkEvent` on fields already known to have the right JavaScript types
 * (strings, finite numbers): for columnar batches (event-columns.ts), which send only the
 * events these refuse through `checkEvent` itself.
 */
export const eventChecks = {
  id: (s: string): boolean => s.length > 0 && s.length <= MAX_ID,
  type: (t: string, opts: EventCheckOptions, allowed?: Set<string>): boolean =>
    t.length > 0 &&
    t.length <= 64 &&
    (!opts.strictEventTypes || BUILTIN.has(t) || (allowed ? allowed.has(t) : new Set(opts.customEventTypes ?? []).has(t))),
  timestamp: (t: number): boolean => t >= 0 && t <= MAX_TS,
  position: (p: number): boolean => Number.isInteger(p) && p >= 0,
};

export function checkEvent(input: unknown, opts: EventCheckOptions = {}, allowed?: Set<string>): Checked<Event> {
  if (!isObject(input)) return { ok: false, errors: [{ field: '', code: 'NOT_AN_OBJECT', message: `an event must be an object, got ${typeName(input)}` }] };
  const errors: FieldError[] = [];
  const userId = checkId(input, 'userId', errors);
  const itemId = checkId(input, 'itemId', errors);
  const type = input.type;
  let typeStr = '';
  if (type === undefined || type === null || type === '') errors.push({ field: 'type', code: 'MISSING_FIELD', message: 'type is required (e.g. view, click, purchase)' });
  else if (typeof type !== 'string') errors.push({ field: 'type', code: 'INVALID_TYPE', message: `type must be a string, got ${typeName(type)}` });
  else if (type.length > 64) errors.push({ field: 'type', code: 'INVALID_VALUE', message: 'type must be at most 64 characters' });
  else {
    typeStr = type;
    if (opts.strictEventTypes && !BUILTIN.has(type)) {
      const ok = allowed ? allowed.has(type) : new Set(opts.customEventTypes ?? []).has(type);
      if (!ok) errors.push({ field: 'type', code: 'UNKNOWN_EVENT_TYPE', message: `unknown event type '${type}'; expected one of ${[...BUILTIN_EVENT_TYPES].join(', ')} or a configured custom type` });
    }
  }
  let timestamp = 0;
  if (input.timestamp === undefined || input.timestamp === null || input.timestamp === '') {
    errors.push({ field: 'timestamp', code: 'MISSING_FIELD', message: 'timestamp is required (epoch milliseconds or ISO-8601)' });
  } else {
    const t = parseTimestamp(input.timestamp);
    if (t === undefined) errors.push({ field: 'timestamp', code: 'INVALID_TYPE', message: 'timestamp must be epoch milliseconds or an ISO-8601 date' });
    else if (t < 0 || t > MAX_TS) errors.push({ field: 'timestamp', code: 'INVALID_VALUE', message: `timestamp ${t} is outside 1970..2200 (epoch milliseconds expected)` });
    else timestamp = t;
  }
  const value = optNumber(input, 'value', errors);
  const id = input.id === undefined || input.id === null ? undefined : checkId(input, 'id', errors);
  const event: Event = { userId: userId ?? '', itemId: itemId ?? '', type: typeStr, timestamp };
  if (value !== undefined) event.value = value;
  if (id !== undefined) event.id = id;
  if (input.context !== undefined && input.context !== null) {
    if (!isObject(input.context)) errors.push({ field: 'context', code: 'INVALID_TYPE', message: `context must be an object, got ${typeName(input.context)}` });
    else {
      const c = input.context;
      const ctx: EventContext = { ...c };
      optString(c, 'scene', errors, 'context.scene');
      optString(c, 'requestId', errors, 'context.requestId');
      optString(c, 'device', errors, 'context.device');
      const pos = optNumber(c, 'position', errors, 'context.position');
      if (pos !== undefined && (!Number.isInteger(pos) || pos < 0)) errors.push({ field: 'context.position', code: 'INVALID_VALUE', message: 'context.position must be an integer >= 0' });
      event.context = ctx;
    }
  }
  return result(event, errors);
}
