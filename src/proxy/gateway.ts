// Assembles an entry gateway (gateway and admin listeners) from its options; it holds no request logic.

import {
  EntryTraces,
  type EntryTracesOptions,
  LaneWriter,
  TagHeaderName,
  TagReader,
} from "../lane/propagation/index.js";
import { logger } from "../telemetry/logger.js";
import { followConfig, openProxy, type ProxyBaseOptions } from "./assemble.js";
import { entryHandler } from "./entry.js";
import { H1Forwarder } from "./forward/h1/forwarder.js";
import { H2Forwarder } from "./forward/h2/forwarder.js";
import { ByProtocol } from "./forward/select.js";
import type { ProxyHandle, ProxyState } from "./handle.js";
import { ServiceHop } from "./hop.js";
import { gatewayForwarder, h2ForwarderFor, limitsOf, listenerLimits } from "./limits.js";
import { refuseInsecureParser } from "./listen/listener.js";
import { Recorder } from "./record.js";

export type { ProxyHandle } from "./handle.js";

export interface GatewayOptions extends ProxyBaseOptions {
  /** Gateway name whose Routes and LaneGroup entries apply (`default`); LiveConfig must be built for it. */
  gateway: string;
  /** 0 = ephemeral (see ProxyHandle.ports). */
  port: number;
  /** Keep a lane tag sent by the client (only behind a trusted proxy that set it). */
  trustTagHeader: boolean;
  /** Bounds of the table of incoming trace ids' lanes (defaults: 100 000 ids, 60 s sliding TTL). */
  entryTraces?: EntryTracesOptions;
}

/** Open the gateway and admin listeners; rejects (with nothing left open) if one cannot bind. */
export async function startGateway(opts: GatewayOptions): Promise<ProxyHandle> {
  refuseInsecureParser();
  const log = logger("gateway", { gateway: opts.gateway });
  const header = new TagHeaderName(opts.tagHeader);
  const access = opts.accessLog ? logger("access", { gateway: opts.gateway }) : null;
  const state: ProxyState = { draining: false };
  const limits = limitsOf(opts.limits);
  const forwarder = new ByProtocol(
    new H1Forwarder(gatewayForwarder(limits)),
    new H2Forwarder(h2ForwarderFor("gateway")),
  );
  const recorder = new Recorder(opts.metrics, "gateway", access, log);
  const metrics = opts.metrics;
  const { ejector, unsubscribe } = followConfig(opts, forwarder, log);
  return openProxy(opts, {
    role: "gateway",
    listeners: [
      {
        name: "gateway",
        host: opts.bindHost,
        port: opts.port,
        log,
        limits: listenerLimits(limits),
        proxy: {
          recorder,
          handle: entryHandler({
            hop: new ServiceHop(forwarder, recorder, ejector),
            live: opts.live,
            reader: new TagReader(header),
            writer: new LaneWriter(header),
            trustTagHeader: opts.trustTagHeader,
            traces: new EntryTraces(opts.entryTraces ?? {}),
            restarted: (service, tag) =>
              metrics.traceRestarted.inc({ service, tag: metrics.laneLabel(tag) }),
          }),
        },
      },
    ],
    forwarders: [forwarder],
    state,
    ejector,
    unsubscribe,
    log,
    adminLog: { gateway: opts.gateway },
  });
}
