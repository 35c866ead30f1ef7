// The config versions several control-plane replicas share: one Lease holds the store's epoch, the leader and the recent (version, content hash) pairs, changed only by compare-and-swap on its resourceVersion; it never reads custom resources nor builds snapshots.
import { randomBytes } from "node:crypto";
import type { Logger } from "../telemetry/logger.js";

/** The Lease's name, in the control plane's namespace. */
export const VERSION_LEASE = "lanemesh-config-version";
export const EPOCH_KEY = "lanemesh.io/epoch";
export const VERSIONS_KEY = "lanemesh.io/versions";
/** How many (version, hash) pairs the Lease remembers: a lagging replica finds its content there. */
export const HISTORY = 32;

/** What a replica reads from the Lease. */
export interface VersionRecord {
  epoch: string;
  /** [version, content hash], oldest first; versions grow by one. */
  history: [number, string][];
  holder: string;
  /** This replica holds the lease (it alone gives new versions and writes statuses). */
  leader: boolean;
}

/** A Lease as the API returns it, the parts this module reads and writes. */
export interface LeaseObject {
  metadata?: {
    name?: string;
    namespace?: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
  };
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: Date | string;
    renewTime?: Date | string;
    leaseTransitions?: number;
  };
}

/** The three calls this module makes (the official client's CoordinationV1Api fits). */
export interface LeaseApi {
  readNamespacedLease(p: { name: string; namespace: string }): Promise<LeaseObject>;
  createNamespacedLease(p: { namespace: string; body: LeaseObject }): Promise<LeaseObject>;
  replaceNamespacedLease(p: {
    name: string;
    namespace: string;
    body: LeaseObject;
  }): Promise<LeaseObject>;
}

export class VersionLeaseError extends Error {
  readonly code = "LANEMESH_VERSION_LEASE";
}

/** The highest version the history gives this content hash. */
export function versionOf(r: VersionRecord, hash: string): number | undefined {
  let found: number | undefined;
  for (const [v, h] of r.history) if (h === hash && (found === undefined || v > found)) found = v;
  return found;
}

/**
 * One replica's view of the version Lease. `sync(hash)` reads it (creating it once, with a new
 * epoch, when absent), takes it over when its holder stopped renewing for leaseSeconds (as this
 * replica's own clock measures, never comparing clocks) without numbering anything in that write,
 * and, while this replica holds it, renews it and gives `hash` the next version when it is not
 * the newest content. Every write is a
 * replace at the resourceVersion read: two writers never both win, and a holder that was
 * replaced cannot write a version.
 */
export class VersionLease {
  private seen: { key: string; at: number } | undefined;
  private renewedAt = 0;
  /**
   * How many times this replica took the Lease over from another holder. A takeover writes no
   * version: the new holder must first re-list what it watches (see KubeStore), since its watch
   * may lag behind what the previous holder numbered, and numbering older content above newer is
   * exactly what the Lease exists to prevent.
   */
  takeovers = 0;

  constructor(
    private readonly api: LeaseApi,
    private readonly o: {
      namespace: string;
      identity: string;
      leaseSeconds: number;
      log: Logger;
      now?: () => number;
      name?: string;
    },
  ) {}

  private get name(): string {
    return this.o.name ?? VERSION_LEASE;
  }

  private now(): number {
    return (this.o.now ?? Date.now)();
  }

  /** One round; `hash` null = this replica's content is not known yet (it then never writes). */
  async sync(hash: string | null): Promise<VersionRecord> {
    for (let attempt = 0; attempt < 4; attempt++) {
      const lease = await this.readOrCreate(hash);
      const record = recordOf(lease, this.o.identity);
      const holder = record.holder;
      const spec = lease.spec ?? {};
      const key = `${holder}|${String(spec.renewTime ?? "")}`;
      const now = this.now();
      if (this.seen?.key !== key) this.seen = { key, at: now };
      const expired = now - this.seen.at > this.o.leaseSeconds * 1000;
      const mine = holder === this.o.identity;
      if (hash === null || (!mine && holder !== "" && !expired)) return record;
      const latest = record.history[record.history.length - 1];
      const bump = mine && latest?.[1] !== hash;
      const renewDue = !mine || now - this.renewedAt > (this.o.leaseSeconds * 1000) / 3;
      if (!bump && !renewDue) return record;
      const history = bump
        ? [...record.history, [(latest?.[0] ?? 0) + 1, hash] as [number, string]].slice(-HISTORY)
        : record.history;
      const body: LeaseObject = {
        metadata: {
          ...lease.metadata,
          annotations: {
            ...(lease.metadata?.annotations ?? {}),
            [VERSIONS_KEY]: JSON.stringify(history),
          },
        },
        spec: {
          ...spec,
          holderIdentity: this.o.identity,
          leaseDurationSeconds: this.o.leaseSeconds,
          renewTime: new Date(now),
          ...(mine
            ? {}
            : { acquireTime: new Date(now), leaseTransitions: (spec.leaseTransitions ?? 0) + 1 }),
        },
      };
      try {
        const written = await this.api.replaceNamespacedLease({
          name: this.name,
          namespace: this.o.namespace,
          body,
        });
        this.renewedAt = now;
        if (!mine) {
          this.takeovers++;
          this.o.log.info({ lease: this.name, was: holder }, "version lease taken over");
        }
        if (bump)
          this.o.log.info(
            { version: history[history.length - 1]?.[0], hash: hash.slice(0, 12) },
            "new config version",
          );
        return recordOf(written, this.o.identity);
      } catch (err) {
        if (statusOf(err) !== 409) throw wrap(err, "update");
        // Another replica wrote first: read again and decide with what it wrote.
      }
    }
    throw new VersionLeaseError(`${this.name}: kept changing under us`);
  }

  private async readOrCreate(hash: string | null): Promise<LeaseObject> {
    try {
      return await this.api.readNamespacedLease({ name: this.name, namespace: this.o.namespace });
    } catch (err) {
      if (statusOf(err) !== 404) throw wrap(err, "read");
    }
    const now = new Date(this.now());
    const epoch = randomBytes(8).toString("hex");
    const body: LeaseObject = {
      metadata: {
        name: this.name,
        namespace: this.o.namespace,
        annotations: {
          [EPOCH_KEY]: epoch,
          [VERSIONS_KEY]: JSON.stringify(hash === null ? [] : [[1, hash]]),
        },
      },
      spec: {
        holderIdentity: hash === null ? "" : this.o.identity,
        leaseDurationSeconds: this.o.leaseSeconds,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: 0,
      },
    };
    try {
      const made = await this.api.createNamespacedLease({ namespace: this.o.namespace, body });
      if (hash !== null) this.renewedAt = now.getTime();
      this.o.log.info({ lease: this.name, epoch }, "version lease created: a new store epoch");
      return made;
    } catch (err) {
      if (statusOf(err) !== 409) throw wrap(err, "create");
      return await this.api.readNamespacedLease({ name: this.name, namespace: this.o.namespace });
    }
  }
}

function recordOf(lease: LeaseObject, identity: string): VersionRecord {
  const a = lease.metadata?.annotations ?? {};
  const epoch = a[EPOCH_KEY];
  if (typeof epoch !== "string" || !/^[0-9a-f]{1,64}$/.test(epoch))
    throw new VersionLeaseError(`${VERSION_LEASE}: no ${EPOCH_KEY} annotation (hex)`);
  let history: [number, string][] = [];
  try {
    const parsed = JSON.parse(a[VERSIONS_KEY] ?? "[]") as unknown;
    if (Array.isArray(parsed))
      history = parsed.filter(
        (e): e is [number, string] =>
          Array.isArray(e) && Number.isSafeInteger(e[0]) && typeof e[1] === "string",
      );
  } catch {
    throw new VersionLeaseError(`${VERSION_LEASE}: ${VERSIONS_KEY} is not JSON`);
  }
  const holder = lease.spec?.holderIdentity ?? "";
  return { epoch, history, holder, leader: holder === identity };
}

/** The HTTP status of a client error (ApiException.code). */
export function statusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown } | null;
  if (typeof e?.code === "number") return e.code;
  if (typeof e?.statusCode === "number") return e.statusCode;
  return undefined;
}

function wrap(err: unknown, what: string): VersionLeaseError {
  const status = statusOf(err);
  const first = ((err as Error)?.message ?? String(err)).split("\n")[0] ?? "";
  return new VersionLeaseError(
    `${what} of lease ${VERSION_LEASE} failed${status ? ` (${status})` : ""}: ${first}`,
  );
}
