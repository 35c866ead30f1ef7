// `lanemesh control-plane`: parses flags, starts the control plane and stops it on SIGINT/SIGTERM; no logic of its own.
import { resolve } from "node:path";
import { type Command, InvalidArgumentError } from "commander";
import { startControlPlane } from "../control-plane/control-plane.js";
import { noAuthentication, type ProxyAuthenticator } from "../control-plane/identity.js";
import { DEFAULT_MAX_SNAPSHOT_BYTES, PROXY_MAX_RECEIVE_BYTES } from "../protocol/wire.js";
import { logger } from "../telemetry/logger.js";
import { defaultDataDir } from "./data-dir.js";
import { envOption, parseDuration, parsePort, parsePositiveInt, parseSeconds } from "./options.js";

/** `--load-window`: 1s..10m. */
function parseLoadWindow(v: string): number {
  const ms = parseDuration(v);
  if (ms < 1000 || ms > 600_000)
    throw new InvalidArgumentError("expected a duration from 1s to 10m.");
  return ms;
}

type ProxyAuth = "tokens" | "kubernetes" | "none";

interface Flags {
  grpcPort: number;
  httpPort: number;
  dataDir?: string;
  bind: string;
  graceSeconds: number;
  debounceMs: number;
  debounceMaxMs: number;
  proxyAuth: ProxyAuth;
  apiTokenFile?: string;
  maxSnapshotBytes: number;
  /** ms */
  loadWindow: number;
}

function parseSnapshotBytes(v: string): number {
  const n = parsePositiveInt(v);
  if (n > PROXY_MAX_RECEIVE_BYTES)
    throw new InvalidArgumentError(`at most ${PROXY_MAX_RECEIVE_BYTES} (what proxies accept).`);
  return n;
}

export function register(program: Command): void {
  program
    .command("control-plane")
    .description(
      "run the control plane: stores resources, streams snapshots to proxies over gRPC, serves the HTTP API",
    )
    .addOption(
      envOption("--grpc-port <PORT>", "gRPC port proxies stream from")
        .argParser(parsePort)
        .default(15010),
    )
    .addOption(
      envOption("--http-port <PORT>", "HTTP API port (apply, get, delete, metrics)")
        .argParser(parsePort)
        .default(15014),
    )
    .addOption(
      envOption(
        "--data-dir <DIR>",
        "where resources, the token signing key and the admin token are kept [/var/lib/lanemesh if writable, else ~/.lanemesh/control-plane]",
      ),
    )
    .addOption(envOption("--bind <ADDRESS>", "address both ports listen on").default("127.0.0.1"))
    .addOption(
      envOption(
        "--proxy-auth <MODE>",
        "how proxies prove who they are: tokens (lanemesh token create), kubernetes (ServiceAccount tokens, TokenReview), none (anyone who reaches the gRPC port: tests only)",
      )
        .choices(["tokens", "kubernetes", "none"])
        .default("tokens"),
    )
    .addOption(
      envOption(
        "--api-token-file <FILE>",
        "the HTTP API's admin token (changes need it) [DATA_DIR/admin.token, created at first start]",
      ),
    )
    .addOption(
      envOption(
        "--max-snapshot-bytes <N>",
        `largest snapshot an apply may make; more is refused with 413 [${DEFAULT_MAX_SNAPSHOT_BYTES}, at most ${PROXY_MAX_RECEIVE_BYTES}]`,
      )
        .argParser(parseSnapshotBytes)
        .default(DEFAULT_MAX_SNAPSHOT_BYTES),
    )
    .addOption(
      envOption(
        "--grace-seconds <S>",
        "how long a sidecar's instance outlives a stream that failed on the control plane's side (one the proxy closed, or whose connection is gone, takes it at once)",
      )
        .argParser(parseSeconds)
        .default(1),
    )
    .addOption(
      envOption("--debounce-ms <MS>", "quiet period before pushing a change")
        .argParser(parsePositiveInt)
        .default(100),
    )
    .addOption(
      envOption("--debounce-max-ms <MS>", "longest a push waits while changes keep coming")
        .argParser(parsePositiveInt)
        .default(1000),
    )
    .addOption(
      envOption(
        "--load-window <DURATION>",
        "how far back lanemesh status computes requests/s, error rates and percentiles from the proxies' load reports",
      )
        .argParser(parseLoadWindow)
        .default(30_000, "30s"),
    )
    .action(async (flags: Flags) => {
      const log = logger("control-plane");
      const dataDir = resolve(flags.dataDir ?? defaultDataDir());
      let running: Awaited<ReturnType<typeof startControlPlane>>;
      try {
        const proxyAuth = await authenticator(flags.proxyAuth, log);
        running = await startControlPlane({
          dataDir,
          bind: flags.bind,
          grpcPort: flags.grpcPort,
          httpPort: flags.httpPort,
          graceSeconds: flags.graceSeconds,
          debounceMs: flags.debounceMs,
          debounceMaxMs: flags.debounceMaxMs,
          maxSnapshotBytes: flags.maxSnapshotBytes,
          loadWindowSeconds: flags.loadWindow / 1000,
          ...(proxyAuth ? { proxyAuth } : {}),
          ...(flags.apiTokenFile ? { apiTokenFile: resolve(flags.apiTokenFile) } : {}),
          log,
          processMetrics: true,
        });
      } catch (err) {
        process.stderr.write(`error: control plane cannot start: ${(err as Error).message}\n`);
        process.exitCode = 1;
        return;
      }
      process.stdout.write(
        `control plane: gRPC ${running.grpcTarget}, HTTP ${running.url}, data ${dataDir}, proxy auth ${flags.proxyAuth}\n` +
          `web console: ${running.url}/ui\n`,
      );
      let stopping = false;
      const stop = (signal: string): void => {
        if (stopping) return;
        stopping = true;
        log.info({ signal }, "stopping");
        running.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.once("SIGINT", () => stop("SIGINT"));
      process.once("SIGTERM", () => stop("SIGTERM"));
    });
}

/** The authenticator of `--proxy-auth` (undefined: the control plane's default, tokens). */
async function authenticator(
  mode: ProxyAuth,
  log: ReturnType<typeof logger>,
): Promise<ProxyAuthenticator | undefined> {
  if (mode === "tokens") return undefined;
  if (mode === "kubernetes") {
    const { kubernetesAuthenticator } = await import("../control-plane/kube-review.js");
    return kubernetesAuthenticator();
  }
  const warning =
    "PROXY AUTHENTICATION IS OFF (--proxy-auth none): anyone who reaches the gRPC port can register as any service and take its traffic; never use this outside a test";
  log.warn(warning);
  process.stderr.write(`WARNING: ${warning}\n`);
  return noAuthentication;
}
