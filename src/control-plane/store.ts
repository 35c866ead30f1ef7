// The control plane's file store: every resource, the version and the store's epoch in one JSON file, replaced atomically; it never validates.
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../runtime/atomic-file.js";
import type { ConfigFeed } from "./feed.js";
import type { Registration } from "./registry.js";

/** What the store holds: the user's documents, in the order they were first applied. */
export interface StoreState {
  /** Monotonically increasing; bumped by every committed change (resources or registry). */
  readonly version: number;
  /**
   * A random id made with the store and kept for its life: versions compare only within one
   * epoch, so a proxy can tell another store's version 3 from this one's.
   */
  readonly epoch: string;
  /** Epochs of other stores whose proxies may take this store's config (`lanemesh adopt`). */
  readonly adopts: readonly string[];
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

/** What the control plane reads and commits: the file store, or a fed one. */
export interface Store {
  state(): StoreState;
  commit(next: StoreState): Promise<void>;
}

/**
 * A store whose state is a ConfigFeed's current config (`--store kubernetes`): no registrations,
 * no adopted epochs, and no commits (the control plane refuses changes before reaching here).
 */
export class FedStore implements Store {
  constructor(private readonly feed: ConfigFeed) {
    if (!feed.current()) throw new StoreError("the config source has no config yet");
  }

  state(): StoreState {
    const c = this.feed.current();
    if (!c) throw new StoreError("the config source lost its config");
    return {
      version: c.version,
      epoch: c.epoch,
      adopts: [],
      resources: c.resources,
      registrations: [],
    };
  }

  commit(): Promise<void> {
    return Promise.reject(new StoreError("a fed store takes no commits"));
  }
}

/** One data directory, one file. Commits are serialized by the caller (see ControlPlane). */
export class FileStore implements Store {
  private constructor(
    readonly path: string,
    private current: StoreState,
  ) {}

  /**
   * Load the data dir's file, or create an empty store at version 0 with a new epoch when there
   * is none (written at once, so the epoch outlives a restart before the first change). A store
   * written before epochs existed gets one the same way.
   */
  static async open(dataDir: string): Promise<FileStore> {
    const path = join(dataDir, FILE);
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT")
        throw new StoreError(`${path}: ${(err as Error).message}`);
      const store = new FileStore(path, {
        version: 0,
        epoch: newEpoch(),
        adopts: [],
        resources: [],
        registrations: [],
      });
      await store.write(store.current);
      return store;
    }
    let v: {
      format?: unknown;
      version?: unknown;
      epoch?: unknown;
      adopts?: unknown;
      resources?: unknown;
      registrations?: unknown;
    };
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
      ? (v.registrations as Registration[])
          .filter(isRegistration)
          .map((r) => ({ ...r, owner: typeof r.owner === "string" ? r.owner : "" }))
      : [];
    const adopts = Array.isArray(v.adopts)
      ? v.adopts.filter((e): e is string => typeof e === "string")
      : [];
    const epoch = typeof v.epoch === "string" && v.epoch !== "" ? v.epoch : undefined;
    const state = {
      version: v.version,
      epoch: epoch ?? newEpoch(),
      adopts,
      // Empty documents stored by versions before they were ignored at apply.
      resources: v.resources.filter((r) => r !== null && r !== undefined),
      registrations,
    };
    const store = new FileStore(path, state);
    if (epoch === undefined) await store.write(state);
    return store;
  }

  state(): StoreState {
    return this.current;
  }

  /** Write the next state durably, then make it current. On failure nothing changes. */
  async commit(next: StoreState): Promise<void> {
    if (next.version <= this.current.version)
      throw new Error(`store version must grow: ${next.version} <= ${this.current.version}`);
    if (next.epoch !== this.current.epoch) throw new Error("a store keeps its epoch");
    await this.write(next);
    this.current = next;
  }

  /**
   * The file: one line per resource, each serialized and encoded once (by object: stored
   * documents are never mutated), so a version that changes one document of 10,000 encodes one.
   */
  private async write(st: StoreState): Promise<void> {
    const head = JSON.stringify({
      format: 1,
      version: st.version,
      epoch: st.epoch,
      adopts: st.adopts,
    });
    const parts: Buffer[] = [Buffer.from(`${head.slice(0, -1)},\n"resources": [\n`)];
    st.resources.forEach((r, i) => {
      if (i > 0) parts.push(SEPARATOR);
      parts.push(this.bytes(r));
    });
    const registrations = JSON.stringify(st.registrations, null, 1);
    parts.push(Buffer.from(`\n],\n"registrations": ${registrations}\n}\n`));
    await writeFileAtomic(this.path, Buffer.concat(parts));
  }

  private readonly encoded = new WeakMap<object, Buffer>();

  private bytes(doc: unknown): Buffer {
    if (typeof doc !== "object" || doc === null) return Buffer.from(JSON.stringify(doc));
    let b = this.encoded.get(doc);
    if (b === undefined) {
      b = Buffer.from(JSON.stringify(doc));
      this.encoded.set(doc, b);
    }
    return b;
  }
}

const SEPARATOR = Buffer.from(",\n");

/** 16 random hex digits. */
function newEpoch(): string {
  return randomBytes(8).toString("hex");
}

function isRegistration(r: unknown): r is Registration {
  const x = r as Partial<Registration> | null;
  // `owner` is optional: stores written before identities had none.
  return (
    typeof x?.nodeId === "string" &&
    typeof x.service === "string" &&
    (x.tag === null || typeof x.tag === "string") &&
    typeof x.address === "string" &&
    typeof x.port === "number" &&
    typeof x.since === "number"
  );
}
