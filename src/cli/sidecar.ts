// `lanemesh sidecar`: parses the sidecar's flags and starts it beside one app instance; no proxy logic here.
import { type Command, InvalidArgumentError } from "commander";
import { parsePortList } from "../kubernetes/iptables.js";
import {
  envBoolOption,
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
  intercept: boolean;
  proxyUid: number;
  opaquePorts: number[];
  protocolDetectTimeout: number;
}

/** The Linkerd-style default: server-speaks-first ports piped through without sniffing. */
const OPAQUE_PORTS = "25,587,3306,4444,5432,6379,9300,11211";

function parsePorts(value: string): number[] {
  const r = parsePortList(value);
  if (!r.ok) throw new InvalidArgumentError(`${r.error}.`);
  return r.value;
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
    )
    .addOption(
      envBoolOption(
        "--intercept",
        "transparent interception (after `lanemesh iptables`): read each redirected connection's original destination; non-HTTP TCP is piped there unchanged",
      ),
    )
    .addOption(
      envOption(
        "--proxy-uid <UID>",
        "with --intercept: the user the sidecar must run as (the rules exempt it)",
      )
        .argParser(parsePositiveInt)
        .default(1337),
    )
    .addOption(
      envOption(
        "--opaque-ports <PORTS>",
        "with --intercept: ports piped through without sniffing (server-first protocols)",
      )
        .argParser(parsePorts)
        .default(parsePorts(OPAQUE_PORTS), OPAQUE_PORTS),
    )
    .addOption(
      envOption(
        "--protocol-detect-timeout <DURATION>",
        "with --intercept: how long a redirected connection may stay silent before it is piped through unsniffed",
      )
        .argParser(parseDuration)
        .default(5000, "5s"),
    );
  addProxyOptions(cmd).action(async (o: SidecarFlags) => {
    const uid = process.getuid?.();
    if (o.intercept && uid !== o.proxyUid) {
      // Its own connections would be redirected back to itself: a loop.
      process.stderr.write(
        `error: --intercept: the sidecar runs as uid ${uid} but the interception rules exempt only --proxy-uid ${o.proxyUid}; run it as that user (its own connections would otherwise be redirected to itself)\n`,
      );
      process.exitCode = 1;
      return;
    }
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
          ...(o.intercept
            ? {
                intercept: {
                  opaquePorts: o.opaquePorts,
                  detectTimeoutMs: o.protocolDetectTimeout,
                },
              }
            : {}),
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
