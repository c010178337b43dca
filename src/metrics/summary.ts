// A summary of observed values (durations in ms, sizes), as ZooKeeper's
// AvgMinMaxCounter and AvgMinMaxPercentileCounter keep them: count, sum, min,
// max, and — for a percentile summary — the most recent RECENT values, from
// which quantiles are computed only when someone asks (mntr, /metrics).
//
// Invariants:
// - add() is the hot path: a few arithmetic operations and, for a percentile
//   summary, one array store; nothing allocates or sorts there;
// - values are rounded to whole non-negative numbers, as ZooKeeper's longs;
// - reset() (srst) forgets everything, the recent window included.

/** How many recent values a percentile summary keeps (ZooKeeper's reservoir keeps 1028). */
const RECENT = 1024;

/** mntr's percentile keys and the quantiles they name (AvgMinMaxPercentileCounter). */
const MNTR_PERCENTILES: [string, number][] = [['p50', 0.5], ['p95', 0.95], ['p99', 0.99], ['p999', 0.999]];

export class Summary {
  private n = 0;
  private total = 0;
  private min = 0;
  private max = 0;
  /** the last RECENT values, a ring written at `next`; null unless this is a percentile summary */
  private readonly recent: Float64Array | null;
  private next = 0;

  constructor({ percentiles = false } = {}) {
    this.recent = percentiles ? new Float64Array(RECENT) : null;
  }

  get count(): number {
    return this.n;
  }

  get sum(): number {
    return this.total;
  }

  reset(): void {
    this.n = this.total = this.min = this.max = this.next = 0;
  }

  add(value: number): void {
    const v = Math.max(0, Math.round(value));
    this.min = this.n === 0 ? v : Math.min(this.min, v);
    this.max = this.n === 0 ? v : Math.max(this.max, v);
    this.n++;
    this.total += v;
    if (this.recent) this.recent[this.next++ % RECENT] = v;
  }

  /** The q-quantile (0..1) of the recent values (nearest rank); 0 with none, NaN for a summary without percentiles. */
  quantiles(qs: readonly number[]): number[] {
    if (!this.recent) return qs.map(() => NaN);
    const n = Math.min(this.next, RECENT);
    if (n === 0) return qs.map(() => 0);
    const sorted = this.recent.slice(0, n).sort();
    return qs.map((q) => sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))]!);
  }

  /** mntr's keys for `name`: avg (4 decimals, as Java prints it), min, max, cnt, sum, and p50…p999 for a percentile summary. */
  metrics(name: string): [string, number | string][] {
    const avg = this.n === 0 ? 0 : Math.round((this.total / this.n) * 10_000) / 10_000;
    const out: [string, number | string][] = [
      [`avg_${name}`, Number.isInteger(avg) ? avg.toFixed(1) : String(avg)],
      [`min_${name}`, this.min],
      [`max_${name}`, this.max],
      [`cnt_${name}`, this.n],
      [`sum_${name}`, this.total],
    ];
    if (this.recent) {
      const values = this.quantiles(MNTR_PERCENTILES.map(([, q]) => q));
      MNTR_PERCENTILES.forEach(([key], i) => out.push([`${key}_${name}`, values[i]!]));
    }
    return out;
  }
}

/** ZooKeeper's BufferStats: the last, smallest and largest size seen (bytes); -1 before any. */
export class SizeStats {
  last = -1;
  min = -1;
  max = -1;

  add(size: number): void {
    this.last = size;
    this.min = this.min === -1 ? size : Math.min(this.min, size);
    this.max = Math.max(this.max, size);
  }

  reset(): void {
    this.last = this.min = this.max = -1;
  }
}
