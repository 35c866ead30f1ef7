// Whether a proxy may take a snapshot given the config it holds: versions only grow within one store epoch, and another store's config is taken only when that store adopted the epoch held; pure.
import type { NackCode } from "../protocol/wire.js";

/** The config a proxy holds (in force, or persisted when nothing is in force yet). */
export interface Held {
  /** "" = unknown: persisted by a proxy from before epochs, or sent by such a control plane. */
  epoch: string;
  version: string;
}

/** What the proxy is offered. */
export interface Offered {
  epoch: string;
  version: string;
  adopts: readonly string[];
}

export type Order = { ok: true } | { ok: false; code: Exclude<NackCode, "INVALID">; error: string };

/**
 * - Nothing held: take it.
 * - The same epoch (or either epoch unknown): a version below the one held is a DOWNGRADE.
 * - Another epoch: DIVERGED, whatever the versions (a new, empty store counts up from 0 as its
 *   sidecars register, so its versions say nothing against ours), unless the offered store
 *   adopts the held epoch (`lanemesh adopt`).
 */
export function orderOf(held: Held | undefined, s: Offered): Order {
  if (held === undefined) return { ok: true };
  const sameStore = held.epoch === "" || s.epoch === "" || held.epoch === s.epoch;
  if (sameStore) {
    if (Number(s.version) >= Number(held.version)) return { ok: true };
    return {
      ok: false,
      code: "DOWNGRADE",
      error: `version ${s.version} is older than version ${held.version} in force (store epoch ${held.epoch || "unknown"}): refused, the proxy keeps its config`,
    };
  }
  if (s.adopts.includes(held.epoch)) return { ok: true };
  return {
    ok: false,
    code: "DIVERGED",
    error: `version ${s.version} comes from another store (epoch ${s.epoch}) than the config in force (version ${held.version} of epoch ${held.epoch}): refused, the proxy keeps its config until that store adopts epoch ${held.epoch} (lanemesh adopt) or the control plane serves its own store again`,
  };
}
