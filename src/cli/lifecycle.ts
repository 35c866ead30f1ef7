// Process lifecycle of a running proxy: SIGTERM/SIGINT → drain → exit; it never builds or configures the proxy.
import { logger } from "../telemetry/logger.js";

const log = logger("cli");

/** What a started proxy exposes to its command (ProxyHandle of src/proxy). */
export interface Drainable {
  drain(): Promise<unknown> | unknown;
  close(): Promise<unknown> | unknown;
}

/**
 * On the first SIGTERM or SIGINT: drain the proxy (fail /ready, stop accepting, finish in-flight
 * requests within --drain-seconds), stop the sources, exit 0. A second signal exits at once (1).
 */
export function exitOnSignal(
  what: string,
  proxy: Drainable,
  sources: { close(): Promise<void> },
): void {
  let draining = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (draining) {
      log.warn({ signal }, `${what}: second signal, exiting without waiting`);
      process.exit(1);
    }
    draining = true;
    log.info({ signal }, `${what}: draining`);
    void (async () => {
      let code = 0;
      try {
        await proxy.drain();
      } catch (err) {
        code = 1;
        log.error({ err: String(err) }, `${what}: drain failed`);
      }
      try {
        await proxy.close();
        await sources.close();
      } catch (err) {
        log.warn({ err: String(err) }, `${what}: close after drain failed`);
      }
      log.info(`${what}: stopped`);
      process.exit(code);
    })();
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}

/** Print startup errors (one per line, e.g. formatError lines) and set exit code 1. */
export function failStart(what: string, lines: string[]): void {
  process.stderr.write(`${lines.join("\n")}\n`);
  log.error({ errors: lines.length }, `${what}: not started (errors above)`);
  process.exitCode = 1;
}
