// Wires a proxy's config sources (rules files, discovery) into its LiveConfig; it starts them, it never routes.
import { type ConfigError, formatError } from "../config/load.js";
import { StaticResolver } from "../discovery/static.js";
import type { Resolver } from "../discovery/types.js";
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
}

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
  if (flags.controlPlane !== undefined) return notImplemented("--control-plane");
  if (discovery.kind !== "static") return notImplemented(`--discovery ${flags.discovery}`);
  const rulePaths = splitList(flags.rules);
  if (rulePaths.length === 0)
    return { ok: false, lines: ["no rules source: give --rules FILE… (file mode)"] };

  const opened = StaticResolver.open(discovery.file);
  if (!opened.ok) return configErrors(opened.errors);
  const rules = startFileRules({ paths: rulePaths, live, metrics });
  if (!rules.ok) return configErrors(rules.errors);

  const resolver: Resolver = opened.resolver;
  const fileRules: FileRules = rules.source;
  let endpointCount: number | null = null;
  resolver.start(
    (endpoints) => {
      endpointCount = endpoints.length;
      live.setEndpoints(endpoints);
      log.info({ source: resolver.source, endpoints: endpoints.length }, "endpoints loaded");
    },
    (err) => {
      metrics.configRejected.inc();
      log.error(
        {
          source: resolver.source,
          code: err.code,
          errors: err.errors?.map(formatError) ?? [],
        },
        err.message,
      );
    },
  );

  return {
    ok: true,
    sources: {
      status: () => ({
        ready: live.ready() && endpointCount !== null,
        detail: {
          rules: { source: "files", files: fileRules.paths, version: fileRules.version },
          discovery: { source: resolver.source, endpoints: endpointCount },
        },
      }),
      async close() {
        fileRules.close();
        await resolver.close();
      },
    },
  };
}
