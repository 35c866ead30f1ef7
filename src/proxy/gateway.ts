// Assembles an entry gateway (gateway and admin listeners) from its options; it holds no request logic.

import type { OutlierPolicy } from "../balancer/outlier.js";
import { LaneWriter, TagHeaderName, TagReader } from "../lane/propagation/index.js";
import type { LiveConfig } from "../live/live-config.js";
import { logger } from "../telemetry/logger.js";
import type { ProxyMetrics } from "../telemetry/metrics.js";
import { adminHandler, type ProxyStatus } from "./admin.js";
import { outlierFor } from "./ejection.js";
import { entryHandler } from "./entry.js";
import { H1Forwarder } from "./forward/h1/forwarder.js";
import { type ProxyHandle, type ProxyState, proxyHandle } from "./handle.js";
import { ServiceHop } from "./hop.js";
import { Listener, refuseInsecureParser } from "./listen/listener.js";
import { Recorder } from "./record.js";

export type { ProxyHandle } from "./handle.js";

export interface GatewayOptions {
  /** Gateway name whose Routes and LaneGroup entries apply (`default`); LiveConfig must be built for it. */
  gateway: string;
  bindHost: string;
  /** 0 = ephemeral (see ProxyHandle.ports). */
  port: number;
  adminPort: number;
  tagHeader: string;
  /** Keep a lane tag sent by the client (only behind a trusted proxy that set it). */
  trustTagHeader: boolean;
  live: LiveConfig;
  metrics: ProxyMetrics;
  accessLog: boolean;
  drainSeconds: number;
  /** Extra readiness (e.g. control-plane connection) shown and enforced by /ready. */
  status?: () => ProxyStatus;
  /** Outlier detection on the instances this proxy picks (default: DEFAULT_OUTLIER_POLICY). */
  outlier?: Readonly<OutlierPolicy>;
}

/** Open the gateway and admin listeners; rejects (with nothing left open) if one cannot bind. */
export async function startGateway(opts: GatewayOptions): Promise<ProxyHandle> {
  refuseInsecureParser();
  const log = logger("gateway", { gateway: opts.gateway });
  const header = new TagHeaderName(opts.tagHeader);
  const access = opts.accessLog ? logger("access", { gateway: opts.gateway }) : null;
  const state: ProxyState = { draining: false };
  const forwarder = new H1Forwarder();
  const recorder = new Recorder(opts.metrics, "gateway", access, log);
  const stopRetain = opts.live.onChange((c) => forwarder.retain(c.endpoints));
  const ejector = outlierFor(opts, log);
  const unsubscribe = () => {
    stopRetain();
    ejector?.close();
  };
  let entry: Listener | undefined;
  try {
    entry = await Listener.open({
      name: "gateway",
      host: opts.bindHost,
      port: opts.port,
      log,
      proxy: {
        recorder,
        handle: entryHandler({
          hop: new ServiceHop(forwarder, recorder, ejector),
          live: opts.live,
          reader: new TagReader(header),
          writer: new LaneWriter(header),
          trustTagHeader: opts.trustTagHeader,
        }),
      },
    });
    const admin = await Listener.open({
      name: "admin",
      host: opts.bindHost,
      port: opts.adminPort,
      log: logger("admin", { gateway: opts.gateway }),
      serve: adminHandler({
        role: "gateway",
        live: opts.live,
        metrics: opts.metrics,
        state,
        status: opts.status,
        ejections: ejector ? () => ejector.ejections() : undefined,
      }),
    });
    log.info({ port: entry.port, admin: admin.port }, "gateway listening");
    return proxyHandle({
      listeners: [entry],
      admin,
      forwarders: [forwarder],
      state,
      drainSeconds: opts.drainSeconds,
      unsubscribe,
      log,
    });
  } catch (err) {
    unsubscribe();
    await entry?.close();
    throw err;
  }
}
