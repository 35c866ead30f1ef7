// What the streams are sent: the newest snapshot encoded once, and its delta from each recent version encoded once, each one message shared by every stream; it keeps no stream state.
import { diffDocs } from "../protocol/delta.js";
import {
  type EncodedControlMessage,
  encodeControlMessage,
  encodedSnapshotSize,
  type SnapshotMessage,
} from "../protocol/wire.js";
import type { BuiltSnapshot } from "./snapshot.js";

/** Recent snapshots a delta may start from (a proxy further behind is sent a whole one). */
const HISTORY = 8;

/** One push as every stream it goes to is sent it. */
export interface Push {
  bytes: EncodedControlMessage;
  /**
   * The push's nonce, in the bytes: the version, and `<base` for a delta. A stream is sent each
   * version at most once whole and once as a delta, so it is unique per push on a stream.
   */
  nonce: string;
  /** The version the push is a delta from; null for the whole snapshot. */
  base: string | null;
}

/**
 * The encodings of pushes. Whole snapshots and deltas are encoded on first use and kept for the
 * newest snapshot only (older ones are not pushed any more); a delta no smaller than the whole
 * snapshot is not used.
 */
export class PushEncodings {
  private readonly history: BuiltSnapshot[] = [];
  private newest: BuiltSnapshot | undefined;
  private whole: Push | undefined;
  /** Base version → the newest snapshot's delta from it (null: none, send it whole). */
  private deltas = new Map<string, Push | null>();

  /** A snapshot was built: the newest from now on, and a base for later deltas. */
  remember(s: BuiltSnapshot): void {
    if (this.newest === s) return;
    this.newest = s;
    this.whole = undefined;
    this.deltas = new Map();
    this.history.push(s);
    if (this.history.length > HISTORY) this.history.shift();
  }

  /**
   * What to send `s` as to a proxy that holds version `held` of the same epoch (ACKed on its
   * stream), or null when it holds nothing this control plane sent it: a delta when there is one.
   */
  push(s: BuiltSnapshot, held: string | null): Push {
    const cached = s === this.newest;
    if (held !== null && held !== s.version) {
      const known = cached ? this.deltas.get(held) : undefined;
      const d = known !== undefined ? known : this.delta(s, held);
      if (cached) this.deltas.set(held, d);
      if (d !== null) return d;
    }
    if (!cached) return encode(s, null);
    this.whole ??= encode(s, null);
    return this.whole;
  }

  private delta(s: BuiltSnapshot, held: string): Push | null {
    const base = this.history.find((b) => b.version === held && b.epoch === s.epoch);
    if (base === undefined || Number(base.version) >= Number(s.version)) return null;
    const docs = diffDocs({ docs: base, names: base.names }, { docs: s, names: s.names });
    if (docs === null) return null;
    const push = encode({ ...s, ...docs }, base.version);
    // The whole message's size, its nonce being the version.
    return push.bytes.length < encodedSnapshotSize(s, Buffer.byteLength(s.version)) ? push : null;
  }
}

function encode(
  s: Pick<
    SnapshotMessage,
    "version" | "epoch" | "adopts" | "routes" | "groups" | "lanes" | "endpoints"
  > & {
    removed?: string[];
  },
  base: string | null,
): Push {
  const nonce = base === null ? s.version : `${s.version}<${base}`;
  const snapshot: SnapshotMessage = {
    version: s.version,
    nonce,
    epoch: s.epoch,
    adopts: [...s.adopts],
    routes: [...s.routes],
    groups: [...s.groups],
    lanes: [...s.lanes],
    endpoints: [...s.endpoints],
    ...(base === null ? {} : { baseVersion: base, removed: s.removed ?? [] }),
  };
  return { bytes: encodeControlMessage({ snapshot }), nonce, base };
}
