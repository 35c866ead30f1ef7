// One accepted proxy stream: its pushes (one in flight), the ACK/NACK bookkeeping, and how `get proxies` shows it; it never authenticates nor registers.
import { performance } from "node:perf_hooks";
import {
  type Ack,
  FEATURE_DELTA,
  type Hello,
  type MeshServerStream,
  type Nack,
} from "../protocol/wire.js";
import { PushSlot } from "./debounce.js";
import type { ControlPlaneMetrics } from "./metrics.js";
import type { PushEncodings } from "./pushes.js";
import type { BuiltSnapshot } from "./snapshot.js";

/** What an answer did: ignored (not the push in flight), recorded, or the push was resent whole. */
export type AnswerOutcome = "stray" | "answered" | "resent";

/** How a proxy stands with the newest snapshot. */
export type ProxyStatus = "in-sync" | "pending" | "behind" | "refused" | "diverged";

/** One proxy as `GET /v1/proxies` lists it. */
export interface ProxyInfo {
  nodeId: string;
  role: string;
  app: string;
  tag: string | null;
  address: string;
  gateway: string;
  peer: string;
  /** Who its credential says it is. */
  identity: string;
  connectedSince: string;
  status: ProxyStatus;
  /** Version the proxy last acknowledged (or reported as its last good in a NACK or hello). */
  ackedVersion: string | null;
  /** Store epoch of ackedVersion (null = unknown). */
  epoch: string | null;
  /** Version sent and not answered yet. */
  pendingVersion: string | null;
  lastNack: { version: string; nonce: string; error: string; code: string; at: string } | null;
}

export class Session {
  readonly slot: PushSlot<BuiltSnapshot>;
  readonly since = new Date().toISOString();
  lastOffered: string | undefined;
  ackedVersion: string | null;
  epoch: string | null;
  lastNack: ProxyInfo["lastNack"] = null;
  /** The last answer was a NACK (or a refusal reported in the hello). */
  private refused = false;
  private inFlight:
    | { nonce: string; version: string; sentAt: number; snapshot: BuiltSnapshot; delta: boolean }
    | undefined;
  /** The proxy takes deltas (its hello says so). */
  private readonly takesDeltas: boolean;
  /** The snapshot the proxy ACKed on this stream, what a delta may start from. */
  private held: { version: string; epoch: string } | null = null;

  constructor(
    readonly id: number,
    readonly hello: Hello,
    readonly identity: string,
    readonly call: MeshServerStream,
    private readonly metrics: ControlPlaneMetrics,
    private readonly encodings: PushEncodings,
  ) {
    this.slot = new PushSlot((s) => this.send(s));
    this.ackedVersion = hello.lastVersion || null;
    this.epoch = hello.lastEpoch || null;
    this.takesDeltas = hello.features?.includes(FEATURE_DELTA) === true;
  }

  offer(s: BuiltSnapshot): void {
    if (this.lastOffered === s.version) return;
    this.lastOffered = s.version;
    this.slot.offer(s);
  }

  /** Version of the push still unanswered, if any. */
  pending(): string | undefined {
    return this.inFlight?.version;
  }

  /**
   * The proxy ended its previous stream because it could not take `version` (over its receive
   * limit): a refusal like a NACK, and that version is not sent again on this stream.
   */
  refusedBefore(version: string | undefined, error: string): void {
    this.metrics.nacks.inc();
    this.refused = true;
    this.lastNack = {
      version: version ?? "",
      nonce: "",
      error,
      code: "TOO_LARGE",
      at: new Date().toISOString(),
    };
    if (version !== undefined) this.lastOffered = version;
  }

  /**
   * Record the answer to the push in flight. A NACKed delta is not a refusal yet: the same
   * version goes whole next (unless a newer one waits, which goes whole instead).
   */
  answer(a: Ack | Nack, nack: boolean, epoch: string): AnswerOutcome {
    const f = this.inFlight;
    if (!f || a.nonce !== f.nonce) return "stray";
    this.inFlight = undefined;
    this.metrics.pushDuration.observe((performance.now() - f.sentAt) / 1000);
    if (nack && f.delta) {
      this.held = null;
      const newer = this.slot.next() !== undefined;
      this.slot.settle();
      if (!newer) this.slot.offer(f.snapshot);
      return "resent";
    }
    if (!nack) this.held = { version: f.version, epoch: f.snapshot.epoch };
    this.refused = nack;
    if (nack) {
      this.metrics.nacks.inc();
      const n = a as Nack;
      this.lastNack = {
        version: f.version,
        nonce: n.nonce,
        error: n.error,
        code: n.code || "INVALID",
        at: new Date().toISOString(),
      };
      if (n.version && n.code !== "DIVERGED") {
        this.ackedVersion = n.version;
        this.epoch = epoch;
      }
    } else {
      this.ackedVersion = a.version;
      this.epoch = epoch;
    }
    this.slot.settle();
    return "answered";
  }

  info(current: BuiltSnapshot): ProxyInfo {
    const h = this.hello;
    return {
      nodeId: h.nodeId,
      role: h.role,
      app: h.app,
      tag: h.tag || null,
      address: h.address,
      gateway: h.gateway,
      peer: this.call.getPeer(),
      identity: this.identity,
      connectedSince: this.since,
      status: this.status(current),
      ackedVersion: this.ackedVersion,
      epoch: this.epoch,
      pendingVersion: this.inFlight?.version ?? null,
      lastNack: this.lastNack,
    };
  }

  private status(current: BuiltSnapshot): ProxyStatus {
    if (this.refused) return this.lastNack?.code === "DIVERGED" ? "diverged" : "refused";
    if (this.inFlight) return "pending";
    return this.ackedVersion === current.version && this.epoch === current.epoch
      ? "in-sync"
      : "behind";
  }

  /** One push: the shared message, whole or the delta from what this proxy holds. */
  private send(s: BuiltSnapshot): void {
    const base = this.takesDeltas && this.held?.epoch === s.epoch ? this.held.version : null;
    const push = this.encodings.push(s, base);
    const delta = push.base !== null;
    this.inFlight = {
      nonce: push.nonce,
      version: s.version,
      sentAt: performance.now(),
      snapshot: s,
      delta,
    };
    this.metrics.pushes.inc();
    if (delta) this.metrics.deltaPushes.inc();
    this.call.write(push.bytes);
  }
}

/**
 * What a control plane should say when a proxy's hello shows a config this store would not
 * replace: another store's (not adopted), or a newer version of this one (a store restored from
 * an old copy). Null when the proxy can take this store's snapshot.
 */
export function helloWarning(h: Hello, current: BuiltSnapshot): string | null {
  if (h.lastEpoch === "" || h.lastVersion === "") return null;
  const empty =
    current.routes.length + current.groups.length + current.lanes.length === 0 ? ", EMPTY" : "";
  const here = `this control plane's store (epoch ${current.epoch}, version ${current.version}${empty})`;
  if (h.lastEpoch !== current.epoch && !current.adopts.includes(h.lastEpoch))
    return (
      `proxy ${h.nodeId} holds version ${h.lastVersion} of another store (epoch ${h.lastEpoch}) than ${here}: ` +
      `it keeps its config and refuses this store's. Point this control plane at the data dir of epoch ${h.lastEpoch}, ` +
      `or run \`lanemesh adopt ${h.lastEpoch}\` to replace that config with this store's`
    );
  if (h.lastEpoch === current.epoch && Number(h.lastVersion) > Number(current.version))
    return (
      `proxy ${h.nodeId} holds version ${h.lastVersion} of this store, newer than ${here} (restored from an older copy?): ` +
      `it refuses versions up to ${h.lastVersion}`
    );
  return null;
}
