// The gRPC side of the control plane: one bidi stream per proxy, credential → hello → snapshot, ACK/NACK bookkeeping; it never validates resources.
import * as grpc from "@grpc/grpc-js";
import {
  type Hello,
  KEEPALIVE_OPTIONS,
  type LoadReportMessage,
  type MeshServerStream,
  meshServerService,
  type ProxyMessage,
} from "../protocol/wire.js";
import type { Logger } from "../telemetry/logger.js";
import {
  AuthError,
  bearerOf,
  helloRefusal,
  type ProxyAuthenticator,
  type ProxyIdentity,
  type RefusalReason,
} from "./identity.js";
import type { ControlPlaneMetrics } from "./metrics.js";
import { PushEncodings } from "./pushes.js";
import { parseHostPort, type Registration, type StreamEnd, type Taken } from "./registry.js";
import { helloWarning, type ProxyInfo, Session } from "./session.js";
import type { BuiltSnapshot } from "./snapshot.js";

export type { ProxyInfo } from "./session.js";

export interface MeshServerHooks {
  /** The newest snapshot, sent right after a hello. */
  snapshot(): BuiltSnapshot;
  /**
   * Register a sidecar's instance; returns the detach to call when its stream ends, why the
   * instance is refused (it would make every snapshot invalid), or the live registration of
   * another identity that holds the node id.
   */
  register(
    reg: Omit<Registration, "since">,
  ): ((end: StreamEnd) => void) | { error: string } | Taken;
  /** Any proxy connected, disconnected, ACKed or NACKed. */
  onProxyChange?(): void;
  /** A load report from an accepted stream (who sent it: its hello). */
  onReport?(hello: Hello, report: LoadReportMessage): void;
}

/** Node ids whose stream ended with a push unanswered, kept for their next hello (bounded). */
const MAX_UNANSWERED = 10_000;

/** Hello.features: at most this many, each at most FEATURE_MAX_CHARS (what a proxy may say). */
export const MAX_HELLO_FEATURES = 16;
const FEATURE_MAX_CHARS = 64;

/** What is wrong with a hello, or null. */
export function helloProblem(h: Hello): string | null {
  if (!h.nodeId) return "hello.node_id is empty";
  const features = h.features ?? [];
  if (features.length > MAX_HELLO_FEATURES)
    return `hello.features lists ${features.length} features, at most ${MAX_HELLO_FEATURES}`;
  if (features.some((f) => f.length > FEATURE_MAX_CHARS))
    return `hello.features has a feature over ${FEATURE_MAX_CHARS} characters`;
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
  private readonly unanswered = new Map<string, string>();
  private readonly encodings = new PushEncodings();
  private nextId = 1;

  constructor(
    private readonly hooks: MeshServerHooks,
    private readonly metrics: ControlPlaneMetrics,
    private readonly log: Logger,
    private readonly auth: ProxyAuthenticator,
  ) {
    this.server.addService(meshServerService(), {
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

  /** A new version was built: the newest from now on (encoded once, on first use). */
  remember(s: BuiltSnapshot): void {
    this.encodings.remember(s);
  }

  /** Offer the snapshot to every stream (each sends it now, or after its in-flight push). */
  pushAll(s: BuiltSnapshot): void {
    this.encodings.remember(s);
    for (const session of this.sessions) session.offer(s);
  }

  proxies(): ProxyInfo[] {
    const current = this.hooks.snapshot();
    return [...this.sessions].map((s) => s.info(current));
  }

  /** Drop every stream at once; proxies reconnect to the next control plane. */
  close(): void {
    this.server.forceShutdown();
    this.sessions.clear();
    this.metrics.connectedProxies.set(0);
  }

  /**
   * A stream: its credential is checked first (messages wait meanwhile), then its hello against
   * what the credential covers, then the registration against the identity holding the node id.
   */
  private handle(call: MeshServerStream): void {
    const peer = call.getPeer();
    let identity: ProxyIdentity | undefined;
    let session: Session | undefined;
    let detach: ((end: StreamEnd) => void) | undefined;
    let done = false;
    const waiting: ProxyMessage[] = [];
    const finish = (end: StreamEnd): void => {
      if (done) return;
      done = true;
      if (!session) return;
      this.sessions.delete(session);
      this.metrics.connectedProxies.set(this.sessions.size);
      const nodeId = session.hello.nodeId;
      const pending = session.pending();
      if (pending !== undefined) this.rememberUnanswered(nodeId, pending);
      this.log.info({ nodeId, end }, "proxy disconnected");
      session = undefined;
      detach?.(end);
      this.hooks.onProxyChange?.();
    };
    const refuse = (code: grpc.status, reason: RefusalReason, details: string, nodeId?: string) => {
      if (done) return;
      done = true;
      this.metrics.refusedStreams.inc({ reason });
      this.log.warn({ peer, nodeId, reason, details }, "stream refused");
      call.emit("error", { code, details });
    };
    const onMessage = (m: ProxyMessage, id: ProxyIdentity): void => {
      if (!session) {
        if (m.message !== "hello") {
          refuse(
            grpc.status.INVALID_ARGUMENT,
            "invalid_hello",
            "the first message must be a hello",
          );
          return;
        }
        const accepted = this.accept(m.hello, id, peer, call);
        if (accepted instanceof AuthError) {
          refuse(accepted.status, accepted.reason, accepted.message, m.hello.nodeId);
          return;
        }
        session = accepted.session;
        detach = accepted.detach;
        return;
      }
      if (m.message === "report") {
        this.metrics.loadReports.inc();
        this.hooks.onReport?.(session.hello, m.report);
        return;
      }
      const answer = m.message === "ack" ? m.ack : m.message === "nack" ? m.nack : undefined;
      if (!answer) return;
      const outcome = session.answer(answer, m.message === "nack", this.hooks.snapshot().epoch);
      if (outcome === "stray") return;
      if (outcome === "resent")
        this.log.info(
          { nodeId: session.hello.nodeId, error: m.message === "nack" ? m.nack.error : "" },
          "proxy could not take a delta; the version is sent whole",
        );
      else if (m.message === "nack")
        this.log.warn(
          {
            nodeId: session.hello.nodeId,
            keeps: m.nack.version,
            code: m.nack.code,
            error: m.nack.error,
          },
          m.nack.code === "DIVERGED"
            ? "proxy holds another store's config and refused this one"
            : "proxy refused a snapshot",
        );
      this.hooks.onProxyChange?.();
    };
    call.on("data", (m: ProxyMessage) => {
      if (done) return;
      if (identity) onMessage(m, identity);
      else if (waiting.length < 4) waiting.push(m);
      else
        refuse(
          grpc.status.INVALID_ARGUMENT,
          "invalid_hello",
          "too many messages before the credential was checked",
        );
    });
    call.on("end", () => {
      finish("closed");
      call.end();
    });
    call.on("cancelled", () => finish("closed"));
    call.on("close", () => finish("closed"));
    call.on("error", () => finish("failed"));
    this.auth.authenticate(bearerOf(call.metadata)).then(
      (id) => {
        if (done) return;
        identity = id;
        for (const m of waiting.splice(0)) if (!done) onMessage(m, id);
      },
      (err: unknown) => {
        const e =
          err instanceof AuthError
            ? err
            : new AuthError(
                grpc.status.UNAVAILABLE,
                "auth_unavailable",
                String((err as Error)?.message ?? err),
              );
        refuse(e.status, e.reason, e.message);
      },
    );
  }

  /** A hello from an authenticated stream: checked, registered, answered with the snapshot. */
  private accept(
    h: Hello,
    id: ProxyIdentity,
    peer: string,
    call: MeshServerStream,
  ): AuthError | { session: Session; detach: ((end: StreamEnd) => void) | undefined } {
    const problem = helloProblem(h);
    if (problem) return new AuthError(grpc.status.INVALID_ARGUMENT, "invalid_hello", problem);
    const denied = helloRefusal(id, h, peer);
    if (denied) return denied;
    let detach: ((end: StreamEnd) => void) | undefined;
    const at = h.role === "sidecar" && h.address ? parseHostPort(h.address) : null;
    if (at) {
      const reg = this.hooks.register({
        nodeId: h.nodeId,
        service: h.app,
        tag: h.tag || null,
        address: at.address,
        port: at.port,
        owner: id.key,
      });
      if ("error" in reg)
        return new AuthError(grpc.status.INVALID_ARGUMENT, "invalid_hello", reg.error);
      if ("taken" in reg)
        return new AuthError(
          grpc.status.ALREADY_EXISTS,
          "node_id_taken",
          `node id ${h.nodeId} is held by a live stream of another identity (${reg.taken.owner}); ${id.subject} cannot take it over`,
        );
      detach = reg;
    }
    const session = new Session(this.nextId++, h, id.subject, call, this.metrics, this.encodings);
    const current = this.hooks.snapshot();
    if (h.previousError !== "") {
      const version = this.unanswered.get(h.nodeId);
      session.refusedBefore(version, h.previousError);
      this.log.warn(
        { nodeId: h.nodeId, version: version ?? null, error: h.previousError },
        "proxy could not take a snapshot and ended its stream",
      );
    }
    this.unanswered.delete(h.nodeId);
    const warning = helloWarning(h, current);
    if (warning)
      this.log.warn({ nodeId: h.nodeId, epoch: h.lastEpoch, version: h.lastVersion }, warning);
    this.sessions.add(session);
    this.metrics.connectedProxies.set(this.sessions.size);
    this.log.info(
      {
        nodeId: h.nodeId,
        role: h.role,
        app: h.app,
        tag: h.tag || null,
        address: h.address,
        identity: id.subject,
      },
      "proxy connected",
    );
    session.offer(current);
    this.hooks.onProxyChange?.();
    return { session, detach };
  }

  private rememberUnanswered(nodeId: string, version: string): void {
    this.unanswered.delete(nodeId);
    this.unanswered.set(nodeId, version);
    if (this.unanswered.size > MAX_UNANSWERED) {
      const oldest = this.unanswered.keys().next().value;
      if (oldest !== undefined) this.unanswered.delete(oldest);
    }
  }
}
