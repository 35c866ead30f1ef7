// Static discovery: Instance documents read from a file and re-read on edit; it only emits endpoint sets.
import type { ConfigError } from "../config/document.js";
import { toEndpoint } from "../config/load.js";
import type { Endpoint } from "../config/types.js";
import { type FileWatch, readBatch, type WatchOptions, watchBatch } from "../config/watch.js";
import type { Resolver, ResolverError } from "./types.js";

export type StaticOpen =
  | { ok: true; resolver: StaticResolver }
  | { ok: false; errors: ConfigError[] };

/**
 * Endpoints from `--discovery static:FILE`: every Instance document of the file (other kinds are
 * validated with them and ignored). A later edit that fails validation is reported through
 * `onError` with code LANEMESH_DISCOVERY_REJECTED and the last good set stays in force.
 */
export class StaticResolver implements Resolver {
  readonly source: string;
  private watch: FileWatch | undefined;
  private closed = false;

  private constructor(
    private readonly file: string,
    private readonly initial: { version: string; endpoints: Endpoint[] },
    private readonly opts: WatchOptions,
  ) {
    this.source = `static:${file}`;
  }

  /** Read and validate the file once; an invalid file at start is an error, not an empty set. */
  static open(file: string, opts: WatchOptions = {}): StaticOpen {
    const batch = readBatch([file]);
    if (!batch.ok) return { ok: false, errors: batch.errors };
    const endpoints = batch.instances.map(toEndpoint);
    return {
      ok: true,
      resolver: new StaticResolver(file, { version: batch.version, endpoints }, opts),
    };
  }

  /** `file:<hash>` of the set read at open, for logs. */
  get version(): string {
    return this.initial.version;
  }

  start(onEndpoints: (endpoints: Endpoint[]) => void, onError: (err: ResolverError) => void): void {
    if (this.watch || this.closed)
      throw new Error("StaticResolver.start called twice or after close");
    queueMicrotask(() => {
      if (!this.closed) onEndpoints(this.initial.endpoints);
    });
    this.watch = watchBatch(
      [this.file],
      this.initial.version,
      {
        onValid: (batch) => {
          if (!this.closed) onEndpoints(batch.instances.map(toEndpoint));
        },
        onInvalid: (batch) => {
          if (this.closed) return;
          onError({
            code: "LANEMESH_DISCOVERY_REJECTED",
            message: `${this.source}: edit refused (${batch.errors.length} errors); the last good endpoints stay`,
            errors: batch.errors,
          });
        },
      },
      this.opts,
    );
  }

  async close(): Promise<void> {
    this.closed = true;
    this.watch?.close();
  }
}
