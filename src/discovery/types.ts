// The resolver contract: a source that only emits whole endpoint sets; resolvers never pick or route.
import type { ConfigError } from "../config/document.js";
import type { Endpoint } from "../config/types.js";

/** Why a resolver could not deliver an update; the consumer keeps the last set it received. */
export interface ResolverError {
  /**
   * Stable code: LANEMESH_DISCOVERY_REJECTED (an edit failed validation),
   * LANEMESH_DISCOVERY_UNAVAILABLE (the registry cannot be reached; the last set stays),
   * LANEMESH_DISCOVERY_FORBIDDEN (the registry refused us access).
   */
  code: string;
  message: string;
  /** Validation errors, when the update was refused by validation. */
  errors?: ConfigError[];
}

/**
 * A stream of endpoint sets for every service the resolver knows. Each `onEndpoints` call carries
 * the full set (state of the world, never a delta). Callbacks are never invoked synchronously
 * from `start`; `start` is called at most once; no callback runs after `close()` resolves.
 */
export interface Resolver {
  /** What the resolver reads, for logs and /config (e.g. `static:/etc/lanemesh/endpoints.yaml`). */
  readonly source: string;
  start(onEndpoints: (endpoints: Endpoint[]) => void, onError: (err: ResolverError) => void): void;
  /**
   * Registries a sidecar also publishes itself to (Nacos): register this proxy's own instance
   * once its inbound listener is bound; `close()` takes it out again. Absent when the resolver
   * only reads.
   */
  register?(self: SelfInstance): Promise<void>;
  close(): Promise<void>;
}

/** A sidecar's own instance as peers reach it: its app's service, inbound address, tag. */
export interface SelfInstance {
  service: string;
  address: string;
  port: number;
  tag: string | null;
}
