// The flags `sidecar` and `gateway` share (listeners, rules and discovery sources); flag definitions only, kept light for CLI startup.
import { readFileSync } from "node:fs";
import { type Command, InvalidArgumentError } from "commander";
import type { OutlierPolicy } from "../balancer/outlier.js";
import { TagHeaderName } from "../lane/propagation/tag.js";
import type { ProxyLimits } from "../proxy/limits.js";
import {
  envBoolOption,
  envOption,
  parseCount,
  parseDuration,
  parsePercent,
  parsePort,
  parsePositiveInt,
  parseSeconds,
} from "./options.js";

/** The flags every proxy command shares for its sources. */
export interface SourceFlags {
  rules?: string[];
  discovery: string;
  controlPlane?: string;
  /** Where the last good control-plane snapshot is persisted. */
  stateDir?: string;
  /** Host other proxies reach this one at (registered with the control plane). */
  advertiseHost?: string;
  /** The proxy's credential for the control plane, read again at every (re)connect. */
  tokenFile?: string;
  /** ms between load reports to the control plane. */
  reportInterval: number;
}

/** The flags every proxy takes besides its own ports. */
export interface ProxyFlags extends SourceFlags {
  bind: string;
  adminPort: number;
  tagHeader: string;
  accessLog: boolean;
  drainSeconds: number;
  outlierConsecutiveErrors: number;
  /** ms */
  outlierEjectionTime: number;
  outlierMaxEjectionPercent: number;
  maxConnectionsPerInstance: number;
  clientReserve: number;
  maxPendingRequests: number;
  /** ms */
  pendingTimeout: number;
  /** ms */
  clientBodyTimeout: number;
  /** ms */
  sendTimeout: number;
  maxTunnels: number;
  /** ms */
  tunnelIdleTimeout: number;
}

/** `--report-interval`: a duration from 100ms to 1m. */
function parseReportInterval(v: string): number {
  const ms = parseDuration(v);
  if (ms < 100 || ms > 60_000)
    throw new InvalidArgumentError("expected a duration from 100ms to 1m.");
  return ms;
}

/** The limits on waiting the flags describe (src/proxy/limits.ts: what each one bounds). */
export function limitFlags(flags: ProxyFlags): ProxyLimits {
  if (flags.clientReserve >= flags.maxConnectionsPerInstance) {
    throw new InvalidArgumentError(
      `--client-reserve (${flags.clientReserve}) must be below --max-connections-per-instance (${flags.maxConnectionsPerInstance}).`,
    );
  }
  return {
    connectionsPerInstance: flags.maxConnectionsPerInstance,
    clientReserve: flags.clientReserve,
    maxPendingRequests: flags.maxPendingRequests,
    pendingTimeoutMs: flags.pendingTimeout,
    clientBodyTimeoutMs: flags.clientBodyTimeout,
    sendTimeoutMs: flags.sendTimeout,
    maxTunnels: flags.maxTunnels,
    tunnelIdleMs: flags.tunnelIdleTimeout,
  };
}

/**
 * Open tunnels per listener when not told: each holds two file descriptors (client and
 * instance), so a quarter of the process's soft open-file limit leaves half of them to the rest
 * of the traffic; at most 10,000 (memory), 1,000 when the limit cannot be read (not Linux).
 */
export function defaultMaxTunnels(limits = "/proc/self/limits"): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(limits, "utf8"));
    if (m?.[1] === undefined) return 1_000;
    if (m[1] === "unlimited") return 10_000;
    return Math.max(1, Math.min(10_000, Math.floor(Number(m[1]) / 4)));
  } catch {
    return 1_000;
  }
}

/** The outlier policy the flags describe (the longest ejection is ten times the first, as Envoy's 30 s / 300 s). */
export function outlierPolicy(flags: ProxyFlags): OutlierPolicy {
  return {
    consecutiveErrors: flags.outlierConsecutiveErrors,
    baseEjectionMs: flags.outlierEjectionTime,
    maxEjectionMs: flags.outlierEjectionTime * 10,
    maxEjectionPercent: flags.outlierMaxEjectionPercent,
  };
}

/** The bounds on waiting, slow clients and tunnels (README "Upstreams" and "Hostile edge"). */
function addLimitOptions(cmd: Command): void {
  const tunnels = defaultMaxTunnels();
  cmd
    .addOption(
      envOption(
        "--max-connections-per-instance <N>",
        "connections (requests in flight) to one instance; more wait",
      )
        .argParser(parsePositiveInt)
        .default(128),
    )
    .addOption(
      envOption(
        "--client-reserve <N>",
        "connections of each instance one client address can never take (gateway: a client holds at most the rest; inbound: added for the callers); 0 = none",
      )
        .argParser(parseCount)
        .default(32),
    )
    .addOption(
      envOption(
        "--max-pending-requests <N>",
        "requests waiting for a busy instance; more get 503 LANEMESH_OVERLOADED at once",
      )
        .argParser(parseCount)
        .default(1024),
    )
    .addOption(
      envOption(
        "--pending-timeout <DURATION>",
        "longest wait for a busy instance's connection, then 503 LANEMESH_OVERLOADED",
      )
        .argParser(parseDuration)
        .default(5_000, "5s"),
    )
    .addOption(
      envOption(
        "--client-body-timeout <DURATION>",
        "a request body without progress for this long ends with 408 (or the connection cut)",
      )
        .argParser(parseDuration)
        .default(60_000, "60s"),
    )
    .addOption(
      envOption(
        "--send-timeout <DURATION>",
        "a response the client does not read for this long: connection closed",
      )
        .argParser(parseDuration)
        .default(60_000, "60s"),
    )
    .addOption(
      envOption("--max-tunnels <N>", "open WebSocket/Upgrade tunnels per listener")
        .argParser(parseCount)
        .default(tunnels, "a quarter of the open-file limit, at most 10000"),
    )
    .addOption(
      envOption(
        "--tunnel-idle-timeout <DURATION>",
        "a tunnel with no byte either way for this long is closed",
      )
        .argParser(parseDuration)
        .default(3_600_000, "1h"),
    );
}

function parseTagHeader(value: string): string {
  try {
    return new TagHeaderName(value).name;
  } catch (err) {
    throw new InvalidArgumentError(err instanceof Error ? err.message : String(err));
  }
}

/** Add the shared flags; each also reads LANEMESH_<FLAG> from the environment. */
export function addProxyOptions(cmd: Command): Command {
  cmd
    .addOption(
      envOption(
        "--bind <HOST>",
        "address every listener binds (127.0.0.1 for loopback only)",
      ).default("0.0.0.0"),
    )
    .addOption(
      envOption("--admin-port <N>", "admin listener: /healthz /ready /metrics /config")
        .argParser(parsePort)
        .default(15000),
    )
    .addOption(
      envOption("--tag-header <NAME>", "header carrying the lane tag (e.g. x-mse-tag)")
        .argParser(parseTagHeader)
        .default("x-lane-tag"),
    )
    .addOption(envBoolOption("--access-log", "log one line per request"))
    .addOption(
      envOption("--drain-seconds <S>", "on SIGTERM, the longest wait for in-flight requests")
        .argParser(parseSeconds)
        .default(10),
    )
    .addOption(
      envOption(
        "--outlier-consecutive-errors <N>",
        "eject an instance after N failed attempts in a row (refused, reset, timed out, app down); 0 = off",
      )
        .argParser(parseCount)
        .default(5),
    )
    .addOption(
      envOption(
        "--outlier-ejection-time <DURATION>",
        "first ejection's length (30s, 500ms); the n-th in a row lasts n times as long, at most 10x",
      )
        .argParser(parseDuration)
        .default(30_000, "30s"),
    )
    .addOption(
      envOption(
        "--outlier-max-ejection-percent <P>",
        "most of a service's instances out at once (one may always be; the last base never is)",
      )
        .argParser(parsePercent)
        .default(50),
    );
  addLimitOptions(cmd);
  return cmd
    .addOption(
      envOption(
        "--rules <FILE...>",
        "file mode: Route, LaneGroup and Lane files, reloaded on edit; env value comma-separated",
      ),
    )
    .addOption(
      envOption(
        "--discovery <SOURCE>",
        "endpoints: control-plane | static:FILE | nacos://HOST:8848?namespace=…&group=… | kubernetes",
      ).default("control-plane"),
    )
    .addOption(
      envOption(
        "--control-plane <HOST:PORT>",
        "control plane to stream rules (and endpoints) from, when no --rules [127.0.0.1:15010]",
      ),
    )
    .addOption(
      envOption(
        "--state-dir <DIR>",
        "where the last good control-plane snapshot is kept for restarts [$TMPDIR/lanemesh]",
      ),
    )
    .addOption(
      envOption(
        "--advertise-host <HOST>",
        "host other proxies reach this one at [$POD_IP, else --bind, else 127.0.0.1]",
      ),
    )
    .addOption(
      envOption(
        "--token-file <FILE>",
        "control-plane mode: this proxy's credential (lanemesh token create, or a projected ServiceAccount token on Kubernetes), read again at every reconnect",
      ),
    )
    .addOption(
      envOption(
        "--report-interval <DURATION>",
        "control-plane mode: how often this proxy reports its traffic (requests, errors, latency per service and tag) to the control plane, for lanemesh status and guarded lanes",
      )
        .argParser(parseReportInterval)
        .default(5000, "5s"),
    );
}
