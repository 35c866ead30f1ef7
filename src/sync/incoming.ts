// A pushed snapshot made whole (a delta applied to the config held) and checked, reusing what the last snapshot taken parsed and checked; it never applies a config nor talks to the stream.
import type { ShapeMemo } from "../config/validate.js";
import { applyDelta } from "../protocol/delta.js";
import {
  type CheckedSnapshot,
  type CheckMemo,
  checkSnapshot,
  type SnapshotContent,
} from "../protocol/snapshot-check.js";
import type { SnapshotMessage } from "../protocol/wire.js";

/**
 * What the proxy keeps of the last snapshot it took: each document's parsed value by its text
 * (and, through the value objects, their shape checks), so the next check parses and shape-checks
 * only the documents whose text changed.
 */
class SnapshotMemo implements CheckMemo {
  /** Document text → its parsed value, for the documents of the last snapshot taken. */
  private values = new Map<string, unknown>();
  private next: Map<string, unknown> | undefined;
  readonly shapes: ShapeMemo = new WeakMap();

  parse(text: string): unknown {
    let v = this.values.get(text) ?? this.next?.get(text);
    if (v === undefined) v = JSON.parse(text) as unknown;
    this.next?.set(text, v);
    return v;
  }

  /** A document's metadata.name, or null (not JSON, no string name). */
  nameOf(text: string): string | null {
    let v: unknown;
    try {
      v = this.values.get(text) ?? (JSON.parse(text) as unknown);
    } catch {
      return null;
    }
    const name = (v as { metadata?: { name?: unknown } } | null)?.metadata?.name;
    return typeof name === "string" ? name : null;
  }

  /** Start noting the documents of a snapshot being checked. */
  begin(): void {
    this.next = new Map();
  }

  /** The snapshot was taken (`true`): its documents are the ones kept; else the old ones stay. */
  end(taken: boolean): void {
    if (taken && this.next) this.values = this.next;
    this.next = undefined;
  }
}

export class Incoming {
  private readonly memo = new SnapshotMemo();

  /**
   * The whole config a push stands for: the push itself, or its delta applied to `held`, which
   * must be the delta's base (same epoch and version); else why not.
   */
  whole(
    s: SnapshotMessage,
    held: SnapshotContent | undefined,
  ): { ok: true; snapshot: SnapshotContent } | { ok: false; error: string } {
    const { version, epoch, adopts } = s;
    const base = s.baseVersion ?? "";
    if (base === "") {
      const { routes, groups, lanes, endpoints } = s;
      return { ok: true, snapshot: { version, epoch, adopts, routes, groups, lanes, endpoints } };
    }
    if (held === undefined || held.version !== base || held.epoch !== epoch)
      return {
        ok: false,
        error: `snapshot ${version} is a delta from version ${base} (epoch ${epoch}), but this proxy holds ${held ? `version ${held.version} (epoch ${held.epoch})` : "none"}`,
      };
    const d = applyDelta(held, { ...s, removed: s.removed ?? [] }, (doc) => this.memo.nameOf(doc));
    if (!d.ok) return { ok: false, error: `snapshot ${version}, a delta from ${base}: ${d.error}` };
    return { ok: true, snapshot: { version, epoch, adopts, ...d.docs } };
  }

  /**
   * checkSnapshot, parsing and shape-checking only the documents that differ from the last
   * snapshot taken; call taken() once the result is in force (or refused: taken(false)).
   */
  check(s: SnapshotContent): CheckedSnapshot {
    this.memo.begin();
    return checkSnapshot(s, this.memo);
  }

  /** The snapshot last checked is in force (its documents are reused next time), or not. */
  taken(ok: boolean): void {
    this.memo.end(ok);
  }
}
