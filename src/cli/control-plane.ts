// `lanemesh control-plane`: parses flags, starts the control plane and stops it on SIGINT/SIGTERM; no logic of its own.
import { resolve } from "node:path";
import { type Command, InvalidArgumentError } from "commander";
import { noAuthentication, type ProxyAuthenticator } from "../control-plane/identity.js";
import { startControlPlane } from "../control-plane/start.js";
import { DEFAULT_MAX_SNAPSHOT_BYTES, PROXY_MAX_RECEIVE_BYTES } from "../protocol/wire.js";
import { logger } from "../telemetry/logger.js";
import { type KubeParts, startKubeParts } from "./control-plane-kube.js";
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
  store: "file" | "kubernetes";
  discovery: "none" | "kubernetes";
  watchNamespace?: string[];
  webhookPort?: number;
  sidecarImage?: string;
}

function parseNamespaces(v: string): string[] {
  const names = v.split(",").map((n) => n.trim());
  for (const n of names)
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(n) || n.length > 63)
      throw new InvalidArgumentError(`bad namespace ${JSON.stringify(n)} (a DNS label).`);
  return names;
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
        "--store <STORE>",
        "where resources live: file (the data dir, changed with lanemesh apply) or kubernetes (Route, LaneGroup and Lane custom resources, changed with kubectl; statuses written back)",
      )
        .choices(["file", "kubernetes"])
        .default("file"),
    )
    .addOption(
      envOption(
        "--discovery <SOURCE>",
        "endpoints streamed to proxies in snapshots: none (with --store file: sidecars' hellos and Instance resources; with --store kubernetes: none at all) or kubernetes (EndpointSlices and Pods watched once here; needs --store kubernetes)",
      )
        .choices(["none", "kubernetes"])
        .default("none"),
    )
    .addOption(
      envOption(
        "--watch-namespace <NS,...>",
        "with --store/--discovery kubernetes: namespaces whose resources and endpoints are served [every namespace]",
      ).argParser(parseNamespaces),
    )
    .addOption(
      envOption(
        "--webhook-port <PORT>",
        "also serve the sidecar injection webhook (HTTPS, certificate kept in a Secret) on this port [off]",
      ).argParser(parsePort),
    )
    .addOption(
      envOption(
        "--sidecar-image <IMAGE>",
        "lanemesh image the webhook injects [ghcr.io/lanemesh/lanemesh:VERSION]",
      ),
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
      envOption(
        "--debounce-ms <MS>",
        "quiet period: a change after one is pushed at once; changes within it of a push wait until it passes without another",
      )
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
      let kube: KubeParts | undefined;
      try {
        if (flags.discovery === "kubernetes" && flags.store !== "kubernetes")
          throw new Error("--discovery kubernetes needs --store kubernetes");
        const proxyAuth = await authenticator(flags.proxyAuth, log);
        if (flags.store === "kubernetes" || flags.webhookPort !== undefined)
          kube = await startKubeParts({
            store: flags.store === "kubernetes",
            discovery: flags.discovery === "kubernetes",
            watchNamespaces: flags.watchNamespace ?? null,
            bind: flags.bind,
            log,
            ...(flags.webhookPort !== undefined ? { webhookPort: flags.webhookPort } : {}),
            ...(flags.sidecarImage ? { sidecarImage: flags.sidecarImage } : {}),
          });
        running = await startControlPlane({
          ...(kube?.feed ? { feed: kube.feed } : {}),
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
        await kube?.close();
        process.stderr.write(`error: control plane cannot start: ${(err as Error).message}\n`);
        process.exitCode = 1;
        return;
      }
      const feed = kube?.feed;
      if (feed?.stats)
        running.controlPlane.metrics.feedStats = () =>
          feed.stats?.() ?? { refused: 0, leader: false };
      process.stdout.write(
        `control plane: gRPC ${running.grpcTarget}, HTTP ${running.url}, data ${dataDir}, proxy auth ${flags.proxyAuth}, store ${flags.store}${kube?.webhookPort ? `, webhook :${kube.webhookPort}` : ""}\n` +
          `web console: ${running.url}/ui\n`,
      );
      let stopping = false;
      const stop = (signal: string): void => {
        if (stopping) return;
        stopping = true;
        log.info({ signal }, "stopping");
        const parts = kube;
        running
          .close()
          .then(() => parts?.close())
          .then(
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
