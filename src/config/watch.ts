// Reads resource files as one validated, hashed batch and watches them for edits; it never installs config.
import { createHash } from "node:crypto";
import { type FSWatcher, readFileSync, type Stats, statSync, watch } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { logger } from "../telemetry/logger.js";
import type { ConfigError, RawDocument } from "./document.js";
import { parseDocuments, validateResources } from "./load.js";
import type { Instance, RuleSet } from "./types.js";

const log = logger("watch");

/**
 * One read of a list of files. `version` is `file:` + the first 12 hex digits of the SHA-256 of
 * the files' contents concatenated in the order given (for one file: `sha256sum FILE | cut -c1-12`),
 * computed whether or not the contents are valid, so an unchanged bad file is not reported twice.
 */
export type Batch =
  | { ok: true; version: string; rules: RuleSet; instances: Instance[] }
  | { ok: false; version: string; errors: ConfigError[] };

/** `file:<first 12 hex of sha256(contents…)>`, the version a file source reports. */
export function contentVersion(contents: readonly (string | Buffer)[]): string {
  const h = createHash("sha256");
  for (const c of contents) h.update(c);
  return `file:${h.digest("hex").slice(0, 12)}`;
}

/**
 * Read, parse and validate `paths` as one batch, from one read of each file (the hash and the
 * resources always describe the same bytes). YAML syntax errors are reported without validating
 * the rest, since a document that failed to parse would show up as misleading reference errors.
 */
export function readBatch(paths: readonly string[]): Batch {
  const contents: Buffer[] = [];
  const docs: RawDocument[] = [];
  const errors: ConfigError[] = [];
  for (const file of paths) {
    let buf: Buffer;
    try {
      buf = readFileSync(file);
    } catch (err) {
      errors.push({
        file,
        doc: -1,
        docName: null,
        path: "",
        message: `cannot read file: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
      });
      continue;
    }
    contents.push(buf);
    const parsed = parseDocuments(buf.toString("utf8"), file);
    docs.push(...parsed.docs);
    errors.push(...parsed.errors);
  }
  const version = contentVersion(contents);
  if (errors.length > 0) return { ok: false, version, errors };
  const v = validateResources(docs);
  if (!v.ok) return { ok: false, version, errors: v.errors };
  return { ok: true, version, rules: v.rules, instances: v.instances };
}

export interface WatchOptions {
  /** Quiet time after the last file event before reading, in ms (default 100). */
  debounceMs?: number;
  /** Fallback poll of the files' stat signature, in ms (default 2000; 0 = off). */
  pollMs?: number;
  /** Use fs.watch directory events (default true); false = poll only (e.g. NFS, tests). */
  events?: boolean;
}

export interface FileWatch {
  close(): void;
}

function signature(file: string): string {
  let s: Stats;
  try {
    s = statSync(file);
  } catch {
    return "missing";
  }
  return `${s.ino}:${s.size}:${s.mtimeMs}`;
}

/**
 * Call `onChange` (debounced) when any of `paths` may have changed. It watches the files'
 * directories, not the files, because editors and Kubernetes ConfigMap updates replace a file by
 * rename (ConfigMaps swap a `..data` symlink, hence names starting with `..` count too); a
 * low-frequency stat poll catches what fs.watch misses (network filesystems, some containers).
 * Timers and watchers never keep the process alive. `onChange` is never called synchronously.
 */
export function watchFiles(
  paths: readonly string[],
  onChange: () => void,
  opts: WatchOptions = {},
): FileWatch {
  const debounceMs = opts.debounceMs ?? 100;
  const pollMs = opts.pollMs ?? 2000;
  const files = paths.map((p) => resolve(p));
  const byDir = new Map<string, Set<string>>();
  for (const f of files) {
    const dir = dirname(f);
    const names = byDir.get(dir) ?? new Set<string>();
    names.add(basename(f));
    byDir.set(dir, names);
  }
  let closed = false;
  let timer: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    if (closed) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      if (!closed) onChange();
    }, debounceMs);
    timer.unref();
  };

  const watchers: FSWatcher[] = [];
  for (const [dir, names] of opts.events === false ? [] : byDir) {
    try {
      const w = watch(dir, { persistent: false }, (_event, filename) => {
        const name = filename === null ? null : filename.toString();
        if (name === null || names.has(name) || name.startsWith("..")) schedule();
      });
      w.on("error", (err) => {
        log.warn({ dir, err: String(err) }, "directory watch failed; polling only");
        w.close();
      });
      watchers.push(w);
    } catch (err) {
      log.warn({ dir, err: String(err) }, "cannot watch directory; polling only");
    }
  }

  let poll: NodeJS.Timeout | undefined;
  if (pollMs > 0) {
    let last = files.map(signature);
    poll = setInterval(() => {
      const now = files.map(signature);
      if (now.some((s, i) => s !== last[i])) schedule();
      last = now;
    }, pollMs);
    poll.unref();
  }

  return {
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      if (poll) clearInterval(poll);
      for (const w of watchers) w.close();
    },
  };
}

export interface BatchHandlers {
  /** A changed batch that validated. */
  onValid(batch: Extract<Batch, { ok: true }>): void;
  /** A changed batch that did not validate: the caller keeps its last good config. */
  onInvalid(batch: Extract<Batch, { ok: false }>): void;
}

/**
 * Watch `paths` and re-read them as a batch after each edit, calling a handler only when the
 * contents differ from the last batch seen (`initialVersion` = the batch the caller started from).
 */
export function watchBatch(
  paths: readonly string[],
  initialVersion: string,
  handlers: BatchHandlers,
  opts: WatchOptions = {},
): FileWatch {
  let seen = initialVersion;
  return watchFiles(
    paths,
    () => {
      const batch = readBatch(paths);
      if (batch.version === seen) return;
      seen = batch.version;
      if (batch.ok) handlers.onValid(batch);
      else handlers.onInvalid(batch);
    },
    opts,
  );
}
