/**
 * Prometheus metrics of a server (prom-client), in a registry of its own (not the global one),
 * so several apps in one process — tests — never collide.
 *
 * Built in: request count and latency per method, route and status; ingested entities per app,
 * kind and outcome; optionally the process metrics. Other modules register their own through
 * the get-or-create helpers, which return the existing metric when the name is taken:
 *
 *   const share = app.funnel.metrics.counter({ name: 'funnel_generator_items_total',
 *     help: 'items proposed per generator', labelNames: ['app', 'generator'] });
 *   share.inc({ app: tenant.name, generator: 'led' }, n);
 *
 *   app.funnel.metrics.gauge({ name: 'funnel_model_info', help: 'loaded model version (value 1)',
 *     labelNames: ['app', 'version'], aggregator: 'max' });
 *
 * With `--workers N`, /metrics answers the sum over workers (prom-client's AggregatorRegistry in
 * the primary process); a gauge's `aggregator` option says how workers combine ('sum' by default,
 * 'max', 'min', 'first', 'omit', 'average').
 */
import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  Summary,
  collectDefaultMetrics,
  type CounterConfiguration,
  type GaugeConfiguration,
  type HistogramConfiguration,
  type Metric,
  type SummaryConfiguration,
} from 'prom-client';

export interface FunnelMetricsOptions {
  /** Collect the process metrics (CPU, memory, event loop lag, GC) too. Default true. */
  processMetrics?: boolean;
  /** Latency histogram buckets in seconds. */
  latencyBuckets?: number[];
}

export const DEFAULT_LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class FunnelMetrics {
  readonly registry: Registry;
  readonly httpRequests: Counter<'method' | 'route' | 'status'>;
  readonly httpDuration: Histogram<'method' | 'route' | 'status'>;
  readonly ingested: Counter<'app' | 'kind' | 'outcome'>;

  constructor(opts: FunnelMetricsOptions = {}) {
    this.registry = new Registry();
    if (opts.processMetrics ?? true) collectDefaultMetrics({ register: this.registry, prefix: 'funnel_' });
    this.httpRequests = this.counter({
      name: 'funnel_http_requests_total',
      help: 'HTTP requests answered, per method, route (pattern) and status',
      labelNames: ['method', 'route', 'status'],
    });
    this.httpDuration = this.histogram({
      name: 'funnel_http_request_duration_seconds',
      help: 'HTTP request latency from arrival to response, per method, route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: opts.latencyBuckets ?? DEFAULT_LATENCY_BUCKETS,
    });
    this.ingested = this.counter({
      name: 'funnel_ingested_entities_total',
      help: 'entities received through the ingestion API, per app, kind (users, items, events) and outcome (accepted, duplicate, rejected)',
      labelNames: ['app', 'kind', 'outcome'],
    });
  }

  private existing<M>(name: string, ctor: abstract new (...args: never[]) => M): M | undefined {
    const m = this.registry.getSingleMetric(name) as Metric | undefined;
    if (m === undefined) return undefined;
    if (!(m instanceof ctor)) throw new Error(`metric ${name} is already registered with another type`);
    return m as M;
  }

  /** Gets or creates a counter in this registry. */
  counter<L extends string>(cfg: CounterConfiguration<L>): Counter<L> {
    return (this.existing(cfg.name, Counter) as Counter<L> | undefined) ?? new Counter<L>({ ...cfg, registers: [this.registry] });
  }

  gauge<L extends string>(cfg: GaugeConfiguration<L>): Gauge<L> {
    return (this.existing(cfg.name, Gauge) as Gauge<L> | undefined) ?? new Gauge<L>({ ...cfg, registers: [this.registry] });
  }

  histogram<L extends string>(cfg: HistogramConfiguration<L>): Histogram<L> {
    return (this.existing(cfg.name, Histogram) as Histogram<L> | undefined) ?? new Histogram<L>({ ...cfg, registers: [this.registry] });
  }

  summary<L extends string>(cfg: SummaryConfiguration<L>): Summary<L> {
    return (this.existing(cfg.name, Summary) as Summary<L> | undefined) ?? new Summary<L>({ ...cfg, registers: [this.registry] });
  }

  /** Records one answered request. */
  observeRequest(method: string, route: string, status: number, seconds: number): void {
    const labels = { method, route, status: String(status) };
    this.httpRequests.inc(labels);
    this.httpDuration.observe(labels, seconds);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text of this registry. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}
