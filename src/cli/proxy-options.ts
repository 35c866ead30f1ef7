// The flags `sidecar` and `gateway` share (listeners, rules and discovery sources); flag definitions only, kept light for CLI startup.
import { type Command, InvalidArgumentError } from "commander";
import type { OutlierPolicy } from "../balancer/outlier.js";
import { TagHeaderName } from "../lane/propagation/tag.js";
import {
  envBoolOption,
  envOption,
  parseCount,
  parseDuration,
  parsePercent,
  parsePort,
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
    );
}
