// The control plane's Prometheus metrics on their own registry; it records, it never decides.
import { Gauge, Registry } from "prom-client";
import { collectProcessMetrics, counter, gauge, histogram } from "../telemetry/series.js";

export class ControlPlaneMetrics {
  readonly registry = new Registry();

  readonly connectedProxies = gauge(
    this.registry,
    "lanemesh_cp_connected_proxies",
    "Proxy streams currently open (after their hello).",
  );

  readonly pushes = counter(
    this.registry,
    "lanemesh_cp_pushes_total",
    "Snapshots sent to proxies.",
  );

  readonly deltaPushes = counter(
    this.registry,
    "lanemesh_cp_delta_pushes_total",
    "Of the snapshots sent, those sent as a delta from the version the proxy held (proxies that take deltas).",
  );

  readonly pushDuration = histogram(
    this.registry,
    "lanemesh_cp_push_duration_seconds",
    "Time from sending a snapshot to its ACK or NACK.",
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  );

  readonly nacks = counter(
    this.registry,
    "lanemesh_cp_nacks_total",
    "Snapshots refused by a proxy: a NACK, or a stream the proxy ended because a snapshot was over its receive limit.",
  );

  readonly refusedStreams = counter(
    this.registry,
    "lanemesh_cp_streams_refused_total",
    "Proxy streams refused, by reason: unauthenticated, permission_denied (the credential does not cover the hello), node_id_taken (a live stream of another identity holds the node id), invalid_hello, auth_unavailable.",
    ["reason"],
  );

  readonly snapshotBytes = gauge(
    this.registry,
    "lanemesh_cp_snapshot_bytes",
    "Encoded size of the newest snapshot (checked against --max-snapshot-bytes at apply).",
  );

  readonly version = gauge(
    this.registry,
    "lanemesh_cp_config_version",
    "Version of the newest snapshot the control plane serves.",
  );

  readonly loadReports = counter(
    this.registry,
    "lanemesh_cp_load_reports_total",
    "Load reports received from proxies (what each served since its previous report; lanemesh status and guarded lanes read them).",
  );

  readonly guardTrips = counter(
    this.registry,
    "lanemesh_cp_guard_trips_total",
    "Guarded lanes the control plane closed because their traffic broke the guard compared with base, by lane (a configured Lane's name).",
    ["lane"],
  );

  /** With `--store kubernetes`: what the fed store says, read at every scrape. */
  feedStats: (() => { refused: number; leader: boolean }) | undefined;

  readonly resourcesRefused = sampled(
    this.registry,
    "lanemesh_cp_resources_refused",
    "With --store kubernetes: custom resources refused by validation (status accepted: false), pushed to no proxy.",
    () => this.feedStats?.().refused ?? 0,
  );

  readonly leaseHolder = sampled(
    this.registry,
    "lanemesh_cp_version_lease_holder",
    "With --store kubernetes: 1 while this replica holds the version Lease (it numbers configs and writes statuses), else 0.",
    () => (this.feedStats?.().leader ? 1 : 0),
  );

  /** `processMetrics`: prom-client's default process metrics too (see collectProcessMetrics). */
  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics) collectProcessMetrics(this.registry);
  }
}

/** A gauge whose value is read when scraped. */
function sampled(registry: Registry, name: string, help: string, read: () => number): Gauge {
  return new Gauge({
    name,
    help,
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}
