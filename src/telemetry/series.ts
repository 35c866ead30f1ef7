// Prometheus series for the request path (children resolved once, recorded as field updates) and one way to declare a registry's metrics; it records, it never decides.
import { Counter, collectDefaultMetrics, Gauge, Histogram, type Registry } from "./prom.js";

/*
 * The per-request series (requests, duration, fallback) are not prom-client metrics: prom-client
 * validates and hashes the label object on every `inc`/`observe` (about 0.6 µs each), which is
 * per-request work. Here a label set is resolved once to a child that the request path keeps, and
 * recording is a field update; the registry reads the children at scrape time through the same
 * interface as its own metrics (`get`/`getForPromString`), so the text exposition is unchanged.
 */

type Labels = Record<string, string>;

/** One labelled series of a counter. */
export class CounterChild {
  value = 0;
  constructor(readonly labels: Readonly<Labels>) {}
  inc(by = 1): void {
    this.value += by;
  }
}

/** One labelled series of a histogram; `counts[i]` counts values in (bounds[i-1], bounds[i]]. */
export class HistogramChild {
  readonly counts: Float64Array;
  sum = 0;
  count = 0;
  constructor(
    readonly labels: Readonly<Labels>,
    private readonly bounds: readonly number[],
  ) {
    this.counts = new Float64Array(bounds.length);
  }
  observe(value: number): void {
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= (bounds[i] as number)) {
        this.counts[i] = (this.counts[i] as number) + 1;
        break;
      }
    }
    this.sum += value;
    this.count++;
  }
}

interface SampleValue {
  value: number;
  labels: Labels;
  sharedLabels?: Labels;
  metricName?: string;
}

interface MetricData {
  name: string;
  help: string;
  type: "counter" | "histogram";
  values: SampleValue[];
  aggregator: "sum";
}

/** The part of prom-client's metric contract a Registry uses, for the two series types below. */
abstract class Series<C extends { labels: Readonly<Labels> }> {
  readonly aggregator = "sum" as const;
  protected readonly children = new Map<string, C>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly labelNames: readonly string[],
    registry: Registry,
  ) {
    registry.registerMetric(this as unknown as Counter);
  }

  /** The child for these label values (in `labelNames` order); resolve once, keep it. */
  child(...values: string[]): C {
    const key = values.join("\u0000");
    let c = this.children.get(key);
    if (c === undefined) {
      if (values.length !== this.labelNames.length) {
        throw new Error(`${this.name}: ${this.labelNames.length} label values expected`);
      }
      const labels: Labels = {};
      this.labelNames.forEach((n, i) => {
        labels[n] = values[i] as string;
      });
      c = this.make(Object.freeze(labels));
      this.children.set(key, c);
    }
    return c;
  }

  /** prom-client's form: `labels({direction: …})`, for callers that do not keep children. */
  labels(labels: Labels): C {
    return this.child(...this.labelNames.map((n) => labels[n] ?? ""));
  }

  reset(): void {
    this.children.clear();
  }

  protected abstract make(labels: Readonly<Labels>): C;
  abstract getForPromString(): Promise<MetricData>;

  async get(): Promise<MetricData> {
    const data = await this.getForPromString();
    data.values = data.values.map((v) => ({
      value: v.value,
      labels: { ...v.labels, ...v.sharedLabels },
      ...(v.metricName === undefined ? {} : { metricName: v.metricName }),
    }));
    return data;
  }
}

export class LabeledCounter extends Series<CounterChild> {
  protected make(labels: Readonly<Labels>): CounterChild {
    return new CounterChild(labels);
  }

  async getForPromString(): Promise<MetricData> {
    const values: SampleValue[] = [];
    for (const c of this.children.values()) values.push({ value: c.value, labels: c.labels });
    return { name: this.name, help: this.help, type: "counter", values, aggregator: "sum" };
  }
}

export class LabeledHistogram extends Series<HistogramChild> {
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    readonly buckets: readonly number[],
    registry: Registry,
  ) {
    super(name, help, labelNames, registry);
  }

  protected make(labels: Readonly<Labels>): HistogramChild {
    return new HistogramChild(labels, this.buckets);
  }

  async getForPromString(): Promise<MetricData> {
    const values: SampleValue[] = [];
    const bucket = `${this.name}_bucket`;
    for (const c of this.children.values()) {
      let acc = 0;
      this.buckets.forEach((le, i) => {
        acc += c.counts[i] as number;
        values.push({
          value: acc,
          labels: { le: String(le) },
          sharedLabels: c.labels,
          metricName: bucket,
        });
      });
      const shared = c.labels;
      values.push({
        value: c.count,
        labels: { le: "+Inf" },
        sharedLabels: shared,
        metricName: bucket,
      });
      values.push({
        value: c.sum,
        labels: {},
        sharedLabels: shared,
        metricName: `${this.name}_sum`,
      });
      values.push({
        value: c.count,
        labels: {},
        sharedLabels: shared,
        metricName: `${this.name}_count`,
      });
    }
    return { name: this.name, help: this.help, type: "histogram", values, aggregator: "sum" };
  }
}

/**
 * prom-client's process metrics on `registry`. Their event-loop delay monitor samples every
 * 100 ms instead of prom-client's 10 ms: the 10 ms timer doubled an idle sidecar's CPU
 * (14 → 7 ms/s measured), and a stall still shows, as the delay of the next tick.
 */
export function collectProcessMetrics(registry: Registry): void {
  collectDefaultMetrics(registry, { eventLoopMonitoringPrecision: 100 });
}

export function counter<L extends string = never>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[] = [],
): Counter<L> {
  return new Counter({ name, help, labelNames, registers: [registry] });
}

export function gauge<L extends string = never>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[] = [],
): Gauge<L> {
  return new Gauge({ name, help, labelNames, registers: [registry] });
}

export function histogram(
  registry: Registry,
  name: string,
  help: string,
  buckets: number[],
): Histogram {
  return new Histogram({ name, help, buckets, registers: [registry] });
}
