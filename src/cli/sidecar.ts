// `lanemesh sidecar`: parses the sidecar's flags and starts it beside one app instance; no proxy logic here.
import type { Command } from "commander";
import {
  envOption,
  parseDuration,
  parsePort,
  parsePositiveInt,
  parseTag,
  parseTargetPort,
} from "./options.js";
import { addProxyOptions, type ProxyFlags } from "./proxy-options.js";

interface SidecarFlags extends ProxyFlags {
  app: string;
  tag?: string;
  appHost: string;
  appPort: number;
  inboundPort: number;
  outboundPort: number;
  traceCacheSize?: number;
  traceCacheTtl?: number;
}

/** The trace-id cache's own defaults (lane/propagation/trace-cache.ts), used when one flag is given. */
const TRACE_CACHE_SIZE = 100_000;
const TRACE_CACHE_TTL_MS = 60_000;

export function register(program: Command): void {
  const cmd = program
    .command("sidecar")
    .description("run the sidecar beside one app instance (inbound, outbound and admin listeners)")
    .addOption(envOption("--app <NAME>", "service name of the app").makeOptionMandatory())
    .addOption(
      envOption("--tag <TAG>", "lane tag of this instance; none = base").argParser(parseTag),
    )
    .addOption(
      envOption("--app-port <N>", "port of the app, 1..65535")
        .argParser(parseTargetPort)
        .makeOptionMandatory(),
    )
    .addOption(envOption("--app-host <HOST>", "address of the app").default("127.0.0.1"))
    .addOption(
      envOption("--inbound-port <N>", "listener for calls to the app")
        .argParser(parsePort)
        .default(15006),
    )
    .addOption(
      envOption("--outbound-port <N>", "listener (HTTP proxy) for the app's calls out")
        .argParser(parsePort)
        .default(15001),
    )
    .addOption(
      envOption("--trace-cache-size <N>", "trace-id → tag cache bound [100000]").argParser(
        parsePositiveInt,
      ),
    )
    .addOption(
      envOption(
        "--trace-cache-ttl <DURATION>",
        "trace-id → tag cache entry life, e.g. 500ms, 60s, 5m [60s]",
      ).argParser(parseDuration),
    );
  addProxyOptions(cmd).action(async (o: SidecarFlags) => {
    const [{ startSidecar }, { runProxy, advertiseHost, baseOptions }] = await Promise.all([
      import("../proxy/sidecar.js"),
      import("./run-proxy.js"),
    ]);
    const traceCache =
      o.traceCacheSize === undefined && o.traceCacheTtl === undefined
        ? {}
        : {
            traceCache: {
              maxEntries: o.traceCacheSize ?? TRACE_CACHE_SIZE,
              ttlMs: o.traceCacheTtl ?? TRACE_CACHE_TTL_MS,
            },
          };
    await runProxy(
      "sidecar",
      o,
      {},
      (base) =>
        startSidecar({
          ...baseOptions(o, base),
          app: o.app,
          tag: o.tag ?? null,
          appHost: o.appHost,
          appPort: o.appPort,
          inboundPort: o.inboundPort,
          outboundPort: o.outboundPort,
          ...traceCache,
        }),
      { app: o.app, tag: o.tag ?? null },
      (ports) => {
        const address = `${advertiseHost(o)}:${ports.inbound}`;
        return {
          nodeId: `${o.app}~${o.tag ?? "base"}~${address}`,
          role: "sidecar",
          app: o.app,
          tag: o.tag ?? null,
          address,
        };
      },
    );
  });
}
