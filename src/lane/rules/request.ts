// The read-only view of a request that lane rules evaluate; it parses lazily and never mutates.

/** What a condition can read. Header names are lower-case; absent → undefined. */
export interface RequestView {
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  header(name: string): string | undefined;
  cookie(name: string): string | undefined;
  query(name: string): string | undefined;
}
