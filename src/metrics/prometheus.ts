// ZooKeeper's PrometheusMetricsProvider on Node's http: GET /metrics answers
// the Prometheus text format (0.0.4). Names are ZooKeeper's: every numeric
// mntr key (inspect.ts) is a gauge of the same name; a summary mntr prints as
// avg_X/min_X/max_X/cnt_X/sum_X (and p50_X… for a percentile summary) is the
// summary X, with X_count, X_sum and its quantiles. With exportJvmInfo (the
// default), Node's own metrics follow under nodejs_* and process_* names.
//
// Invariants:
// - nothing is computed until a scrape: the request path only bumps the
//   counters and summaries mntr reads anyway;
// - a scrape never changes a value (no reset on read).

import http from 'node:http';
import { monitorEventLoopDelay, PerformanceObserver, type IntervalHistogram } from 'node:perf_hooks';
import type { PrometheusConfig } from '../config/config.ts';
import type { Logger } from '../log.ts';
import { monitorValues, type ServerView } from '../server/inspect.ts';

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
const SUMMARY_PARTS = /^(avg|min|max|cnt|sum|p50|p95|p99|p999)_(.+)$/;
const QUANTILE_OF: Record<string, string> = { p50: '0.5', p95: '0.95', p99: '0.99', p999: '0.999' };

/** The /metrics text of `view`, and of the Node runtime when `runtime` is given. */
export function metricsText(view: ServerView, runtime: NodeRuntimeMetrics | null): string {
  const values = new Map(monitorValues(view));
  const summaries = new Set([...values.keys()].filter((k) => k.startsWith('cnt_')).map((k) => k.slice(4)));
  const out: string[] = [];
  for (const [key, value] of values) {
    const part = SUMMARY_PARTS.exec(key);
    if (part && summaries.has(part[2]!)) continue;
    const n = typeof value === 'number' ? value : Number(value);
    if (!Number.isFinite(n)) continue; // version, server_state, peer_state: text, which ZooKeeper's provider does not export either
    out.push(`# TYPE ${key} gauge`, `${key} ${n}`);
  }
  for (const name of summaries) {
    out.push(`# TYPE ${name} summary`);
    for (const [p, q] of Object.entries(QUANTILE_OF)) {
      if (values.has(`${p}_${name}`)) out.push(`${name}{quantile="${q}"} ${values.get(`${p}_${name}`)}`);
    }
    out.push(`${name}_count ${values.get(`cnt_${name}`)}`, `${name}_sum ${values.get(`sum_${name}`)}`);
  }
  if (runtime) out.push(...runtime.lines());
  return out.join('\n') + '\n';
}

/** Node's own metrics: event-loop delay, heap, GC pauses, CPU and memory of the process. */
export class NodeRuntimeMetrics {
  private readonly loopDelay: IntervalHistogram = monitorEventLoopDelay({ resolution: 20 });
  /** GC pauses by kind: count and total seconds */
  private readonly gc = new Map<string, { count: number; seconds: number }>();
  private readonly gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = GC_KIND[(e as { detail?: { kind?: number } }).detail?.kind ?? 0] ?? 'other';
      const g = this.gc.get(kind) ?? { count: 0, seconds: 0 };
      g.count++;
      g.seconds += e.duration / 1000;
      this.gc.set(kind, g);
    }
  });

  constructor() {
    this.loopDelay.enable();
    this.gcObserver.observe({ entryTypes: ['gc'] });
  }

  stop(): void {
    this.loopDelay.disable();
    this.gcObserver.disconnect();
  }

  lines(): string[] {
    const mem = process.memoryUsage();
    const cpu = process.cpuUsage();
    const h = this.loopDelay;
    const seconds = (ns: number) => (Number.isFinite(ns) ? ns / 1e9 : 0);
    const out = [
      '# TYPE nodejs_eventloop_delay_seconds summary',
      ...['0.5', '0.9', '0.99'].map((q) => `nodejs_eventloop_delay_seconds{quantile="${q}"} ${seconds(h.percentile(Number(q) * 100))}`),
      `nodejs_eventloop_delay_seconds_count ${h.count}`,
      `nodejs_eventloop_delay_seconds_sum ${seconds(h.mean) * h.count}`,
      '# TYPE nodejs_eventloop_delay_max_seconds gauge',
      `nodejs_eventloop_delay_max_seconds ${seconds(h.max)}`,
      '# TYPE nodejs_heap_used_bytes gauge',
      `nodejs_heap_used_bytes ${mem.heapUsed}`,
      '# TYPE nodejs_heap_total_bytes gauge',
      `nodejs_heap_total_bytes ${mem.heapTotal}`,
      '# TYPE nodejs_external_memory_bytes gauge',
      `nodejs_external_memory_bytes ${mem.external}`,
      '# TYPE process_resident_memory_bytes gauge',
      `process_resident_memory_bytes ${mem.rss}`,
      '# TYPE process_cpu_seconds_total counter',
      `process_cpu_seconds_total ${(cpu.user + cpu.system) / 1e6}`,
      '# TYPE process_start_time_seconds gauge',
      `process_start_time_seconds ${Math.round(Date.now() / 1000 - process.uptime())}`,
      '# TYPE nodejs_gc_duration_seconds summary',
    ];
    for (const [kind, g] of this.gc) {
      out.push(`nodejs_gc_duration_seconds_count{kind="${kind}"} ${g.count}`, `nodejs_gc_duration_seconds_sum{kind="${kind}"} ${g.seconds}`);
    }
    return out;
  }
}

/** perf_hooks' NODE_PERFORMANCE_GC_* flags */
const GC_KIND: Record<number, string> = { 1: 'minor', 2: 'major', 4: 'incremental', 8: 'weakcb' };

/** The HTTP endpoint: /metrics on metricsProvider.httpHost:httpPort. */
export class PrometheusServer {
  private readonly http: http.Server;
  private readonly runtime: NodeRuntimeMetrics | null;

  constructor(
    private readonly settings: PrometheusConfig,
    view: ServerView,
    private readonly logger: Logger,
  ) {
    this.runtime = settings.exportJvmInfo ? new NodeRuntimeMetrics() : null;
    this.http = http.createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://metrics').pathname;
      if (path !== '/metrics') {
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end('The metrics are at /metrics\n');
        return;
      }
      res.writeHead(200, { 'Content-Type': CONTENT_TYPE });
      res.end(req.method === 'HEAD' ? undefined : metricsText(view, this.runtime));
    });
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen({ port: this.settings.port, host: this.settings.host }, () => {
        this.http.off('error', reject);
        this.http.on('error', (e) => this.logger.error(`metrics endpoint: ${e.message}`));
        resolve(this.port);
      });
    });
  }

  get port(): number {
    const addr = this.http.address();
    return addr && typeof addr === 'object' ? addr.port : this.settings.port;
  }

  close(): Promise<void> {
    this.runtime?.stop();
    return new Promise((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
  }
}
