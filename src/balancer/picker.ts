// INTERFACE STUB (to be implemented): immutable per-service picker snapshots; pure, never does I/O.
import type { Endpoint, RuleSet } from "../config/types.js";

export type PickResult =
  | {
      ok: true;
      endpoint: Endpoint;
      /** True when a tag was wanted but a base instance was chosen. */
      fallback: boolean;
      /** Why it fell back, when it did. */
      reason?: "lane-closed" | "not-in-lane" | "no-tagged-instance" | "unknown-tag";
    }
  | { ok: false; code: "LANEMESH_NO_ENDPOINT" | "LANEMESH_NO_BASE_ENDPOINT"; service: string };

export interface Picker {
  readonly service: string;
  /** Synchronous. `tag` null = base request. `exclude` skips one endpoint (retry elsewhere). */
  pick(tag: string | null, exclude?: Endpoint): PickResult;
}

export interface PickerTable {
  /** undefined when the service is unknown (no endpoints at all). */
  get(service: string): Picker | undefined;
  services(): Iterable<string>;
  /** Reverse lookup of `address:port` to the endpoint (outbound calls that dialed an instance). */
  byAddress(address: string, port: number): Endpoint | undefined;
}

export interface PickerOptions {
  random?: () => number;
}

export function buildPickers(
  _endpoints: Endpoint[],
  _rules: RuleSet,
  _opts?: PickerOptions,
): PickerTable {
  throw new Error("not implemented");
}
