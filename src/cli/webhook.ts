// `lanemesh webhook`: serves the sidecar injection webhook alone, from certificate files (e.g. a cert-manager Secret) re-read when they change; flags and lifecycle only, the server is src/kubernetes/webhook.ts.
import { readFileSync, statSync } from "node:fs";
import type { Command } from "commander";
import { logger } from "../telemetry/logger.js";
import { envBoolOption, envOption, parsePort } from "./options.js";

interface Flags {
  port: number;
  bind: string;
  tlsCertFile: string;
  tlsKeyFile: string;
  image?: string;
  controlPlaneNamespace: string;
  legacy: boolean;
}

export function register(program: Command): void {
  program
    .command("webhook")
    .description(
      "serve the sidecar injection webhook (AdmissionReview v1 over HTTPS on /inject) without the control plane",
    )
    .addOption(envOption("--port <N>", "HTTPS port").argParser(parsePort).default(15017))
    .addOption(envOption("--bind <ADDRESS>", "address to listen on").default("0.0.0.0"))
    .addOption(
      envOption(
        "--tls-cert-file <FILE>",
        "PEM serving certificate (re-read when it changes)",
      ).makeOptionMandatory(),
    )
    .addOption(envOption("--tls-key-file <FILE>", "PEM private key").makeOptionMandatory())
    .addOption(
      envOption("--image <IMAGE>", "lanemesh image injected [ghcr.io/lanemesh/lanemesh:VERSION]"),
    )
    .addOption(
      envOption("--control-plane-namespace <NS>", "where the control plane runs").default(
        "lanemesh-system",
      ),
    )
    .addOption(envBoolOption("--legacy", "inject the sidecar as a plain container"))
    .action(async (o: Flags) => {
      const { startWebhook } = await import("../kubernetes/webhook.js");
      const log = logger("webhook");
      const read = () => ({
        cert: readFileSync(o.tlsCertFile, "utf8"),
        key: readFileSync(o.tlsKeyFile, "utf8"),
        stamp: `${statSync(o.tlsCertFile).mtimeMs}:${statSync(o.tlsKeyFile).mtimeMs}`,
      });
      let tls: ReturnType<typeof read>;
      let running: Awaited<ReturnType<typeof startWebhook>>;
      try {
        tls = read();
        running = await startWebhook({
          port: o.port,
          host: o.bind,
          cert: tls.cert,
          key: tls.key,
          inject: {
            legacy: o.legacy,
            controlPlaneNamespace: o.controlPlaneNamespace,
            ...(o.image ? { image: o.image } : {}),
          },
          onEvent: (e) => log.info(e, `webhook ${e.type}`),
        });
      } catch (err) {
        process.stderr.write(`error: webhook cannot start: ${(err as Error).message}\n`);
        process.exitCode = 1;
        return;
      }
      process.stdout.write(`webhook: https://${o.bind}:${running.port}/inject\n`);
      // Mounted Secrets change by a symlink swap: poll, and swap the certificate when it moved.
      const timer = setInterval(() => {
        try {
          const next = read();
          if (next.stamp === tls.stamp) return;
          running.setCertificate(next.cert, next.key);
          tls = next;
          log.info({ file: o.tlsCertFile }, "serving certificate reloaded");
        } catch (err) {
          log.warn({ err: (err as Error).message }, "serving certificate not reloaded");
        }
      }, 30_000);
      timer.unref();
      const stop = (): void => {
        clearInterval(timer);
        void running.close().then(() => process.exit(0));
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
}
