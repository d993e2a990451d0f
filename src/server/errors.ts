/**
 * The HTTP API's error catalogue and its one error shape:
 *
 *   { "error": { "code": "ITEM_NOT_FOUND", "message": "...", "details": [...] } }
 *
 * Every code a route may answer with is listed here with its HTTP status and a description;
 * docs/api.md documents each of them (test/server/errors.test.ts checks both). Codes are
 * stable: clients may branch on them. Entry-level codes inside batch results and `details`
 * (MISSING_FIELD, INVALID_TYPE, UNKNOWN_USER...) are the store's, listed in
 * src/data/schema.ts `ERROR_CODES`.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';

export interface ErrorSpec {
  status: number;
  description: string;
}

export const API_ERRORS = {
  VALIDATION_FAILED: { status: 400, description: 'the request (body, query string or path) is malformed; `details` lists every offending field' },
  INVALID_JSON: { status: 400, description: 'the body is not valid JSON (or is empty) although the content type says JSON' },
  BATCH_REJECTED: { status: 400, description: 'every entry of an ingestion batch was refused; `details` lists each entry error (index, field, code, message)' },
  APP_REQUIRED: { status: 400, description: 'the key spans several apps and the request did not name one with the X-Funnel-App header' },
  UNAUTHORIZED: { status: 401, description: 'no API key was sent (Authorization: Bearer KEY or X-API-Key: KEY)' },
  INVALID_API_KEY: { status: 401, description: 'the API key sent is not known' },
  FORBIDDEN: { status: 403, description: 'the API key lacks the scope the route needs (ingest, read or admin)' },
  APP_FORBIDDEN: { status: 403, description: "the X-Funnel-App header names an app the key does not belong to" },
  ROUTE_NOT_FOUND: { status: 404, description: 'no route for this method and path' },
  USER_NOT_FOUND: { status: 404, description: 'no user with this id' },
  ITEM_NOT_FOUND: { status: 404, description: 'no item with this id (or it was deleted)' },
  APP_NOT_FOUND: { status: 404, description: 'the X-Funnel-App header names no configured app' },
  PAYLOAD_TOO_LARGE: { status: 413, description: 'the body is larger than the configured limit (server.bodyLimit, default 10 MB)' },
  BATCH_TOO_LARGE: { status: 413, description: 'the batch has more entries than the configured limit (server.maxBatch, default 10000)' },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, description: 'the body has a content type other than application/json' },
  RATE_LIMITED: { status: 429, description: "the key's request rate is above its limit; retry after the Retry-After header's seconds" },
  INTERNAL_ERROR: { status: 500, description: 'an unexpected server failure; the message carries the request id to find it in the log' },
  REQUEST_TIMEOUT: { status: 503, description: 'the request took longer than the configured handler timeout (server.handlerTimeoutMs, default 30 s)' },
  STORE_BUSY: { status: 503, description: 'the store stayed locked by another writer (another worker) longer than its busy timeout; retry after the Retry-After header' },
  NOT_READY: { status: 503, description: 'the server cannot serve yet: a store is unreachable or a readiness check fails' },
  SHUTTING_DOWN: { status: 503, description: 'the server is draining before it stops; retry on another instance' },
  MODEL_NOT_LOADED: { status: 503, description: 'the route needs a trained model and none is loaded for this app' },
} as const satisfies Record<string, ErrorSpec>;

export type ApiErrorCode = keyof typeof API_ERRORS;

/** One element of `error.details`: which field (or batch entry) and why. */
export interface ErrorDetail {
  /** Position in a batch, for entry errors. */
  index?: number;
  /** Field path, e.g. `body.limit`, `querystring.types`, `userId`. */
  field?: string;
  code: string;
  message: string;
  [key: string]: unknown;
}

export interface ErrorBody {
  error: { code: string; message: string; details?: ErrorDetail[] };
}

/** An error with a catalogue code; thrown from hooks and handlers, shaped by the error handler. */
export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly statusCode: number;
  readonly details?: ErrorDetail[];
  /** Extra response headers (e.g. Retry-After). */
  readonly headers?: Record<string, string>;

  constructor(code: ApiErrorCode, message: string, details?: ErrorDetail[], headers?: Record<string, string>) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.statusCode = API_ERRORS[code].status;
    if (details && details.length) this.details = details;
    if (headers) this.headers = headers;
  }
}

export function errorBody(code: string, message: string, details?: ErrorDetail[]): ErrorBody {
  const error: ErrorBody['error'] = { code, message };
  if (details && details.length) error.details = details;
  return { error };
}

/** Maps an AJV keyword to the entry-level codes clients already know from batch results. */
function ajvCode(keyword: string): string {
  if (keyword === 'required') return 'MISSING_FIELD';
  if (keyword === 'type') return 'INVALID_TYPE';
  if (keyword === 'additionalProperties') return 'UNKNOWN_FIELD';
  return 'INVALID_VALUE';
}

interface AjvIssue {
  keyword: string;
  instancePath: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** `details` for a fastify schema validation failure: one entry per offending field. */
export function validationDetails(issues: AjvIssue[], context: string | undefined): ErrorDetail[] {
  const prefix = context ?? 'body';
  const out: ErrorDetail[] = [];
  const seen = new Set<string>();
  for (const v of issues) {
    let path = v.instancePath.replace(/^\//, '').replace(/\//g, '.');
    if (v.keyword === 'required' && typeof v.params?.missingProperty === 'string') path = path ? `${path}.${v.params.missingProperty}` : v.params.missingProperty;
    if (v.keyword === 'additionalProperties' && typeof v.params?.additionalProperty === 'string') {
      path = path ? `${path}.${v.params.additionalProperty}` : v.params.additionalProperty;
    }
    const field = path ? `${prefix}.${path}` : prefix;
    let message = `${field} ${v.message ?? 'is invalid'}`;
    if (v.keyword === 'additionalProperties') message = `${field} is not a known field`;
    if (v.keyword === 'required') message = `${field} is required`;
    const key = `${field}|${v.keyword}|${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ field, code: ajvCode(v.keyword), message });
  }
  return out;
}

const FASTIFY_CODES: Record<string, ApiErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'INVALID_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'VALIDATION_FAILED',
  FST_ERR_HANDLER_TIMEOUT: 'REQUEST_TIMEOUT',
};

const FASTIFY_MESSAGES: Partial<Record<ApiErrorCode, string>> = {
  INVALID_JSON: 'the body is not valid JSON',
  UNSUPPORTED_MEDIA_TYPE: 'unsupported content type; send the body as application/json',
};

/** Turns any error into a catalogue code, a status, a message and details. */
export function toApiError(err: FastifyError | Error, request: FastifyRequest, bodyLimit?: number): ApiError {
  if (err instanceof ApiError) return err;
  const fe = err as FastifyError & { validation?: AjvIssue[]; validationContext?: string };
  if (fe.validation) {
    const details = validationDetails(fe.validation, fe.validationContext);
    return new ApiError('VALIDATION_FAILED', `invalid request: ${details.map((d) => d.message).join('; ')}`, details);
  }
  const mapped = fe.code ? FASTIFY_CODES[fe.code] : undefined;
  if (mapped) {
    let message = FASTIFY_MESSAGES[mapped] ?? fe.message;
    if (fe.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') message = 'the body is empty although the content type is application/json';
    if (mapped === 'PAYLOAD_TOO_LARGE' && bodyLimit) message = `the body is larger than ${bodyLimit} bytes`;
    if (mapped === 'UNSUPPORTED_MEDIA_TYPE') message = `unsupported content type '${request.headers['content-type'] ?? ''}'; send application/json`;
    return new ApiError(mapped, message);
  }
  const sqliteCode = (err as { code?: unknown }).code;
  if (typeof sqliteCode === 'string' && sqliteCode.startsWith('SQLITE_BUSY')) {
    return new ApiError('STORE_BUSY', 'the store is busy with another writer; retry shortly', undefined, { 'retry-after': '1' });
  }
  const status = fe.statusCode ?? 500;
  if (status === 413) return new ApiError('PAYLOAD_TOO_LARGE', fe.message);
  if (status === 415) return new ApiError('UNSUPPORTED_MEDIA_TYPE', fe.message);
  if (status >= 400 && status < 500) return new ApiError('VALIDATION_FAILED', fe.message);
  return new ApiError('INTERNAL_ERROR', `internal error (request ${request.id}); see the server log`);
}

/** Sends an error in the catalogue's shape. */
export function sendError(reply: FastifyReply, err: ApiError): FastifyReply {
  if (err.headers) for (const [k, v] of Object.entries(err.headers)) reply.header(k, v);
  return reply.code(err.statusCode).type('application/json; charset=utf-8').send(errorBody(err.code, err.message, err.details));
}

/** JSON schema of the error shape (documented in the OpenAPI document). */
export const errorSchema = {
  $id: 'Error',
  type: 'object',
  description: 'Every error has this shape; `code` is stable (see docs/api.md).',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: Object.keys(API_ERRORS) },
        message: { type: 'string' },
        details: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: true,
            properties: {
              index: { type: 'integer' },
              field: { type: 'string' },
              code: { type: 'string' },
              message: { type: 'string' },
            },
          },
        },
      },
    },
  },
} as const;

/** Standard error responses for a route's schema (documentation of the codes it may send). */
export function errorResponses(...statuses: number[]): Record<string, { $ref: string; description: string }> {
  const out: Record<string, { $ref: string; description: string }> = {};
  for (const s of statuses) {
    const codes = Object.entries(API_ERRORS as Record<string, ErrorSpec>).filter(([, e]) => e.status === s).map(([c]) => c);
    out[String(s)] = { $ref: 'Error#', description: `error: ${codes.join(', ')}` };
  }
  return out;
}
