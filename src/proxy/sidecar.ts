// Assembles a sidecar (inbound, outbound and admin listeners sharing one trace-id cache) from its options; it holds no request logic.

import {
  isLaneTag,
  LaneWriter,
  TagHeaderName,
  TagReader,
  TraceTagCache,
} from "../lane/propagation/index.js";
import { logger } from "../telemetry/logger.js";
import { followConfig, openProxy, type ProxyBaseOptions } from "./assemble.js";
import { H1Forwarder } from "./forward/h1/forwarder.js";
import { H2Forwarder } from "./forward/h2/forwarder.js";
import { ByProtocol } from "./forward/select.js";
import type { ProxyHandle, ProxyState } from "./handle.js";
import { ServiceHop } from "./hop.js";
import { inboundHandler } from "./inbound.js";
import {
  h2ForwarderFor,
  inboundForwarder,
  limitsOf,
  listenerLimits,
  outboundForwarder,
} from "./limits.js";
import { type InterceptConfig, SidecarInterception } from "./listen/intercept-sidecar.js";
import { type Listener, refuseInsecureParser } from "./listen/listener.js";
import { outboundHandler } from "./outbound.js";
import { Recorder } from "./record.js";

export type { ProxyHandle } from "./handle.js";

export interface SidecarOptions extends ProxyBaseOptions {
  /** The service this sidecar's app instance belongs to. */
  app: string;
  /** This instance's lane tag; null = base. */
  tag: string | null;
  appHost: string;
  appPort: number;
  /** 0 = ephemeral (see ProxyHandle.ports). */
  inboundPort: number;
  outboundPort: number;
  /** Trace-id → tag cache bounds (defaults: 100 000 entries, 60 s sliding TTL). */
  traceCache?: { maxEntries: number; ttlMs: number };
  /** Transparent interception (iptables REDIRECT): see listen/intercept-sidecar.ts. Default: off. */
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
  const metrics = opts.metrics;
  const cache = new TraceTagCache({
    ...opts.traceCache,
    onLaneLost: (tag, requests) =>
      metrics.laneAmbiguous.inc({ service: opts.app, tag: metrics.laneLabel(tag) }, requests),
  });
  const access = opts.accessLog ? logger("access", { app: opts.app }) : null;
  const state: ProxyState = { draining: false };
  const limits = limitsOf(opts.limits);
  const toApp = new ByProtocol(
    new H1Forwarder(inboundForwarder(limits)),
    new H2Forwarder(h2ForwarderFor("inbound")),
  );
  const toServices = new ByProtocol(
    new H1Forwarder(outboundForwarder(limits)),
    new H2Forwarder(h2ForwarderFor("outbound")),
  );
  const inboundLog = logger("inbound", { app: opts.app });
  const outboundLog = logger("outbound", { app: opts.app });
  const inboundRecorder = new Recorder(opts.metrics, "inbound", access, inboundLog);
  const outboundRecorder = new Recorder(opts.metrics, "outbound", access, outboundLog);
  const followed = followConfig(opts, toServices, outboundLog);
  const ejector = followed.ejector;
  const intercept =
    opts.intercept === undefined ? null : new SidecarInterception(opts.intercept, { ...opts, log });
  const unsubscribe = () => {
    followed.unsubscribe();
    intercept?.close();
  };

  return openProxy(opts, {
    role: "sidecar",
    listeners: [
      {
        name: "inbound",
        host: opts.bindHost,
        port: opts.inboundPort,
        log: inboundLog,
        limits: listenerLimits(limits),
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
      },
      {
        name: "outbound",
        host: opts.bindHost,
        port: opts.outboundPort,
        log: outboundLog,
        limits: listenerLimits(limits),
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
      },
    ],
    forwarders: [toApp, toServices],
    state,
    ejector,
    unsubscribe,
    log,
    adminLog: { app: opts.app },
    ...(intercept === null
      ? {}
      : {
          // Each front goes on its listener as soon as it is bound; no front dials the admin port.
          onListening: (l: Listener) => {
            if (l.name === "inbound" || l.name === "outbound") {
              intercept.attach(l.name, l.server, l.port);
            } else intercept.ownPort(l.port);
          },
        }),
  });
}
