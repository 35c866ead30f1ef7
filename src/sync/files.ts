// File-mode rules: loads `--rules` files into a LiveConfig and reloads them on edit; it never serves or picks.
import { type ConfigError, formatError } from "../config/document.js";
import { type FileWatch, readBatch, type WatchOptions, watchBatch } from "../config/watch.js";
import type { LiveConfig } from "../live/live-config.js";
import { logger } from "../telemetry/logger.js";
import type { ProxyMetrics } from "../telemetry/metrics.js";

const log = logger("files");

export interface FileRulesOptions extends WatchOptions {
  paths: string[];
  live: LiveConfig;
  metrics?: ProxyMetrics;
}

/** A running file rules source. */
export interface FileRules {
  /** `file:<hash>` of the rules in force. */
  readonly version: string;
  readonly paths: readonly string[];
  close(): void;
}

export type FileRulesStart = { ok: true; source: FileRules } | { ok: false; errors: ConfigError[] };

function compileError(paths: readonly string[], err: unknown): ConfigError {
  return {
    file: paths.join(","),
    doc: -1,
    docName: null,
    path: "",
    message: `rules failed to compile: ${err instanceof Error ? err.message : String(err)}`,
  };
}

/**
 * Load the rules once (synchronously: invalid files at start are returned as errors and nothing
 * is installed), then watch them. A later edit that fails validation is logged, each error in
 * formatError's format, counted in `lanemesh_config_rejected_total`, and the rules in force keep
 * serving. Instance documents in rules files are ignored (endpoints come from `--discovery`).
 */
export function startFileRules(opts: FileRulesOptions): FileRulesStart {
  const first = readBatch(opts.paths);
  if (!first.ok) return { ok: false, errors: first.errors };
  try {
    opts.live.setRules(first.rules, first.version);
  } catch (err) {
    return { ok: false, errors: [compileError(opts.paths, err)] };
  }
  if (first.instances.length > 0)
    log.warn(
      { files: opts.paths, instances: first.instances.length },
      "Instance documents in rules files are ignored; list them in --discovery static:FILE",
    );
  log.info({ files: opts.paths, version: first.version }, "rules loaded");

  let version = first.version;
  const refuse = (errors: ConfigError[], attempted: string): void => {
    opts.metrics?.configRejected.inc();
    log.error(
      { files: opts.paths, attempted, version, errors: errors.map(formatError) },
      "rules edit refused; the previous rules keep serving",
    );
  };
  const watch: FileWatch = watchBatch(
    opts.paths,
    first.version,
    {
      onValid(batch) {
        try {
          opts.live.setRules(batch.rules, batch.version);
        } catch (err) {
          refuse([compileError(opts.paths, err)], batch.version);
          return;
        }
        log.info(
          { files: opts.paths, version: batch.version, previous: version },
          "rules reloaded",
        );
        version = batch.version;
      },
      onInvalid(batch) {
        refuse(batch.errors, batch.version);
      },
    },
    opts,
  );

  return {
    ok: true,
    source: {
      get version() {
        return version;
      },
      paths: opts.paths,
      close: () => watch.close(),
    },
  };
}
