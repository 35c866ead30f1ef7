// Wires a proxy's config sources (rules files, discovery) into its LiveConfig; it starts them, it never routes.
import { type ConfigError, formatError } from "../config/load.js";
import { StaticResolver } from "../discovery/static.js";
import type { Resolver } from "../discovery/types.js";
import { type SyncHello, startSync } from "../sync/client.js";
import { type FileRules, startFileRules } from "../sync/files.js";
import type { LiveConfig } from "../sync/state.js";
import { logger } from "../telemetry/logger.js";
import type { ProxyMetrics } from "../telemetry/metrics.js";
import { splitList } from "./options.js";
import type { SourceFlags } from "./proxy-options.js";

const log = logger("cli");

export type DiscoverySpec =
  | { kind: "control-plane" }
  | { kind: "static"; file: string }
  | { kind: "nacos"; url: string }
  | { kind: "kubernetes" };

/** `control-plane` | `static:FILE` | `nacos://HOST:PORT?…` | `kubernetes`. */
export function parseDiscovery(spec: string): DiscoverySpec | { error: string } {
  const s = spec.trim();
  if (s === "control-plane") return { kind: "control-plane" };
  if (s === "kubernetes") return { kind: "kubernetes" };
  if (s.startsWith("nacos://")) return { kind: "nacos", url: s };
  if (s.startsWith("static:")) {
    const file = s.slice("static:".length);
    if (file === "") return { error: "--discovery static: needs a file (static:FILE)" };
    return { kind: "static", file };
  }
  return {
    error: `unknown --discovery ${JSON.stringify(spec)}: expected control-plane, static:FILE, nacos://HOST:PORT or kubernetes`,
  };
}

/** Running sources: what /ready and /config report about them, and how to stop them. */
export interface Sources {
  status(): { ready: boolean; detail: Record<string, unknown> };
  close(): Promise<void>;
  /**
   * Control-plane mode only: open the stream once the proxy's listeners are bound, with the hello
   * that registers this instance (its inbound address is known only then).
   */
  connect?(hello: SyncHello, stateFile: string): void;
}

/** The control plane a proxy streams from when none is named. */
export const DEFAULT_CONTROL_PLANE = "127.0.0.1:15010";

export type SourcesStart = { ok: true; sources: Sources } | { ok: false; lines: string[] };

const notImplemented = (what: string): SourcesStart => ({
  ok: false,
  lines: [`${what} is not implemented yet: use --rules FILE… with --discovery static:FILE`],
});

const configErrors = (errors: ConfigError[]): SourcesStart => ({
  ok: false,
  lines: errors.map(formatError),
});

/**
 * Start the rules and endpoint sources named by the flags. File rules are installed before this
 * returns; static endpoints arrive on the next microtask. Sources that are not built yet answer
 * with a clear error instead of starting half a proxy.
 */
export function startSources(
  flags: SourceFlags,
  live: LiveConfig,
  metrics: ProxyMetrics,
): SourcesStart {
  const discovery = parseDiscovery(flags.discovery);
  if ("error" in discovery) return { ok: false, lines: [discovery.error] };
  if (discovery.kind === "nacos" || discovery.kind === "kubernetes")
    return notImplemented(`--discovery ${flags.discovery}`);
  const rulePaths = splitList(flags.rules);
  if (rulePaths.length === 0) return controlPlaneSources(flags, discovery, live, metrics);
  if (flags.controlPlane !== undefined)
    return {
      ok: false,
      lines: ["give either --rules FILE… (file mode) or --control-plane, not both"],
    };
  if (discovery.kind !== "static")
    return {
      ok: false,
      lines: ["file mode (--rules) takes its endpoints from --discovery static:FILE"],
    };

  const opened = StaticResolver.open(discovery.file);
  if (!opened.ok) return configErrors(opened.errors);
  const rules = startFileRules({ paths: rulePaths, live, metrics });
  if (!rules.ok) return configErrors(rules.errors);
  const fileRules: FileRules = rules.source;
  const endpoints = startResolver(opened.resolver, live, metrics);
  return {
    ok: true,
    sources: {
      status: () => ({
        ready: live.ready() && endpoints.count() !== null,
        detail: {
          rules: { source: "files", files: fileRules.paths, version: fileRules.version },
          discovery: { source: opened.resolver.source, endpoints: endpoints.count() },
        },
      }),
      async close() {
        fileRules.close();
        await opened.resolver.close();
      },
    },
  };
}

/** Feed a resolver's endpoint sets into the LiveConfig; a refused update keeps the last good. */
function startResolver(
  resolver: Resolver,
  live: LiveConfig,
  metrics: ProxyMetrics,
): { count(): number | null } {
  let count: number | null = null;
  resolver.start(
    (endpoints) => {
      count = endpoints.length;
      live.setEndpoints(endpoints);
      log.info({ source: resolver.source, endpoints: endpoints.length }, "endpoints loaded");
    },
    (err) => {
      metrics.configRejected.inc();
      log.error(
        { source: resolver.source, code: err.code, errors: err.errors?.map(formatError) ?? [] },
        err.message,
      );
    },
  );
  return { count: () => count };
}

/**
 * Control-plane mode: rules (and, with `--discovery control-plane`, endpoints) stream from the
 * control plane once `connect` is called; until the first snapshot /ready fails.
 */
function controlPlaneSources(
  flags: SourceFlags,
  discovery: DiscoverySpec,
  live: LiveConfig,
  metrics: ProxyMetrics,
): SourcesStart {
  const target = flags.controlPlane ?? DEFAULT_CONTROL_PLANE;
  let resolver: Resolver | undefined;
  let endpoints: { count(): number | null } | undefined;
  if (discovery.kind === "static") {
    const opened = StaticResolver.open(discovery.file);
    if (!opened.ok) return configErrors(opened.errors);
    resolver = opened.resolver;
    endpoints = startResolver(resolver, live, metrics);
  }
  let sub: ReturnType<typeof startSync> | undefined;
  return {
    ok: true,
    sources: {
      connect(hello, stateFile) {
        sub = startSync({
          target,
          hello,
          live,
          metrics,
          stateFile,
          log: logger("sync", { controlPlane: target }),
          endpoints: resolver === undefined,
        });
      },
      status() {
        const st = sub?.status();
        return {
          ready: (st?.ready ?? false) && live.ready(),
          detail: {
            rules: { source: "control-plane", target, ...(st?.detail ?? { connected: false }) },
            ...(resolver
              ? { discovery: { source: resolver.source, endpoints: endpoints?.count() ?? null } }
              : {}),
          },
        };
      },
      async close() {
        await sub?.close();
        await resolver?.close();
      },
    },
  };
}
