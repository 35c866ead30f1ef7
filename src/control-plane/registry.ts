// The instances the sidecars announce in their hellos, each bound to the identity of the stream that said it, kept while a stream of that identity lives; it never pushes.
import type { Clock, TimerHandle } from "../runtime/clock.js";

/** One sidecar's own instance, from its hello. */
export interface Registration {
  nodeId: string;
  service: string;
  /** null = base. */
  tag: string | null;
  address: string;
  port: number;
  /** Date.now() of the first hello of this registration. */
  since: number;
  /** ProxyIdentity.key of the streams that may hold it ("" for one restored from an older store). */
  owner: string;
}

interface Entry {
  reg: Registration;
  streams: number;
  removal: TimerHandle | undefined;
}

/** How a stream ended: closed by the proxy or cut with its connection, or failed on our side. */
export type StreamEnd = "closed" | "failed";

/** The node id is held by a live stream of another identity. */
export interface Taken {
  taken: Registration;
}

export interface RegistryOptions {
  /**
   * How long an instance outlives a stream that failed on the control plane's side (the proxy
   * reconnects within its backoff). A stream the proxy closed, or whose connection is gone, takes
   * its instance with it at once.
   */
  graceMs: number;
  clock: Clock;
  /** Called synchronously after every change of the instance set. */
  onChange: () => void;
}

export class Registry {
  private readonly entries = new Map<string, Entry>();
  private closed = false;

  constructor(private readonly opts: RegistryOptions) {}

  /**
   * A stream of `reg.nodeId` said hello. Returns the function to call once when that stream ends,
   * or what holds the node id: a live stream of another identity (`reg.owner`) is never evicted.
   * A second stream of the same identity (a reconnect racing the old stream's end) shares the
   * entry; an entry no live stream holds (restored, or in its grace) goes to the newcomer.
   */
  attach(reg: Omit<Registration, "since">): ((end: StreamEnd) => void) | Taken {
    const e = this.entries.get(reg.nodeId);
    if (e && e.streams > 0 && e.reg.owner !== reg.owner) return { taken: e.reg };
    if (e) {
      if (e.removal !== undefined) this.opts.clock.clearTimeout(e.removal);
      e.removal = undefined;
      e.streams++;
      const moved =
        e.reg.service !== reg.service ||
        e.reg.tag !== reg.tag ||
        e.reg.address !== reg.address ||
        e.reg.port !== reg.port;
      if (moved) {
        e.reg = { ...reg, since: this.opts.clock.now() };
        this.opts.onChange();
      } else e.reg = { ...e.reg, owner: reg.owner };
    } else {
      this.entries.set(reg.nodeId, {
        reg: { ...reg, since: this.opts.clock.now() },
        streams: 1,
        removal: undefined,
      });
      this.opts.onChange();
    }
    let detached = false;
    return (end) => {
      if (detached) return;
      detached = true;
      this.detach(reg.nodeId, end);
    };
  }

  /**
   * Start from the registrations a previous control plane persisted: each is served until its
   * sidecar reconnects (then it lives on as usual) or until `graceMs` passes without it. Without
   * this, the first proxies to reconnect after a restart would get snapshots with no endpoints.
   */
  restore(regs: readonly Registration[], graceMs: number): void {
    for (const reg of regs) {
      if (this.entries.has(reg.nodeId)) continue;
      const e: Entry = { reg: { ...reg }, streams: 0, removal: undefined };
      this.entries.set(reg.nodeId, e);
      this.scheduleRemoval(reg.nodeId, e, graceMs);
    }
  }

  list(): Registration[] {
    const out: Registration[] = [];
    for (const e of this.entries.values()) out.push(e.reg);
    out.sort((a, b) => (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0));
    return out;
  }

  /** Cancel every pending removal (shutdown). */
  close(): void {
    this.closed = true;
    for (const e of this.entries.values())
      if (e.removal !== undefined) this.opts.clock.clearTimeout(e.removal);
  }

  private detach(nodeId: string, end: StreamEnd): void {
    const e = this.entries.get(nodeId);
    if (!e || this.closed) return;
    e.streams--;
    if (e.streams > 0) return;
    if (end === "failed" && this.opts.graceMs > 0) {
      this.scheduleRemoval(nodeId, e, this.opts.graceMs);
      return;
    }
    this.entries.delete(nodeId);
    this.opts.onChange();
  }

  private scheduleRemoval(nodeId: string, e: Entry, ms: number): void {
    e.removal = this.opts.clock.setTimeout(() => {
      if (this.entries.get(nodeId) !== e || e.streams > 0) return;
      this.entries.delete(nodeId);
      this.opts.onChange();
    }, ms);
  }
}

/** Split a hello's `host:port` (`[v6]:port` too); null when it is not one. */
export function parseHostPort(s: string): { address: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s.trim());
  if (!m) return null;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return null;
  return { address: (m[1] ?? m[2]) as string, port };
}
