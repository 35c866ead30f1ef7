// The gRPC side of the control plane: one bidi stream per proxy, hello → snapshot, ACK/NACK bookkeeping; it never validates resources.
import { performance } from "node:perf_hooks";
import * as grpc from "@grpc/grpc-js";
import {
  type Ack,
  type Hello,
  KEEPALIVE_OPTIONS,
  type MeshServerStream,
  meshDefinition,
  type Nack,
  type ProxyMessage,
} from "../protocol/wire.js";
import type { Logger } from "../telemetry/logger.js";
import { PushSlot } from "./debounce.js";
import type { ControlPlaneMetrics } from "./metrics.js";
import { parseHostPort, type Registration } from "./registry.js";
import type { BuiltSnapshot } from "./snapshot.js";

/** One proxy as `GET /v1/proxies` lists it. */
export interface ProxyInfo {
  nodeId: string;
  role: string;
  app: string;
  tag: string | null;
  address: string;
  gateway: string;
  peer: string;
  connectedSince: string;
  /** Version the proxy last acknowledged (or reported as its last good in a NACK). */
  ackedVersion: string | null;
  /** Version sent and not answered yet. */
  pendingVersion: string | null;
  lastNack: { version: string; nonce: string; error: string; at: string } | null;
}

export interface MeshServerHooks {
  /** The newest snapshot, sent right after a hello. */
  snapshot(): BuiltSnapshot;
  /**
   * Register a sidecar's instance; returns the detach to call when its stream ends, or why the
   * instance is refused (it would make every snapshot invalid).
   */
  register(reg: Omit<Registration, "since">): (() => void) | { error: string };
  /** Any proxy connected, disconnected, ACKed or NACKed. */
  onProxyChange?(): void;
}

class Session {
  readonly slot: PushSlot<BuiltSnapshot>;
  readonly since = new Date().toISOString();
  lastOffered: string | undefined;
  ackedVersion: string | null = null;
  lastNack: ProxyInfo["lastNack"] = null;
  private inFlight: { nonce: string; version: string; sentAt: number } | undefined;
  private seq = 0;

  constructor(
    readonly id: number,
    readonly hello: Hello,
    readonly call: MeshServerStream,
    private readonly metrics: ControlPlaneMetrics,
  ) {
    this.slot = new PushSlot((s) => this.send(s));
  }

  offer(s: BuiltSnapshot): void {
    if (this.lastOffered === s.version) return;
    this.lastOffered = s.version;
    this.slot.offer(s);
  }

  /** Returns false for an answer to a push that is not the one in flight (ignored). */
  answer(a: Ack | Nack, nack: boolean): boolean {
    const f = this.inFlight;
    if (!f || a.nonce !== f.nonce) return false;
    this.inFlight = undefined;
    this.metrics.pushDuration.observe((performance.now() - f.sentAt) / 1000);
    if (nack) {
      this.metrics.nacks.inc();
      const n = a as Nack;
      this.lastNack = {
        version: f.version,
        nonce: n.nonce,
        error: n.error,
        at: new Date().toISOString(),
      };
      if (n.version) this.ackedVersion = n.version;
    } else {
      this.ackedVersion = a.version;
    }
    this.slot.settle();
    return true;
  }

  info(): ProxyInfo {
    const h = this.hello;
    return {
      nodeId: h.nodeId,
      role: h.role,
      app: h.app,
      tag: h.tag || null,
      address: h.address,
      gateway: h.gateway,
      peer: this.call.getPeer(),
      connectedSince: this.since,
      ackedVersion: this.ackedVersion,
      pendingVersion: this.inFlight?.version ?? null,
      lastNack: this.lastNack,
    };
  }

  private send(s: BuiltSnapshot): void {
    const nonce = `${this.id}-${++this.seq}`;
    this.inFlight = { nonce, version: s.version, sentAt: performance.now() };
    this.metrics.pushes.inc();
    this.call.write({ message: "snapshot", snapshot: { ...s, nonce } });
  }
}

/** What is wrong with a hello, or null. */
export function helloProblem(h: Hello): string | null {
  if (!h.nodeId) return "hello.node_id is empty";
  if (h.role !== "sidecar" && h.role !== "gateway")
    return `hello.role must be "sidecar" or "gateway", not "${h.role}"`;
  if (h.address) {
    if (!parseHostPort(h.address)) return `hello.address "${h.address}" is not host:port`;
    if (h.role === "sidecar" && !h.app) return "hello.app is empty but an address is given";
  }
  return null;
}

export class MeshServer {
  private readonly server = new grpc.Server({ ...KEEPALIVE_OPTIONS });
  private readonly sessions = new Set<Session>();
  private nextId = 1;

  constructor(
    private readonly hooks: MeshServerHooks,
    private readonly metrics: ControlPlaneMetrics,
    private readonly log: Logger,
  ) {
    this.server.addService(meshDefinition().service, {
      Stream: (call: MeshServerStream) => this.handle(call),
    });
  }

  /** Bind `host:port` (port 0 = any); resolves with the port bound. */
  listen(host: string, port: number): Promise<number> {
    const addr = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
    return new Promise((resolve, reject) =>
      this.server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (err, bound) =>
        err ? reject(err) : resolve(bound),
      ),
    );
  }

  /** Offer the snapshot to every stream (each sends it now, or after its in-flight push). */
  pushAll(s: BuiltSnapshot): void {
    for (const session of this.sessions) session.offer(s);
  }

  proxies(): ProxyInfo[] {
    return [...this.sessions].map((s) => s.info());
  }

  /** Drop every stream at once; proxies reconnect to the next control plane. */
  close(): void {
    this.server.forceShutdown();
    this.sessions.clear();
    this.metrics.connectedProxies.set(0);
  }

  private handle(call: MeshServerStream): void {
    let session: Session | undefined;
    let detach: (() => void) | undefined;
    const finish = (): void => {
      if (!session) return;
      this.sessions.delete(session);
      this.metrics.connectedProxies.set(this.sessions.size);
      this.log.info({ nodeId: session.hello.nodeId }, "proxy disconnected");
      session = undefined;
      detach?.();
      this.hooks.onProxyChange?.();
    };
    const refuse = (details: string): void => {
      this.log.warn({ peer: call.getPeer(), details }, "stream refused");
      call.emit("error", { code: grpc.status.INVALID_ARGUMENT, details });
    };
    call.on("data", (m: ProxyMessage) => {
      if (!session) {
        if (m.message !== "hello") return refuse("the first message must be a hello");
        const problem = helloProblem(m.hello);
        if (problem) return refuse(problem);
        const h = m.hello;
        const at = h.role === "sidecar" && h.address ? parseHostPort(h.address) : null;
        if (at) {
          const reg = this.hooks.register({
            nodeId: h.nodeId,
            service: h.app,
            tag: h.tag || null,
            address: at.address,
            port: at.port,
          });
          if (typeof reg !== "function") return refuse(reg.error);
          detach = reg;
        }
        session = new Session(this.nextId++, h, call, this.metrics);
        this.sessions.add(session);
        this.metrics.connectedProxies.set(this.sessions.size);
        this.log.info(
          { nodeId: h.nodeId, role: h.role, app: h.app, tag: h.tag || null, address: h.address },
          "proxy connected",
        );
        session.offer(this.hooks.snapshot());
        this.hooks.onProxyChange?.();
        return;
      }
      if (m.message === "ack") {
        if (session.answer(m.ack, false)) this.hooks.onProxyChange?.();
      } else if (m.message === "nack") {
        if (session.answer(m.nack, true)) {
          this.log.warn(
            { nodeId: session.hello.nodeId, keeps: m.nack.version, error: m.nack.error },
            "proxy refused a snapshot",
          );
          this.hooks.onProxyChange?.();
        }
      }
    });
    call.on("end", () => {
      finish();
      call.end();
    });
    call.on("cancelled", finish);
    call.on("error", finish);
    call.on("close", finish);
  }
}
