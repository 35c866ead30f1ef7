// `lanemesh control-plane`: parses flags, starts the control plane and stops it on SIGINT/SIGTERM; no logic of its own.
import type { Command } from "commander";
import { startControlPlane } from "../control-plane/control-plane.js";
import { logger } from "../telemetry/logger.js";
import { envOption, parsePort, parsePositiveInt, parseSeconds } from "./options.js";

interface Flags {
  grpcPort: number;
  httpPort: number;
  dataDir: string;
  bind: string;
  graceSeconds: number;
  debounceMs: number;
  debounceMaxMs: number;
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
      envOption("--data-dir <DIR>", "where resources are stored").default(
        "./.lanemesh/control-plane",
      ),
    )
    .addOption(envOption("--bind <ADDRESS>", "address both ports listen on").default("127.0.0.1"))
    .addOption(
      envOption("--grace-seconds <S>", "how long a sidecar's instance outlives its stream")
        .argParser(parseSeconds)
        .default(5),
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
    .action(async (flags: Flags) => {
      const log = logger("control-plane");
      let running: Awaited<ReturnType<typeof startControlPlane>>;
      try {
        running = await startControlPlane({
          dataDir: flags.dataDir,
          bind: flags.bind,
          grpcPort: flags.grpcPort,
          httpPort: flags.httpPort,
          graceSeconds: flags.graceSeconds,
          debounceMs: flags.debounceMs,
          debounceMaxMs: flags.debounceMaxMs,
          log,
          processMetrics: true,
        });
      } catch (err) {
        process.stderr.write(`error: control plane cannot start: ${(err as Error).message}\n`);
        process.exitCode = 1;
        return;
      }
      process.stdout.write(
        `control plane: gRPC ${running.grpcTarget}, HTTP ${running.url}, data ${flags.dataDir}\n`,
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
