// The proxy's subscription to the control plane: one authenticated gRPC stream, ordered snapshots, ACK/NACK, backoff, fail-static; it never decides a route.
import * as grpc from "@grpc/grpc-js";
import type { Endpoint, RuleSet } from "../config/types.js";
import type { LiveConfig } from "../live/live-config.js";
import type { SnapshotContent } from "../protocol/snapshot-check.js";
import {
  type ControlMessage,
  FEATURE_DELTA,
  type MeshClient,
  type MeshStream,
  meshDefinition,
  type NackCode,
  PROXY_CHANNEL_OPTIONS,
  type SnapshotMessage,
} from "../protocol/wire.js";
import { backoffDelay } from "../runtime/backoff.js";
import { type Clock, realClock, type TimerHandle } from "../runtime/clock.js";
import type { Logger } from "../telemetry/logger.js";
import type { ProxyMetrics } from "../telemetry/metrics.js";
import { readCredential } from "./credentials.js";
import { Incoming } from "./incoming.js";
import { LastGoodStore, type LoadedSnapshot } from "./last-good.js";
import { type Held, orderOf } from "./ordering.js";
import { DEFAULT_REPORT_INTERVAL_MS, type Reports, startReports } from "./reports.js";

export interface SyncHello {
  nodeId: string;
  role: "sidecar" | "gateway";
  app?: string;
  /** null or "" = base. */
  tag?: string | null;
  /** `host:port` of the inbound listener (sidecars); the control plane registers it as an instance. */
  address?: string;
  gateway?: string;
  proxyVersion?: string;
}

export interface SyncOptions {
  /** `host:port` of the control plane's gRPC port. */
  target: string;
  hello: SyncHello;
  live: LiveConfig;
  metrics: ProxyMetrics;
  /** Where the last good snapshot is persisted. */
  stateFile: string;
  /**
   * The proxy's credential (`--token-file`): a bootstrap token or a projected ServiceAccount
   * token, read again at every connect. None: the stream carries no credential.
   */
  tokenFile?: string;
  /** The largest snapshot this proxy takes (tests). Default PROXY_MAX_RECEIVE_BYTES. */
  maxReceiveBytes?: number;
  log: Logger;
  /**
   * false: take only the rules from the control plane and leave endpoints to another discovery
   * source (`--discovery static:FILE`, nacos, kubernetes). Default true.
   */
  endpoints?: boolean;
  /** Start from the persisted snapshot if no snapshot arrived within this time. Default 1500. */
  bootTimeoutMs?: number;
  backoff?: { initialMs?: number; maxMs?: number };
  /**
   * How often a load report (what this proxy served, telemetry/load.ts) is sent on the stream;
   * 0 = never. Default DEFAULT_REPORT_INTERVAL_MS.
   */
  reportIntervalMs?: number;
  random?: () => number;
  clock?: Clock;
}

export type ConfigSource = "control-plane" | "persisted";

export interface SyncStatus {
  /** True once a snapshot (received or persisted) is in force. */
  ready: boolean;
  detail: {
    connected: boolean;
    version: string | null;
    /** Store epoch of the config in force. */
    epoch: string | null;
    source: ConfigSource | null;
    /** Seconds since the config in force was last known current; 0 while connected. */
    ageSeconds: number | null;
    lastError: string | null;
  };
}

export interface Subscription {
  status(): SyncStatus;
  /** Stop reconnecting, end the stream and wait for the state file to be written. */
  close(): Promise<void>;
}

/** NACK errors are cut to this many characters (the control plane receives at most 4 MiB). */
const MAX_NACK_ERROR = 8192;

/** Stream ends that mean the control plane refused this proxy's credential or hello. */
const REFUSALS = new Set([
  grpc.status.UNAUTHENTICATED,
  grpc.status.PERMISSION_DENIED,
  grpc.status.ALREADY_EXISTS,
  grpc.status.INVALID_ARGUMENT,
]);

/** Connect, hello, then apply/ACK or NACK every snapshot; reconnects until closed. */
export function startSync(opts: SyncOptions): Subscription {
  const s = new SyncClient(opts);
  s.start();
  return s;
}

class SyncClient implements Subscription {
  private readonly clock: Clock;
  private readonly store: LastGoodStore;
  /** Deltas made whole, and what the last snapshot taken parsed and checked. */
  private readonly incoming = new Incoming();
  private readonly client: MeshClient;
  private call: MeshStream | undefined;
  private attempt = 0;
  private connected = false;
  private closed = false;
  private lastGood: SnapshotContent | undefined;
  private source: ConfigSource | null = null;
  /** When the config in force was last known to be the control plane's current one. */
  private confirmedAt = 0;
  private lastError: string | null = null;
  /** The last error logged at error level, so a refusal repeated at every retry is logged once. */
  private loggedError: string | null = null;
  /** Why this proxy ended its previous stream itself; said in the next hello. */
  private previousError = "";
  /** The persisted snapshot, read before the first connect (its epoch and version are held). */
  private persisted: LoadedSnapshot | undefined;
  private persistedTried = false;
  private bootTimer: TimerHandle | undefined;
  private retryTimer: TimerHandle | undefined;
  private reports: Reports | undefined;
  private readonly ageTimer: NodeJS.Timeout;

  constructor(private readonly opts: SyncOptions) {
    this.clock = opts.clock ?? realClock;
    this.store = new LastGoodStore(opts.stateFile, (err) =>
      opts.log.warn(
        { err: err.message, file: opts.stateFile },
        "cannot persist last good snapshot",
      ),
    );
    const { Client } = meshDefinition();
    this.client = new Client(opts.target, grpc.credentials.createInsecure(), {
      ...PROXY_CHANNEL_OPTIONS,
      ...(opts.maxReceiveBytes === undefined
        ? {}
        : { "grpc.max_receive_message_length": opts.maxReceiveBytes }),
      // Our own backoff paces the streams; keep the channel's reconnects quick underneath it.
      "grpc.initial_reconnect_backoff_ms": 200,
      "grpc.max_reconnect_backoff_ms": 2000,
    });
    this.ageTimer = setInterval(() => this.publishAge(), 1000);
    this.ageTimer.unref();
  }

  /** Read the persisted snapshot first: its epoch and version are what the proxy holds. */
  start(): void {
    this.opts.metrics.controlPlaneConnected.set(0);
    this.bootTimer = this.clock.setTimeout(() => {
      this.bootTimer = undefined;
      void this.startFromPersisted("control plane not reached in time");
    }, this.opts.bootTimeoutMs ?? 1500);
    void this.store.load().then((loaded) => {
      this.persisted = loaded;
      this.connect();
    });
    this.reports = startReports({
      clock: this.clock,
      everyMs: this.opts.reportIntervalMs ?? DEFAULT_REPORT_INTERVAL_MS,
      load: this.opts.metrics.load,
      stream: () => (this.connected ? this.call : undefined),
    });
  }

  status(): SyncStatus {
    const current = this.opts.live.current();
    return {
      ready: this.lastGood !== undefined,
      detail: {
        connected: this.connected,
        version: this.lastGood?.version ?? current?.version ?? null,
        epoch: this.lastGood?.epoch || null,
        source: this.source,
        ageSeconds: this.lastGood ? this.ageSeconds() : null,
        lastError: this.lastError,
      },
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.bootTimer !== undefined) this.clock.clearTimeout(this.bootTimer);
    if (this.retryTimer !== undefined) this.clock.clearTimeout(this.retryTimer);
    this.reports?.close();
    clearInterval(this.ageTimer);
    const call = this.call;
    this.call = undefined;
    if (this.connected) this.markDisconnected();
    call?.cancel();
    this.client.close();
    await this.store.flush();
  }

  private connect(): void {
    if (this.closed) return;
    const credential = readCredential(this.opts.tokenFile);
    if (!credential.ok) {
      this.refused(credential.error);
      if (!this.lastGood) void this.startFromPersisted(credential.error);
      this.retry();
      return;
    }
    const call = this.client.Stream(credential.metadata);
    this.call = call;
    const h = this.opts.hello;
    const held = this.held();
    call.write({
      hello: {
        nodeId: h.nodeId,
        role: h.role,
        app: h.app ?? "",
        tag: h.tag ?? "",
        address: h.address ?? "",
        gateway: h.gateway ?? "",
        lastVersion: held?.version ?? "",
        proxyVersion: h.proxyVersion ?? "",
        lastEpoch: held?.epoch ?? "",
        previousError: this.previousError,
        features: [FEATURE_DELTA],
      },
    });
    call.on("data", (m: ControlMessage) => this.onMessage(call, m));
    call.on("error", () => {}); // the "status" event below carries the same information
    call.on("status", (st: grpc.StatusObject) => this.onEnd(call, st));
  }

  private onMessage(call: MeshStream, m: ControlMessage): void {
    if (call !== this.call) return;
    this.attempt = 0;
    this.previousError = "";
    this.loggedError = null;
    if (!this.connected) {
      this.connected = true;
      this.opts.metrics.controlPlaneConnected.set(1);
      this.opts.log.info({ target: this.opts.target }, "connected to control plane");
    }
    if (m.snapshot) this.onSnapshot(call, m.snapshot);
  }

  /** The config this proxy holds: in force, else persisted (not in force yet). */
  private held(): Held | undefined {
    if (this.lastGood) return { epoch: this.lastGood.epoch, version: this.lastGood.version };
    const p = this.persisted;
    return p?.ok ? { epoch: p.snapshot.epoch, version: p.snapshot.version } : undefined;
  }

  private nack(call: MeshStream, s: SnapshotMessage, code: NackCode, error: string): void {
    call.write({
      nack: {
        version: this.lastGood?.version ?? "",
        nonce: s.nonce,
        error: error.slice(0, MAX_NACK_ERROR),
        code,
      },
    });
  }

  private onSnapshot(call: MeshStream, s: SnapshotMessage): void {
    const order = orderOf(this.held(), s);
    if (!order.ok) {
      this.opts.metrics.configOutOfOrder.inc({ reason: order.code.toLowerCase() });
      this.lastError = order.error;
      const fields = { offered: { epoch: s.epoch, version: s.version }, held: this.held() };
      if (order.code === "DIVERGED") this.opts.log.error(fields, order.error);
      else this.opts.log.warn(fields, order.error);
      this.nack(call, s, order.code, order.error);
      if (!this.lastGood) void this.startFromPersisted("the control plane offered an older config");
      return;
    }
    // A delta is made whole from the config held; then every snapshot is checked the same way.
    const whole = this.incoming.whole(s, this.lastGood);
    const checked = whole.ok ? this.incoming.check(whole.snapshot) : whole;
    let error = checked.ok ? null : checked.error;
    if (checked.ok) {
      try {
        this.install(checked, this.clock.now());
      } catch (err) {
        error = `snapshot ${s.version} cannot be compiled: ${(err as Error).message}`;
      }
    }
    if (whole.ok) this.incoming.taken(error === null);
    if (error !== null || !whole.ok) {
      error ??= whole.ok ? "" : whole.error;
      this.opts.metrics.configRejected.inc();
      this.lastError = error;
      this.opts.log.warn(
        { version: s.version, keeping: this.lastGood?.version ?? null, error },
        "snapshot rejected",
      );
      this.nack(call, s, "INVALID", error);
      return;
    }
    this.clearBootTimer();
    this.lastGood = whole.snapshot;
    this.source = "control-plane";
    this.confirmedAt = this.clock.now();
    this.lastError = null;
    this.publishAge();
    call.write({ ack: { version: s.version, nonce: s.nonce } });
    this.store.save(this.lastGood, this.confirmedAt);
    this.opts.log.info({ version: s.version }, "snapshot applied");
  }

  private onEnd(call: MeshStream, st: grpc.StatusObject): void {
    if (call !== this.call) return;
    this.call = undefined;
    if (this.closed) return;
    const ended = `${grpc.status[st.code] ?? st.code} ${st.details}`;
    this.lastError = `control plane stream ended: ${ended}`;
    if (st.code === grpc.status.RESOURCE_EXHAUSTED) {
      // A snapshot over the receive limit: the control plane hears it in the next hello.
      this.previousError = `RESOURCE_EXHAUSTED: ${st.details}`;
      this.opts.metrics.configRejected.inc();
      this.lastError = `a snapshot was larger than this proxy takes: ${ended}`;
      this.opts.log.error({ error: this.lastError }, "snapshot refused: too large");
    } else if (REFUSALS.has(st.code))
      this.refused(`the control plane refused this proxy: ${ended}`);
    if (this.connected) {
      this.markDisconnected();
      this.opts.log.warn({ error: this.lastError }, "disconnected from control plane");
    }
    if (!this.lastGood) void this.startFromPersisted(this.lastError);
    this.retry();
  }

  /** A refusal of this proxy (its credential or hello): an error line, once per distinct reason. */
  private refused(error: string): void {
    this.lastError = error;
    if (this.loggedError === error) return;
    this.loggedError = error;
    this.opts.log.error({ error }, "not accepted by the control plane; retrying");
  }

  private retry(): void {
    const delay = backoffDelay(this.attempt++, {
      ...this.opts.backoff,
      ...(this.opts.random ? { random: this.opts.random } : {}),
    });
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = undefined;
      this.connect();
    }, delay);
  }

  private markDisconnected(): void {
    this.connected = false;
    this.opts.metrics.controlPlaneConnected.set(0);
    if (this.source === "control-plane" && this.lastGood) {
      this.confirmedAt = this.clock.now();
      this.store.save(this.lastGood, this.confirmedAt);
    }
  }

  /** At boot, when the control plane is unreachable: serve the persisted snapshot if it is valid. */
  private async startFromPersisted(why: string): Promise<void> {
    if (this.persistedTried || this.lastGood || this.closed) return;
    this.persistedTried = true;
    this.clearBootTimer();
    const loaded = this.persisted ?? (await this.store.load());
    if (this.lastGood || this.closed) return; // a live snapshot won the race
    if (!loaded.ok) {
      this.opts.log.warn(
        { why, file: this.opts.stateFile, detail: loaded.detail },
        "no persisted snapshot to start from; waiting for the control plane",
      );
      return;
    }
    const p = loaded.snapshot;
    const checked = this.incoming.check(p);
    this.incoming.taken(checked.ok);
    if (!checked.ok) {
      this.opts.metrics.configRejected.inc();
      this.opts.log.error(
        { file: this.opts.stateFile, error: checked.error },
        "persisted snapshot is invalid",
      );
      return;
    }
    try {
      this.install(checked, p.confirmedAt);
    } catch (err) {
      this.opts.log.error(
        { error: (err as Error).message },
        "persisted snapshot cannot be compiled",
      );
      return;
    }
    this.lastGood = p;
    this.source = "persisted";
    this.confirmedAt = p.confirmedAt;
    this.publishAge();
    this.opts.log.warn(
      { why, version: p.version, ageSeconds: this.ageSeconds() },
      "serving the persisted snapshot until the control plane is reached",
    );
  }

  private install(c: { rules: RuleSet; endpoints: Endpoint[]; version: string }, at: number): void {
    if (this.opts.endpoints === false) this.opts.live.setRules(c.rules, c.version, at);
    else this.opts.live.setAll(c.rules, c.endpoints, c.version, at);
  }

  private clearBootTimer(): void {
    if (this.bootTimer === undefined) return;
    this.clock.clearTimeout(this.bootTimer);
    this.bootTimer = undefined;
  }

  private ageSeconds(): number {
    if (this.connected && this.source === "control-plane") return 0;
    return Math.max(0, (this.clock.now() - this.confirmedAt) / 1000);
  }

  private publishAge(): void {
    if (this.lastGood) this.opts.metrics.configAge.set(this.ageSeconds());
  }
}
