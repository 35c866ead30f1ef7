// The startup sequence of `sidecar` and `gateway`: metrics, LiveConfig, sources, start, signals; no listener code here.
import { mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LiveConfig } from "../live/live-config.js";
import type { ProxyBaseOptions } from "../proxy/assemble.js";
import type { SyncHello } from "../sync/client.js";
import { logger } from "../telemetry/logger.js";
import { ProxyMetrics } from "../telemetry/metrics.js";
import { type Drainable, exitOnSignal, failStart } from "./lifecycle.js";
import { limitFlags, outlierPolicy, type ProxyFlags } from "./proxy-options.js";
import { startSources } from "./sources.js";

const log = logger("cli");

/** What a command hands to its proxy's start function besides its own options. */
export interface ProxyBase {
  live: LiveConfig;
  metrics: ProxyMetrics;
  status: () => { ready: boolean; detail: Record<string, unknown> };
}

/** The proxy options that come from the flags every proxy shares. */
export function baseOptions(o: ProxyFlags, base: ProxyBase): ProxyBaseOptions {
  return {
    bindHost: o.bind,
    adminPort: o.adminPort,
    tagHeader: o.tagHeader,
    live: base.live,
    metrics: base.metrics,
    accessLog: o.accessLog,
    drainSeconds: o.drainSeconds,
    outlier: outlierPolicy(o),
    limits: limitFlags(o),
    status: base.status,
  };
}

/**
 * The startup sequence: metrics and LiveConfig, then the sources (invalid files → the errors on
 * stderr and exit 1, nothing started), then the proxy; log its bound ports and drain on SIGTERM.
 */
export async function runProxy<H extends Drainable & { ports: unknown }>(
  what: "sidecar" | "gateway",
  flags: ProxyFlags,
  liveOpts: { gateway?: string },
  start: (base: ProxyBase) => Promise<H> | H,
  describe: Record<string, unknown>,
  hello: (ports: H["ports"]) => SyncHello,
): Promise<void> {
  const metrics = new ProxyMetrics({ processMetrics: true });
  const live = new LiveConfig({ ...liveOpts, metrics });
  const started = await startSources(flags, live, metrics);
  if (!started.ok) {
    failStart(what, started.lines);
    return;
  }
  const { sources } = started;
  let handle: H;
  try {
    handle = await start({ live, metrics, status: () => sources.status() });
  } catch (err) {
    await sources.close();
    failStart(what, [`${what}: cannot start: ${err instanceof Error ? err.message : String(err)}`]);
    return;
  }
  if (sources.connect) {
    const h = hello(handle.ports);
    sources.connect(h, () => stateFileFor(flags.stateDir, h.nodeId));
  }
  log.info(
    { ...describe, ports: handle.ports, bind: flags.bind, ...sources.status().detail },
    `${what} started`,
  );
  exitOnSignal(what, handle, sources);
}

/** Where the last good snapshot of this node is kept: `--state-dir`, else a tmp folder. */
function stateFileFor(stateDir: string | undefined, nodeId: string): string {
  const dir = stateDir ?? join(tmpdir(), "lanemesh");
  mkdirSync(dir, { recursive: true });
  return join(dir, `${nodeId.replace(/[^A-Za-z0-9._-]/g, "_")}.json`);
}

/** The host other proxies reach this one at: --advertise-host, else POD_IP, else the bind address. */
export function advertiseHost(flags: ProxyFlags): string {
  if (flags.advertiseHost) return flags.advertiseHost;
  if (process.env.POD_IP) return process.env.POD_IP;
  return flags.bind === "0.0.0.0" || flags.bind === "::" ? "127.0.0.1" : flags.bind;
}
