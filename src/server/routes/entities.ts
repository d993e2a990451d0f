/**
 * Reading and deleting single entities, and a user's timeline (debugging):
 * GET/DELETE /users/:id, GET/DELETE /items/:id, GET /users/:id/timeline.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { StoredEvent } from '../../data/model.js';
import { ApiError, errorResponses } from '../errors.js';

export const recordSchemas = [
  {
    $id: 'UserRecord',
    type: 'object',
    required: ['id', 'declared'],
    properties: {
      id: { type: 'string' },
      attributes: { type: 'object', additionalProperties: true },
      declared: { type: 'boolean', description: 'false for users only seen in events (never sent to POST /users)' },
    },
  },
  {
    $id: 'ItemRecord',
    type: 'object',
    required: ['id', 'declared', 'available'],
    properties: {
      id: { type: 'string' },
      title: { type: 'string' },
      categories: { type: 'array', items: { type: 'string' } },
      tags: { type: 'array', items: { type: 'string' } },
      price: { type: 'number' },
      available: { type: 'boolean' },
      createdAt: { type: 'number', description: 'epoch milliseconds' },
      text: { type: 'string' },
      imageUrl: { type: 'string' },
      attributes: { type: 'object', additionalProperties: true },
      declared: { type: 'boolean', description: 'false for items only seen in events (never sent to POST /items)' },
    },
  },
  {
    $id: 'TimelineEvent',
    type: 'object',
    required: ['seq', 'itemId', 'type', 'timestamp'],
    properties: {
      seq: { type: 'integer', description: 'position in the event log' },
      id: { type: 'string' },
      itemId: { type: 'string' },
      type: { type: 'string' },
      value: { type: 'number' },
      timestamp: { type: 'number', description: 'epoch milliseconds' },
      context: { $ref: 'EventContext#' },
    },
  },
] as const;

const idParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', minLength: 1, maxLength: 256 } },
} as const;

export const TIMELINE_MAX = 1000;

interface IdParams {
  id: string;
}
interface TimelineQuery {
  types?: string[];
  limit?: number;
  before?: number;
  after?: number;
}

export const entityRoutes: FastifyPluginAsync = async (app) => {
  app.get<{ Params: IdParams }>(
    '/users/:id',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['entities'],
        summary: 'A user',
        params: idParams,
        response: { 200: { $ref: 'UserRecord#' }, ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (req) => {
      const u = await req.tenant.store.getUser(req.params.id);
      if (!u) throw new ApiError('USER_NOT_FOUND', `no user '${req.params.id}'`);
      return u;
    },
  );

  app.delete<{ Params: IdParams }>(
    '/users/:id',
    {
      config: { scope: 'ingest' },
      schema: {
        tags: ['entities'],
        summary: 'Delete a user with every event of theirs',
        params: idParams,
        response: { 204: { type: 'null', description: 'deleted' }, ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (req, reply) => {
      if (!(await req.tenant.store.deleteUser(req.params.id))) throw new ApiError('USER_NOT_FOUND', `no user '${req.params.id}'`);
      return reply.code(204).send();
    },
  );

  app.get<{ Params: IdParams }>(
    '/items/:id',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['entities'],
        summary: 'An item',
        params: idParams,
        response: { 200: { $ref: 'ItemRecord#' }, ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (req) => {
      const it = await req.tenant.store.getItem(req.params.id);
      if (!it) throw new ApiError('ITEM_NOT_FOUND', `no item '${req.params.id}'`);
      return it;
    },
  );

  app.delete<{ Params: IdParams }>(
    '/items/:id',
    {
      config: { scope: 'ingest' },
      schema: {
        tags: ['entities'],
        summary: 'Delete (hide) an item; sending it again to POST /items restores it',
        params: idParams,
        response: { 204: { type: 'null', description: 'deleted' }, ...errorResponses(400, 401, 403, 404, 429) },
      },
    },
    async (req, reply) => {
      if (!(await req.tenant.store.deleteItem(req.params.id))) throw new ApiError('ITEM_NOT_FOUND', `no item '${req.params.id}'`);
      return reply.code(204).send();
    },
  );

  app.get<{ Params: IdParams; Querystring: TimelineQuery }>(
    '/users/:id/timeline',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['entities'],
        summary: "A user's events, most recent first (debugging)",
        params: idParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            types: {
              type: 'array',
              items: { type: 'string', minLength: 1 },
              description: 'only these event types: comma-separated (types=view,click) or repeated (types=view&types=click)',
            },
            limit: { type: 'integer', minimum: 1, maximum: TIMELINE_MAX, default: 100 },
            before: { type: 'integer', minimum: 0, description: 'only events with timestamp < before (epoch ms)' },
            after: { type: 'integer', minimum: 0, description: 'only events with timestamp >= after (epoch ms)' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['userId', 'count', 'events'],
            properties: {
              userId: { type: 'string' },
              count: { type: 'integer' },
              events: { type: 'array', items: { $ref: 'TimelineEvent#' } },
            },
          },
          ...errorResponses(400, 401, 403, 404, 429),
        },
      },
    },
    async (req) => {
      const { store } = req.tenant;
      const id = req.params.id;
      if ((await store.userIndex(id)) < 0) throw new ApiError('USER_NOT_FOUND', `no user '${id}'`);
      const q = req.query;
      const types = q.types?.flatMap((t) => t.split(',')).map((t) => t.trim()).filter(Boolean);
      const events: StoredEvent[] = await store.timeline(id, {
        types: types && types.length ? types : undefined,
        limit: q.limit ?? 100,
        before: q.before,
        after: q.after,
      });
      return { userId: id, count: events.length, events };
    },
  );
};
