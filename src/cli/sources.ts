// Wires a proxy's config sources (rules files or the control plane, and discovery) into its LiveConfig; it starts them, it never routes.
import { type ConfigError, formatError } from "../config/document.js";
import { StaticResolver } from "../discovery/static.js";
import type { Resolver } from "../discovery/types.js";
import type { LiveConfig } from "../live/live-config.js";
import type { startSync as StartSync, SyncHello } from "../sync/client.js";
import { type FileRules, startFileRules } from "../sync/files.js";
import { logger } from "../telemetry/logger.js";
import type { ProxyMetrics } from "../telemetry/metrics.js";
import { splitList } from "./options.js";
import type { SourceFlags } from "./proxy-options.js";

const log = logger("cli");

export type DiscoverySpec =
  | { kind: "control-plane" }
  | { kind: "static"; file: string }
  | { kind: "nacos"; url: string }
  | { kind: "kubernetes"; spec: string };

/** `control-plane` | `static:FILE` | `nacos://HOST:PORT?…` | `kubernetes[?…]`. */
export function parseDiscovery(spec: string): DiscoverySpec | { error: string } {
  const s = spec.trim();
  if (s === "control-plane") return { kind: "control-plane" };
  if (s === "kubernetes" || s.startsWith("kubernetes?")) return { kind: "kubernetes", spec: s };
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
   * Once the proxy's listeners are bound (its inbound address is known only then): control-plane
   * mode opens its stream with this hello; a registry resolver (Nacos) registers a sidecar's own
   * instance. `stateFile` is where control-plane mode keeps its last good snapshot.
   */
  connect?(hello: SyncHello, stateFile: () => string): void;
}

/** The control plane a proxy streams from when none is named. */
export const DEFAULT_CONTROL_PLANE = "127.0.0.1:15010";

export type SourcesStart = { ok: true; sources: Sources } | { ok: false; lines: string[] };

const configErrors = (errors: ConfigError[]): SourcesStart => ({
  ok: false,
  lines: errors.map(formatError),
});

type Opened = { ok: true; resolver: Resolver } | { ok: false; lines: string[] };

/**
 * The resolver `--discovery` names (none for `control-plane`). Registry clients are imported only
 * here, when named: a proxy that does not use them does not carry them in memory.
 */
async function openResolver(discovery: DiscoverySpec): Promise<Opened | null> {
  switch (discovery.kind) {
    case "control-plane":
      return null;
    case "static": {
      const opened = StaticResolver.open(discovery.file);
      return opened.ok ? opened : { ok: false, lines: opened.errors.map(formatError) };
    }
    case "nacos": {
      const { parseNacosUrl } = await import("../discovery/nacos/target.js");
      const target = parseNacosUrl(discovery.url);
      if ("error" in target) return { ok: false, lines: [`--discovery: ${target.error}`] };
      const { NacosResolver } = await import("../discovery/nacos/resolver.js");
      return { ok: true, resolver: new NacosResolver(target, { log: logger("nacos") }) };
    }
    case "kubernetes": {
      const { parseKubernetesSpec } = await import("../discovery/kubernetes/target.js");
      const target = parseKubernetesSpec(discovery.spec);
      if ("error" in target) return { ok: false, lines: [`--discovery: ${target.error}`] };
      const { KubernetesResolver } = await import("../discovery/kubernetes/resolver.js");
      return { ok: true, resolver: new KubernetesResolver(target, { log: logger("kubernetes") }) };
    }
  }
}

/**
 * Start the rules and endpoint sources named by the flags. File rules are installed before this
 * resolves; endpoints arrive from the resolver later (static: on the next microtask).
 */
export async function startSources(
  flags: SourceFlags,
  live: LiveConfig,
  metrics: ProxyMetrics,
): Promise<SourcesStart> {
  const discovery = parseDiscovery(flags.discovery);
  if ("error" in discovery) return { ok: false, lines: [discovery.error] };
  const rulePaths = splitList(flags.rules);
  if (rulePaths.length > 0 && flags.controlPlane !== undefined)
    return {
      ok: false,
      lines: ["give either --rules FILE… (file mode) or --control-plane, not both"],
    };
  if (rulePaths.length > 0 && discovery.kind === "control-plane")
    return {
      ok: false,
      lines: [
        "file mode (--rules) takes its endpoints from --discovery static:FILE, nacos://… or kubernetes",
      ],
    };

  const opened = await openResolver(discovery);
  if (opened !== null && !opened.ok) return { ok: false, lines: opened.lines };
  const resolver = opened?.resolver;
  if (rulePaths.length === 0) {
    // The control-plane client (gRPC, the wire's protobuf) is imported only in this mode: a proxy
    // in file mode does not carry it in memory.
    const { startSync } = await import("../sync/client.js");
    return controlPlaneSources(startSync, flags, resolver, live, metrics);
  }

  const rules = startFileRules({ paths: rulePaths, live, metrics });
  if (!rules.ok) {
    await resolver?.close();
    return configErrors(rules.errors);
  }
  const fileRules: FileRules = rules.source;
  const endpointSource = resolver as Resolver;
  const endpoints = startResolver(endpointSource, live, metrics);
  return {
    ok: true,
    sources: {
      status: () => ({
        ready: live.ready() && endpoints.count() !== null,
        detail: {
          rules: { source: "files", files: fileRules.paths, version: fileRules.version },
          discovery: { source: endpointSource.source, endpoints: endpoints.count() },
        },
      }),
      connect: (hello) => registerSelf(endpointSource, hello),
      async close() {
        fileRules.close();
        await endpointSource.close();
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
      const rejected = err.code === "LANEMESH_DISCOVERY_REJECTED";
      if (rejected) metrics.configRejected.inc();
      (rejected ? log.error : log.warn).call(
        log,
        {
          source: resolver.source,
          code: err.code,
          errors: err.errors?.map(formatError) ?? [],
          endpoints: count,
        },
        rejected ? err.message : `${err.message}; the last endpoint set keeps serving`,
      );
    },
  );
  return { count: () => count };
}

/** A sidecar publishes its own instance to a registry resolver that takes registrations. */
function registerSelf(resolver: Resolver, hello: SyncHello): void {
  if (resolver.register === undefined || hello.role !== "sidecar") return;
  const address = hello.address ?? "";
  const colon = address.lastIndexOf(":");
  const self = {
    service: hello.app ?? "",
    address: address.slice(0, colon).replace(/^\[|\]$/g, ""),
    port: Number(address.slice(colon + 1)),
    tag: hello.tag === "" ? null : (hello.tag ?? null),
  };
  resolver.register(self).then(
    () => log.info({ source: resolver.source, ...self }, "registered this instance"),
    (err: unknown) =>
      log.error(
        { source: resolver.source, ...self, err: err instanceof Error ? err.message : String(err) },
        "could not register this instance",
      ),
  );
}

/**
 * Control-plane mode: rules (and, with `--discovery control-plane`, endpoints) stream from the
 * control plane once `connect` is called; until the first snapshot /ready fails.
 */
function controlPlaneSources(
  startSync: typeof StartSync,
  flags: SourceFlags,
  resolver: Resolver | undefined,
  live: LiveConfig,
  metrics: ProxyMetrics,
): SourcesStart {
  const target = flags.controlPlane ?? DEFAULT_CONTROL_PLANE;
  const endpoints = resolver ? startResolver(resolver, live, metrics) : undefined;
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
          stateFile: stateFile(),
          ...(flags.tokenFile ? { tokenFile: flags.tokenFile } : {}),
          reportIntervalMs: flags.reportInterval,
          log: logger("sync", { controlPlane: target }),
          endpoints: resolver === undefined,
        });
        if (resolver) registerSelf(resolver, hello);
      },
      status() {
        const st = sub?.status();
        return {
          ready:
            (st?.ready ?? false) && live.ready() && (endpoints ? endpoints.count() !== null : true),
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
