// The proxy's last good snapshot on disk, so a restart can serve while the control plane is away; it never validates.
import { readFile } from "node:fs/promises";
import type { SnapshotContent } from "../protocol/snapshot-check.js";
import { CoalescingWriter } from "../runtime/atomic-file.js";

/** The state file's content (JSON). */
export interface PersistedSnapshot extends SnapshotContent {
  format: 1;
  /** Date.now() when this config was last known to be the control plane's current one. */
  confirmedAt: number;
}

export type LoadedSnapshot =
  | { ok: true; snapshot: PersistedSnapshot }
  | { ok: false; reason: "missing" | "unreadable"; detail: string };

/** Reads and writes one state file; writes are atomic, serialized and coalesced. */
export class LastGoodStore {
  private readonly writer: CoalescingWriter;

  constructor(
    readonly path: string,
    onError: (err: Error) => void = () => {},
  ) {
    this.writer = new CoalescingWriter(path, onError);
  }

  /** Queue the snapshot for writing; returns at once (see flush()). */
  save(s: SnapshotContent, confirmedAt: number): void {
    const p: PersistedSnapshot = {
      format: 1,
      version: s.version,
      epoch: s.epoch,
      adopts: s.adopts,
      confirmedAt,
      routes: s.routes,
      groups: s.groups,
      lanes: s.lanes,
      endpoints: s.endpoints,
    };
    this.writer.write(`${JSON.stringify(p)}\n`);
  }

  flush(): Promise<void> {
    return this.writer.flush();
  }

  async load(): Promise<LoadedSnapshot> {
    let text: string;
    try {
      text = await readFile(this.path, "utf8");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return {
        ok: false,
        reason: code === "ENOENT" ? "missing" : "unreadable",
        detail: (err as Error).message,
      };
    }
    try {
      const v = JSON.parse(text) as Partial<PersistedSnapshot>;
      const lists = [v.routes, v.groups, v.lanes, v.endpoints];
      if (
        v.format !== 1 ||
        typeof v.version !== "string" ||
        typeof v.confirmedAt !== "number" ||
        !lists.every((l) => Array.isArray(l) && l.every((d) => typeof d === "string"))
      )
        return {
          ok: false,
          reason: "unreadable",
          detail: `${this.path}: not a lanemesh state file`,
        };
      // Files written before epochs existed have none: "" (unknown) and no adoptions.
      const epoch = typeof v.epoch === "string" ? v.epoch : "";
      const adopts = Array.isArray(v.adopts) ? v.adopts.filter((e) => typeof e === "string") : [];
      return { ok: true, snapshot: { ...(v as PersistedSnapshot), epoch, adopts } };
    } catch (err) {
      return { ok: false, reason: "unreadable", detail: `${this.path}: ${(err as Error).message}` };
    }
  }
}
