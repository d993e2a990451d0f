/**
 * GET /metrics: the Prometheus exposition text. Needs the admin scope when authentication is on,
 * unless `server.publicMetrics` is set. Under `--workers N` the text is the aggregate over every
 * worker (fetched from the primary process through `metricsText`).
 */
import type { FastifyPluginAsync } from 'fastify';
import { errorResponses } from '../errors.js';

export interface MetricsRoutesOptions {
  /** Serve without a key. */
  public: boolean;
  /** Produces the exposition text; default: this process's registry. */
  text?: () => Promise<string>;
}

export const metricsRoutes: FastifyPluginAsync<MetricsRoutesOptions> = async (app, opts) => {
  app.get(
    '/metrics',
    {
      config: { scope: opts.public ? 'public' : 'admin', tenant: false },
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics (text exposition format)',
        ...(opts.public ? { security: [] } : {}),
        response: {
          200: { description: 'Prometheus text format 0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } },
          ...errorResponses(401, 403, 429),
        },
      },
    },
    async (req, reply) => {
      const m = req.server.funnel.metrics;
      const text = opts.text ? await opts.text() : await m.text();
      reply.header('cache-control', 'no-store').type(m.contentType);
      return text;
    },
  );
};
