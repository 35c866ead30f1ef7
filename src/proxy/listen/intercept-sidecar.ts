// The sidecar's interception policy: which redirected connections take the lane-aware HTTP path and where the others are piped; it never forwards a request itself.
import type { Server } from "node:net";
import type { LiveConfig } from "../../live/live-config.js";
import type { Logger } from "../../telemetry/logger.js";
import type { ProxyMetrics } from "../../telemetry/metrics.js";
import { outboundTarget } from "../route.js";
import { DETECT_TIMEOUT_MS, Interceptor } from "./intercept.js";
import { nativeOriginalDestination, type OriginalDestinationReader } from "./original-dst.js";

/*
 * Outbound (the app's calls, redirected to the outbound port): HTTP/1.x whose first request names
 * a mesh service (Host `sc-b:8080`, `sc-b.ns.svc.cluster.local`, an instance's ip:port: the same
 * rule as route.ts) takes the lane-aware path; anything else, HTTP to a host outside the mesh
 * included, goes to the original destination unchanged (as Istio's passthrough does).
 * Inbound (calls to the pod, redirected to the inbound port): HTTP/1.x sent to the app port takes
 * the lane-aware path; anything else (another port of the app, a database protocol) is piped to
 * the same port on the app host.
 */

export interface InterceptConfig {
  /** Ports piped through without sniffing (server-speaks-first protocols). */
  readonly opaquePorts: readonly number[];
  /** Default DETECT_TIMEOUT_MS. */
  readonly detectTimeoutMs?: number;
  /** Default: SO_ORIGINAL_DST through the native addon (throws at start when it is missing). */
  readonly original?: OriginalDestinationReader;
}

export interface SidecarInterceptionParts {
  readonly live: LiveConfig;
  readonly metrics: ProxyMetrics;
  readonly appHost: string;
  readonly appPort: number;
  readonly log: Logger;
}

/** The two fronts of one sidecar, attached as its listeners open. */
export class SidecarInterception {
  private readonly fronts: Interceptor[] = [];
  private readonly ownPorts: number[] = [];
  private readonly original: OriginalDestinationReader;

  /** Throws (before any listener opens) when original destinations cannot be read here. */
  constructor(
    private readonly config: InterceptConfig,
    private readonly parts: SidecarInterceptionParts,
  ) {
    this.original = config.original ?? nativeOriginalDestination();
  }

  /**
   * Put the front on a listener's server; call it as soon as the listener is bound. The ports of
   * the sidecar's listeners are never dialled by a front (`port` is this listener's).
   */
  attach(direction: "inbound" | "outbound", server: Server, port: number): void {
    this.ownPorts.push(port);
    const { live, appHost, appPort } = this.parts;
    this.fronts.push(
      new Interceptor(server, {
        direction,
        original: this.original,
        ownPorts: this.ownPorts,
        opaquePorts: new Set(this.config.opaquePorts),
        detectTimeoutMs: this.config.detectTimeoutMs ?? DETECT_TIMEOUT_MS,
        wantsHttp:
          direction === "outbound"
            ? (head) => {
                const c = live.current();
                // Not ready, or a head too long to read: the HTTP path answers.
                if (head === null || c === undefined) return true;
                return outboundTarget(head.target, head.host, c).ok;
              }
            : (_head, dst) => dst.port === appPort,
        wantsH2: (dst) => direction === "inbound" && dst.port === appPort,
        passthroughTo:
          direction === "outbound"
            ? (dst) => ({ host: dst.address, port: dst.port })
            : (dst) => ({ host: appHost, port: dst.port }),
        log: this.parts.log.child({ intercept: direction }),
        connections: this.parts.metrics.interceptedConnections,
      }),
    );
  }

  /** Also a listener of the sidecar that has no front (admin): its port is never dialled. */
  ownPort(port: number): void {
    this.ownPorts.push(port);
  }

  close(): void {
    for (const f of this.fronts) f.close();
  }
}
