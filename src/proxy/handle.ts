// A running proxy's handle: its bound ports, graceful drain and teardown of its listeners and pools; it never handles requests.
import type { Logger } from "../telemetry/logger.js";
import type { Forwarder } from "./forward/contract.js";
import type { Listener } from "./listen/listener.js";

/** What `startSidecar` / `startGateway` return. */
export interface ProxyHandle {
  /** Bound ports by listener name (`inbound`, `outbound`, `gateway`, `admin`); real ports even when 0 was asked. */
  ports: Record<string, number>;
  /**
   * SIGTERM behaviour: `/ready` fails at once, the listeners stop accepting connections, idle
   * keep-alive connections are closed and responses still to come carry `Connection: close`.
   * Resolves when the requests in flight have finished, or after `drainSeconds` (then what is
   * left is cut). The admin listener keeps answering until `close()`.
   */
  drain(): Promise<void>;
  /** Tear everything down now: listeners, connections, upstream pools. */
  close(): Promise<void>;
}

/** Shared by the listeners and the admin listener of one proxy. */
export interface ProxyState {
  draining: boolean;
}

export interface ProxyParts {
  readonly listeners: readonly Listener[];
  readonly admin: Listener;
  readonly forwarders: readonly Forwarder[];
  readonly state: ProxyState;
  readonly drainSeconds: number;
  /** Detach from the config (pool retention listener). */
  readonly unsubscribe: () => void;
  readonly log: Logger;
}

export function proxyHandle(p: ProxyParts): ProxyHandle {
  const ports: Record<string, number> = {};
  for (const l of [...p.listeners, p.admin]) ports[l.name] = l.port;
  let draining: Promise<void> | undefined;
  let closing: Promise<void> | undefined;

  const drain = async (): Promise<void> => {
    p.state.draining = true;
    const inFlight = p.listeners.reduce((n, l) => n + l.active, 0);
    p.log.info({ inFlight, drainSeconds: p.drainSeconds }, "draining");
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), p.drainSeconds * 1000);
    });
    const idle = Promise.all(p.listeners.map((l) => l.drain())).then(() => false);
    const timedOut = await Promise.race([idle, expired]);
    clearTimeout(timer);
    if (timedOut) {
      const left = p.listeners.reduce((n, l) => n + l.active, 0);
      p.log.warn({ left }, "drain time over: cutting the requests still in flight");
      await Promise.all(p.listeners.map((l) => l.close()));
    } else {
      p.log.info("drained");
    }
  };

  const close = async (): Promise<void> => {
    p.state.draining = true;
    p.unsubscribe();
    await Promise.all([...p.listeners, p.admin].map((l) => l.close()));
    await Promise.all(p.forwarders.map((f) => f.destroy()));
  };

  return {
    ports,
    drain: () => {
      draining ??= drain();
      return draining;
    },
    close: () => {
      closing ??= close();
      return closing;
    },
  };
}
