// Assembles a sidecar (inbound, outbound and admin listeners sharing one trace-id cache) from its options; it holds no request logic.

import type { OutlierPolicy } from "../balancer/outlier.js";
import {
  isLaneTag,
  LaneWriter,
  TagHeaderName,
  TagReader,
  TraceTagCache,
} from "../propagation/index.js";
import type { LiveConfig } from "../sync/state.js";
import { logger } from "../telemetry/logger.js";
import type { ProxyMetrics } from "../telemetry/metrics.js";
import { adminHandler, type ProxyStatus } from "./admin.js";
import { outlierFor } from "./ejection.js";
import { H1Forwarder } from "./forward-h1.js";
import { type ProxyHandle, type ProxyState, proxyHandle } from "./handle.js";
import { ServiceHop } from "./hop.js";
import { inboundHandler } from "./inbound.js";
import { type InterceptConfig, SidecarInterception } from "./intercept-sidecar.js";
import { Listener, refuseInsecureParser } from "./listener.js";
import { outboundHandler } from "./outbound.js";
import { Recorder } from "./record.js";

export type { ProxyHandle } from "./handle.js";

export interface SidecarOptions {
  /** The service this sidecar's app instance belongs to. */
  app: string;
  /** This instance's lane tag; null = base. */
  tag: string | null;
  appHost: string;
  appPort: number;
  bindHost: string;
  /** 0 = ephemeral (see ProxyHandle.ports). */
  inboundPort: number;
  outboundPort: number;
  adminPort: number;
  tagHeader: string;
  live: LiveConfig;
  metrics: ProxyMetrics;
  accessLog: boolean;
  drainSeconds: number;
  /** Trace-id → tag cache bounds (defaults: 100 000 entries, 60 s sliding TTL). */
  traceCache?: { maxEntries: number; ttlMs: number };
  /** Extra readiness (e.g. control-plane connection) shown and enforced by /ready. */
  status?: () => ProxyStatus;
  /** Outlier detection on the instances this proxy picks (default: DEFAULT_OUTLIER_POLICY). */
  outlier?: Readonly<OutlierPolicy>;
  /** Transparent interception (iptables REDIRECT): see intercept-sidecar.ts. Default: off. */
  intercept?: InterceptConfig;
}

/** Open the sidecar's three listeners; rejects (with nothing left open) if one cannot bind. */
export async function startSidecar(opts: SidecarOptions): Promise<ProxyHandle> {
  refuseInsecureParser();
  if (opts.tag !== null && !isLaneTag(opts.tag)) {
    throw new Error(`sidecar tag ${JSON.stringify(opts.tag)} is not a lane tag`);
  }
  const log = logger("sidecar", { app: opts.app, tag: opts.tag ?? "base" });
  const header = new TagHeaderName(opts.tagHeader);
  const reader = new TagReader(header);
  const writer = new LaneWriter(header);
  const cache = new TraceTagCache(opts.traceCache ?? {});
  const access = opts.accessLog ? logger("access", { app: opts.app }) : null;
  const state: ProxyState = { draining: false };
  const toApp = new H1Forwarder();
  const toServices = new H1Forwarder();
  const inboundLog = logger("inbound", { app: opts.app });
  const outboundLog = logger("outbound", { app: opts.app });
  const inboundRecorder = new Recorder(opts.metrics, "inbound", access, inboundLog);
  const outboundRecorder = new Recorder(opts.metrics, "outbound", access, outboundLog);
  const stopRetain = opts.live.onChange((c) => toServices.retain(c.endpoints));
  const ejector = outlierFor(opts, outboundLog);
  const intercept =
    opts.intercept === undefined ? null : new SidecarInterception(opts.intercept, { ...opts, log });
  const unsubscribe = () => {
    stopRetain();
    ejector?.close();
    intercept?.close();
  };

  const opened: Listener[] = [];
  const open = async (...args: Parameters<typeof Listener.open>) => {
    const l = await Listener.open(...args);
    opened.push(l);
    return l;
  };
  try {
    const inbound = await open({
      name: "inbound",
      host: opts.bindHost,
      port: opts.inboundPort,
      log: inboundLog,
      proxy: {
        recorder: inboundRecorder,
        handle: inboundHandler({
          app: opts.app,
          tag: opts.tag,
          appUpstream: { address: opts.appHost, port: opts.appPort },
          forwarder: toApp,
          recorder: inboundRecorder,
          reader,
          writer,
          cache,
        }),
      },
    });
    intercept?.attach("inbound", inbound.server, inbound.port);
    const outbound = await open({
      name: "outbound",
      host: opts.bindHost,
      port: opts.outboundPort,
      log: outboundLog,
      proxy: {
        recorder: outboundRecorder,
        handle: outboundHandler({
          hop: new ServiceHop(toServices, outboundRecorder, ejector),
          live: opts.live,
          reader,
          writer,
          cache,
        }),
      },
    });
    intercept?.attach("outbound", outbound.server, outbound.port);
    const admin = await open({
      name: "admin",
      host: opts.bindHost,
      port: opts.adminPort,
      log: logger("admin", { app: opts.app }),
      serve: adminHandler({
        role: "sidecar",
        live: opts.live,
        metrics: opts.metrics,
        state,
        status: opts.status,
        ejections: ejector ? () => ejector.ejections() : undefined,
      }),
    });
    intercept?.ownPort(admin.port);
    log.info(
      {
        inbound: inbound.port,
        outbound: outbound.port,
        admin: admin.port,
        appPort: opts.appPort,
        intercept: intercept !== null,
      },
      "sidecar listening",
    );
    return proxyHandle({
      listeners: [inbound, outbound],
      admin,
      forwarders: [toApp, toServices],
      state,
      drainSeconds: opts.drainSeconds,
      unsubscribe,
      log,
    });
  } catch (err) {
    unsubscribe();
    await Promise.all(opened.map((l) => l.close()));
    throw err;
  }
}
