/**
 * Liveness and readiness: GET /health answers 200 while the process runs; GET /health/ready
 * answers 200 when every app's store answers and every registered readiness check passes, and
 * 503 (NOT_READY, or SHUTTING_DOWN once a shutdown began) otherwise. Both are public.
 */
import type { FastifyPluginAsync } from 'fastify';
import { ApiError, errorResponses } from '../errors.js';

export const healthRoutes: FastifyPluginAsync = async (app) => {
  app.get(
    '/health',
    {
      config: { scope: 'public', tenant: false },
      schema: {
        tags: ['operations'],
        summary: 'Liveness: the process is up',
        security: [],
        response: {
          200: { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['ok'] }, uptime: { type: 'number', description: 'seconds' } } },
        },
      },
    },
    async () => ({ status: 'ok', uptime: Math.round(process.uptime() * 10) / 10 }),
  );

  app.get(
    '/health/ready',
    {
      config: { scope: 'public', tenant: false },
      schema: {
        tags: ['operations'],
        summary: 'Readiness: stores reachable, checks passing, not shutting down',
        security: [],
        response: {
          200: {
            type: 'object',
            required: ['status', 'apps'],
            properties: { status: { type: 'string', enum: ['ready'] }, apps: { type: 'integer', description: 'number of apps served' } },
          },
          ...errorResponses(503),
        },
      },
    },
    async (req, reply) => {
      const f = req.server.funnel;
      if (f.shuttingDown) throw new ApiError('SHUTTING_DOWN', 'the server is shutting down');
      const problems = await f.readiness();
      if (f.shuttingDown) throw new ApiError('SHUTTING_DOWN', 'the server is shutting down');
      if (problems.length) {
        throw new ApiError(
          'NOT_READY',
          `not ready: ${problems.map((p) => `${p.check}: ${p.problem}`).join('; ')}`,
          problems.map((p) => ({ field: p.check, code: 'CHECK_FAILED', message: p.problem })),
        );
      }
      reply.header('cache-control', 'no-store');
      return { status: 'ready', apps: f.tenants.size };
    },
  );
};
