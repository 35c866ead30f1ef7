// The proxy's subscription to the control plane: one gRPC stream, ACK/NACK, backoff, fail-static; it never decides a route.
import * as grpc from "@grpc/grpc-js";
import type { Endpoint, RuleSet } from "../config/types.js";
import type { LiveConfig } from "../live/live-config.js";
import { checkSnapshot, type SnapshotContent } from "../protocol/snapshot-check.js";
import {
  type ControlMessage,
  KEEPALIVE_OPTIONS,
  type MeshClient,
  type MeshStream,
  meshDefinition,
  type SnapshotMessage,
} from "../protocol/wire.js";
import { backoffDelay } from "../runtime/backoff.js";
import { type Clock, realClock, type TimerHandle } from "../runtime/clock.js";
import type { Logger } from "../telemetry/logger.js";
import type { ProxyMetrics } from "../telemetry/metrics.js";
import { LastGoodStore } from "./last-good.js";

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
  log: Logger;
  /**
   * false: take only the rules from the control plane and leave endpoints to another discovery
   * source (`--discovery static:FILE`, nacos, kubernetes). Default true.
   */
  endpoints?: boolean;
  /** Start from the persisted snapshot if no snapshot arrived within this time. Default 1500. */
  bootTimeoutMs?: number;
  backoff?: { initialMs?: number; maxMs?: number };
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

/** Connect, hello, then apply/ACK or NACK every snapshot; reconnects until closed. */
export function startSync(opts: SyncOptions): Subscription {
  const s = new SyncClient(opts);
  s.start();
  return s;
}

class SyncClient implements Subscription {
  private readonly clock: Clock;
  private readonly store: LastGoodStore;
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
  private persistedTried = false;
  private bootTimer: TimerHandle | undefined;
  private retryTimer: TimerHandle | undefined;
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
      ...KEEPALIVE_OPTIONS,
      // Our own backoff paces the streams; keep the channel's reconnects quick underneath it.
      "grpc.initial_reconnect_backoff_ms": 200,
      "grpc.max_reconnect_backoff_ms": 2000,
    });
    this.ageTimer = setInterval(() => this.publishAge(), 1000);
    this.ageTimer.unref();
  }

  start(): void {
    this.opts.metrics.controlPlaneConnected.set(0);
    this.bootTimer = this.clock.setTimeout(() => {
      this.bootTimer = undefined;
      void this.startFromPersisted("control plane not reached in time");
    }, this.opts.bootTimeoutMs ?? 1500);
    this.connect();
  }

  status(): SyncStatus {
    const current = this.opts.live.current();
    return {
      ready: this.lastGood !== undefined,
      detail: {
        connected: this.connected,
        version: this.lastGood?.version ?? current?.version ?? null,
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
    const call = this.client.Stream();
    this.call = call;
    const h = this.opts.hello;
    call.write({
      hello: {
        nodeId: h.nodeId,
        role: h.role,
        app: h.app ?? "",
        tag: h.tag ?? "",
        address: h.address ?? "",
        gateway: h.gateway ?? "",
        lastVersion: this.lastGood?.version ?? "",
        proxyVersion: h.proxyVersion ?? "",
      },
    });
    call.on("data", (m: ControlMessage) => this.onMessage(call, m));
    call.on("error", () => {}); // the "status" event below carries the same information
    call.on("status", (st: grpc.StatusObject) => this.onEnd(call, st));
  }

  private onMessage(call: MeshStream, m: ControlMessage): void {
    if (call !== this.call) return;
    this.attempt = 0;
    if (!this.connected) {
      this.connected = true;
      this.opts.metrics.controlPlaneConnected.set(1);
      this.opts.log.info({ target: this.opts.target }, "connected to control plane");
    }
    if (m.snapshot) this.onSnapshot(call, m.snapshot);
  }

  private onSnapshot(call: MeshStream, s: SnapshotMessage): void {
    const checked = checkSnapshot(s);
    let error = checked.ok ? null : checked.error;
    if (checked.ok) {
      try {
        this.install(checked, this.clock.now());
      } catch (err) {
        error = `snapshot ${s.version} cannot be compiled: ${(err as Error).message}`;
      }
    }
    if (error !== null) {
      this.opts.metrics.configRejected.inc();
      this.lastError = error;
      this.opts.log.warn(
        { version: s.version, keeping: this.lastGood?.version ?? null, error },
        "snapshot rejected",
      );
      call.write({ nack: { version: this.lastGood?.version ?? "", nonce: s.nonce, error } });
      return;
    }
    this.clearBootTimer();
    this.lastGood = {
      version: s.version,
      routes: s.routes,
      groups: s.groups,
      lanes: s.lanes,
      endpoints: s.endpoints,
    };
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
    this.lastError = `control plane stream ended: ${grpc.status[st.code] ?? st.code} ${st.details}`;
    if (this.connected) {
      this.markDisconnected();
      this.opts.log.warn({ error: this.lastError }, "disconnected from control plane");
    }
    if (!this.lastGood) void this.startFromPersisted(this.lastError);
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
    const loaded = await this.store.load();
    if (this.lastGood || this.closed) return; // a live snapshot won the race
    if (!loaded.ok) {
      this.opts.log.warn(
        { why, file: this.opts.stateFile, detail: loaded.detail },
        "no persisted snapshot to start from; waiting for the control plane",
      );
      return;
    }
    const p = loaded.snapshot;
    const checked = checkSnapshot(p);
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
