// The control plane's file store: every resource and the version in one JSON file, replaced atomically; it never validates.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../runtime/atomic-file.js";
import type { Registration } from "./registry.js";

/** What the store holds: the user's documents, in the order they were first applied. */
export interface StoreState {
  /** Monotonically increasing; bumped by every committed change (resources or registry). */
  readonly version: number;
  readonly resources: readonly unknown[];
  /**
   * The sidecars registered when this version was made, so that a restarted control plane serves
   * the same endpoints while the sidecars reconnect (see Registry.restore).
   */
  readonly registrations: readonly Registration[];
}

export class StoreError extends Error {
  readonly code = "LANEMESH_STORE_UNREADABLE";
}

const FILE = "resources.json";

/** One data directory, one file. Commits are serialized by the caller (see ControlPlane). */
export class FileStore {
  private constructor(
    readonly path: string,
    private current: StoreState,
  ) {}

  /** Load the data dir's file, or start empty at version 0 when there is none. */
  static async open(dataDir: string): Promise<FileStore> {
    const path = join(dataDir, FILE);
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT")
        return new FileStore(path, { version: 0, resources: [], registrations: [] });
      throw new StoreError(`${path}: ${(err as Error).message}`);
    }
    let v: { format?: unknown; version?: unknown; resources?: unknown; registrations?: unknown };
    try {
      v = JSON.parse(text) as typeof v;
    } catch (err) {
      throw new StoreError(`${path}: not JSON: ${(err as Error).message}`);
    }
    if (
      v.format !== 1 ||
      typeof v.version !== "number" ||
      !Number.isSafeInteger(v.version) ||
      !Array.isArray(v.resources)
    )
      throw new StoreError(`${path}: not a lanemesh control-plane store (format 1)`);
    const registrations = Array.isArray(v.registrations)
      ? (v.registrations as Registration[]).filter(isRegistration)
      : [];
    return new FileStore(path, { version: v.version, resources: v.resources, registrations });
  }

  state(): StoreState {
    return this.current;
  }

  /** Write the next state durably, then make it current. On failure nothing changes. */
  async commit(next: StoreState): Promise<void> {
    if (next.version <= this.current.version)
      throw new Error(`store version must grow: ${next.version} <= ${this.current.version}`);
    const body = JSON.stringify(
      {
        format: 1,
        version: next.version,
        resources: next.resources,
        registrations: next.registrations,
      },
      null,
      1,
    );
    await writeFileAtomic(this.path, `${body}\n`);
    this.current = next;
  }
}

function isRegistration(r: unknown): r is Registration {
  const x = r as Partial<Registration> | null;
  return (
    typeof x?.nodeId === "string" &&
    typeof x.service === "string" &&
    (x.tag === null || typeof x.tag === "string") &&
    typeof x.address === "string" &&
    typeof x.port === "number" &&
    typeof x.since === "number"
  );
}
