// What every proxy is built from: the options the sidecar and the gateway share, and the opening of their listeners and admin port into one handle; it holds no request logic.
import type { OutlierPolicy } from "../balancer/outlier.js";
import type { LiveConfig } from "../live/live-config.js";
import type { Clock } from "../runtime/clock.js";
import type { Logger } from "../telemetry/logger.js";
import { logger } from "../telemetry/logger.js";
import type { ProxyMetrics } from "../telemetry/metrics.js";
import { adminHandler, type ProxyStatus } from "./admin.js";
import { type Ejector, outlierFor } from "./ejection.js";
import type { Forwarder } from "./forward/contract.js";
import { type ProxyHandle, type ProxyState, proxyHandle } from "./handle.js";
import type { ProxyLimits } from "./limits.js";
import { Listener, type ListenerOptions } from "./listen/listener.js";

/** The options the sidecar and the gateway share. */
export interface ProxyBaseOptions {
  bindHost: string;
  /** 0 = ephemeral (see ProxyHandle.ports). */
  adminPort: number;
  tagHeader: string;
  live: LiveConfig;
  metrics: ProxyMetrics;
  accessLog: boolean;
  drainSeconds: number;
  /** Extra readiness (e.g. control-plane connection) shown and enforced by /ready. */
  status?: () => ProxyStatus;
  /** Outlier detection on the instances this proxy picks (default: DEFAULT_OUTLIER_POLICY). */
  outlier?: Readonly<OutlierPolicy>;
  /** Time for outlier detection's ejections and returns (default: the real clock). */
  clock?: Clock;
  /** Bounds on waiting: connections, pending queue, slow clients, tunnels (limits.ts). */
  limits?: Partial<ProxyLimits>;
}

export interface ProxyParts {
  readonly role: "sidecar" | "gateway";
  /** The traffic listeners, opened in this order. */
  readonly listeners: readonly ListenerOptions[];
  readonly forwarders: readonly Forwarder[];
  readonly state: ProxyState;
  readonly ejector: Ejector | null;
  /** Detach from the config (pool retention, outlier detection). */
  readonly unsubscribe: () => void;
  readonly log: Logger;
  /** Bindings of the admin listener's logger (`{app}` or `{gateway}`). */
  readonly adminLog: Record<string, string>;
  /** Called as soon as each listener (the admin one last) is bound, before the next opens. */
  readonly onListening?: (l: Listener) => void;
}

/**
 * What follows the config for the forwarder that reaches services: its pools of instances that
 * left are closed, and outlier detection (when on) watches its attempts.
 */
export function followConfig(
  opts: ProxyBaseOptions,
  toServices: Forwarder,
  log: Logger,
): { ejector: Ejector | null; unsubscribe: () => void } {
  const stopRetain = opts.live.onChange((c) => toServices.retain(c.endpoints));
  const ejector = outlierFor(opts, log);
  return {
    ejector,
    unsubscribe: () => {
      stopRetain();
      ejector?.close();
    },
  };
}

/**
 * Open the traffic listeners, then the admin listener; rejects (with nothing left open and the
 * config detached) if one cannot bind.
 */
export async function openProxy(opts: ProxyBaseOptions, p: ProxyParts): Promise<ProxyHandle> {
  const opened: Listener[] = [];
  try {
    for (const spec of p.listeners) {
      const l = await Listener.open(spec);
      opened.push(l);
      p.onListening?.(l);
    }
    const ejector = p.ejector;
    const admin = await Listener.open({
      name: "admin",
      host: opts.bindHost,
      port: opts.adminPort,
      log: logger("admin", p.adminLog),
      serve: adminHandler({
        role: p.role,
        live: opts.live,
        metrics: opts.metrics,
        state: p.state,
        status: opts.status,
        ejections: ejector ? () => ejector.ejections() : undefined,
      }),
    });
    p.onListening?.(admin);
    const ports: Record<string, number> = { admin: admin.port };
    for (const l of opened) ports[l.name] = l.port;
    p.log.info(ports, `${p.role} listening`);
    return proxyHandle({
      listeners: opened,
      admin,
      forwarders: p.forwarders,
      state: p.state,
      drainSeconds: opts.drainSeconds,
      unsubscribe: p.unsubscribe,
      log: p.log,
    });
  } catch (err) {
    p.unsubscribe();
    await Promise.all(opened.map((l) => l.close()));
    throw err;
  }
}
