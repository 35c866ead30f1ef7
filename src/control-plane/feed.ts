// The contract of a config source the control plane serves but does not own (the cluster's custom resources): whole configs with their version and epoch, read-only to the HTTP API; no implementation here.

/** One config as the source versioned it. */
export interface FedConfig {
  /** Grows with every new content; one version is one content, on every replica. */
  readonly version: number;
  /** The epoch the source's versions belong to (shared by every replica). */
  readonly epoch: string;
  /** lanemesh documents (routes, groups, lanes, Instance endpoints) in declared order. */
  readonly resources: readonly unknown[];
}

/** A source of configs the control plane serves instead of its file store. */
export interface ConfigFeed {
  /** Why apply, delete and adopt are refused (LANEMESH_STORE_READ_ONLY), naming what to use. */
  readonly readOnly: string;
  /** The config to serve now, or undefined before the first one. */
  current(): FedConfig | undefined;
  /** Called after current() changed; returns the unsubscribe. */
  onChange(cb: () => void): () => void;
  /**
   * A guarded lane's close where the source holds the rules (`--store kubernetes`: the Lane
   * custom resource gets `spec.enabled: false`, which every replica then serves).
   */
  closeLane?(name: string): Promise<void>;
  /** For the metrics: resources refused now, and whether this replica numbers the configs. */
  stats?(): { refused: number; leader: boolean };
  close(): Promise<void>;
}
