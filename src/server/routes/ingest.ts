/**
 * Batch ingestion: POST /users, POST /items, POST /events.
 *
 * Body: a JSON array of entities, or an object holding the array under the kind's name
 * (`{"events": [...]}`). Each entry is validated on its own (src/data/schema.ts); the valid
 * ones are written in one SQLite transaction that commits before the response is sent, so
 * accepted entries are durable once the client has the answer. The response lists every
 * refused entry with its index, field, code and message. When every entry of a non-empty
 * batch is refused the answer is 400 BATCH_REJECTED (same entry errors, in `details`).
 */
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import type { EntityKind, Event, Item, User } from '../../data/model.js';
import type { BatchResult } from '../../store/types.js';
import { ApiError, errorResponses, type ErrorDetail } from '../errors.js';

/** Shared JSON schemas of entities, registered once with `app.addSchema` (OpenAPI components). */
export const entitySchemas = [
  {
    $id: 'User',
    type: 'object',
    description: 'A user as sent by clients. Unknown top-level fields are ignored; put free data in attributes.',
    required: ['id'],
    properties: {
      id: { type: 'string', minLength: 1, maxLength: 256 },
      attributes: { type: 'object', additionalProperties: true, description: 'free JSON attributes' },
    },
  },
  {
    $id: 'Item',
    type: 'object',
    description: 'An item as sent by clients.',
    required: ['id'],
    properties: {
      id: { type: 'string', minLength: 1, maxLength: 256 },
      title: { type: 'string' },
      categories: { type: 'array', items: { type: 'string' } },
      tags: { type: 'array', items: { type: 'string' } },
      price: { type: 'number', minimum: 0 },
      available: { type: 'boolean', description: 'false hides the item from recommendations (default true)' },
      createdAt: { type: ['number', 'string'], description: 'epoch milliseconds or an ISO-8601 date' },
      text: { type: 'string' },
      imageUrl: { type: 'string' },
      attributes: { type: 'object', additionalProperties: true },
    },
  },
  {
    $id: 'EventContext',
    type: 'object',
    additionalProperties: true,
    properties: {
      scene: { type: 'string' },
      position: { type: 'integer', minimum: 0 },
      requestId: { type: 'string', description: 'the recommendation request the event answers (attribution)' },
      device: { type: 'string' },
    },
  },
  {
    $id: 'Event',
    type: 'object',
    description: 'An interaction. Events with an id are deduplicated by it.',
    required: ['userId', 'itemId', 'type', 'timestamp'],
    properties: {
      id: { type: 'string', maxLength: 256 },
      userId: { type: 'string', minLength: 1, maxLength: 256 },
      itemId: { type: 'string', minLength: 1, maxLength: 256 },
      type: { type: 'string', maxLength: 64, description: 'impression, view, click, add_to_cart, purchase, rating, like, dislike, share, dwell, or a custom type' },
      value: { type: 'number', description: 'rating, dwell seconds, amount... depending on the type' },
      timestamp: { type: ['number', 'string'], description: 'epoch milliseconds or an ISO-8601 date' },
      context: { $ref: 'EventContext#' },
    },
  },
  {
    $id: 'EntryError',
    type: 'object',
    required: ['index', 'code', 'message'],
    properties: {
      index: { type: 'integer', description: 'position of the entry in the batch (0-based)' },
      field: { type: 'string' },
      code: { type: 'string', description: 'MISSING_FIELD, INVALID_TYPE, INVALID_VALUE, NOT_AN_OBJECT, ID_TOO_LONG, UNKNOWN_EVENT_TYPE, UNKNOWN_USER, UNKNOWN_ITEM' },
      message: { type: 'string' },
    },
  },
  {
    $id: 'BatchResult',
    type: 'object',
    required: ['accepted', 'duplicates', 'rejected', 'errors'],
    properties: {
      accepted: { type: 'integer', description: 'entries written (durable when this response is sent)' },
      duplicates: { type: 'integer', description: 'events skipped because their id was already stored' },
      rejected: { type: 'integer', description: 'entries refused (see errors)' },
      errors: { type: 'array', items: { $ref: 'EntryError#' } },
    },
  },
] as const;

const SCHEMA_OF: Record<EntityKind, string> = { users: 'User', items: 'Item', events: 'Event' };

/**
 * The entries of a batch body, or a 400/413 ApiError. Accepts an array, or `{ "<kind>": [...] }`.
 */
export function extractBatch(body: unknown, kind: EntityKind, maxBatch: number): unknown[] {
  let entries: unknown;
  const shape = `a JSON array of ${kind} (or {"${kind}": [...]})`;
  if (Array.isArray(body)) entries = body;
  else if (typeof body === 'object' && body !== null) {
    const obj = body as Record<string, unknown>;
    const details: ErrorDetail[] = [];
    for (const k of Object.keys(obj)) {
      if (k !== kind) details.push({ field: `body.${k}`, code: 'UNKNOWN_FIELD', message: `body.${k} is not a known field; expected only "${kind}"` });
    }
    if (!(kind in obj)) details.push({ field: `body.${kind}`, code: 'MISSING_FIELD', message: `body.${kind} is required: the body must be ${shape}` });
    else if (!Array.isArray(obj[kind])) details.push({ field: `body.${kind}`, code: 'INVALID_TYPE', message: `body.${kind} must be an array` });
    if (details.length) throw new ApiError('VALIDATION_FAILED', `invalid request: the body must be ${shape}`, details);
    entries = obj[kind];
  } else {
    const none = body === undefined || body === null;
    const got = none ? 'no body' : typeof body;
    throw new ApiError('VALIDATION_FAILED', `invalid request: the body must be ${shape}, got ${got}`, [
      { field: 'body', code: none ? 'MISSING_FIELD' : 'INVALID_TYPE', message: `body must be ${shape}` },
    ]);
  }
  const list = entries as unknown[];
  if (list.length > maxBatch) {
    throw new ApiError('BATCH_TOO_LARGE', `the batch has ${list.length} entries; at most ${maxBatch} per request (split it)`);
  }
  return list;
}

/** The response of an ingestion request (or 400 BATCH_REJECTED when nothing was taken). */
export function batchResponse(res: BatchResult, total: number): BatchResult & { rejected: number } {
  const rejected = new Set(res.errors.map((e) => e.index)).size;
  if (total > 0 && res.accepted === 0 && res.duplicates === 0 && rejected > 0) {
    throw new ApiError(
      'BATCH_REJECTED',
      `all ${total} ${total === 1 ? 'entry was' : 'entries were'} rejected; see details`,
      res.errors.map((e) => ({ ...e })),
    );
  }
  return { accepted: res.accepted, duplicates: res.duplicates, rejected, errors: res.errors };
}

const acceptAnyBody = () => (value: unknown) => ({ value });

export interface IngestRoutesOptions {
  maxBatch: number;
}

export const ingestRoutes: FastifyPluginAsync<IngestRoutesOptions> = async (app, opts) => {
  const kinds: { kind: EntityKind; summary: string; write: (req: FastifyRequest, entries: unknown[]) => Promise<BatchResult> }[] = [
    { kind: 'users', summary: 'Create or update users (batch)', write: (req, e) => req.tenant.store.upsertUsers(e as User[]) },
    { kind: 'items', summary: 'Create or update items (batch)', write: (req, e) => req.tenant.store.upsertItems(e as Item[]) },
    { kind: 'events', summary: 'Append events (batch)', write: (req, e) => req.tenant.store.appendEvents(e as Event[]) },
  ];
  for (const { kind, summary, write } of kinds) {
    app.post(
      `/${kind}`,
      {
        config: { scope: 'ingest' },
        // The body schema documents the shape (OpenAPI); entries are checked one by one by the
        // store so that one bad entry does not refuse the batch.
        validatorCompiler: acceptAnyBody,
        schema: {
          tags: ['ingestion'],
          summary,
          description:
            `Body: an array of ${kind}, or {"${kind}": [...]}. Valid entries are written (durably) even when others are refused; ` +
            'each refused entry is listed in `errors`. 400 BATCH_REJECTED when every entry is refused.',
          body: {
            anyOf: [
              { type: 'array', items: { $ref: `${SCHEMA_OF[kind]}#` } },
              { type: 'object', required: [kind], properties: { [kind]: { type: 'array', items: { $ref: `${SCHEMA_OF[kind]}#` } } } },
            ],
          },
          response: { 200: { $ref: 'BatchResult#' }, ...errorResponses(400, 401, 403, 413, 415, 429) },
        },
      },
      async (req) => {
        const entries = extractBatch(req.body, kind, opts.maxBatch);
        const res = await write(req, entries);
        const app = req.tenant.name;
        const m = req.server.funnel.metrics.ingested;
        if (res.accepted) m.inc({ app, kind, outcome: 'accepted' }, res.accepted);
        if (res.duplicates) m.inc({ app, kind, outcome: 'duplicate' }, res.duplicates);
        const rejected = new Set(res.errors.map((e) => e.index)).size;
        if (rejected) m.inc({ app, kind, outcome: 'rejected' }, rejected);
        return batchResponse(res, entries.length);
      },
    );
  }
};
