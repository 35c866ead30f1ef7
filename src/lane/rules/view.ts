// Builds RequestViews from plain maps (CLI, tests) or a Node request; parses cookies and query lazily, once, and never mutates the source.
import type { RequestView } from "./request.js";

/** A request as plain maps, e.g. from `lanemesh explain -H 'k: v' --cookie k=v --query k=v PATH`. */
export interface RequestParts {
  method?: string;
  /** A path; a `?query` part is split off and parsed (explicit `query` entries win). */
  path: string;
  headers?: Record<string, string>;
  cookies?: Record<string, string>;
  query?: Record<string, string>;
}

/** What the view reads from a Node IncomingMessage (or anything shaped like it). */
export interface IncomingLike {
  method?: string | undefined;
  /** Origin-form `/a?x=1` or absolute-form `http://host/a?x=1`. */
  url?: string | undefined;
  /** Node's header object: lower-case names; repeated headers as arrays. */
  headers: Record<string, string | string[] | undefined>;
}

const EMPTY: ReadonlyMap<string, string> = new Map();

/**
 * Parse a Cookie header (`a=1; b=2`). The first occurrence of a name wins, values are kept as
 * sent (no percent-decoding) minus one pair of surrounding double quotes, as RFC 6265 allows.
 */
export function parseCookieHeader(header: string): Map<string, string> {
  const out = new Map<string, string>();
  let start = 0;
  while (start < header.length) {
    let end = header.indexOf(";", start);
    if (end === -1) end = header.length;
    const eq = header.indexOf("=", start);
    if (eq !== -1 && eq < end) {
      const name = header.slice(start, eq).trim();
      let value = header.slice(eq + 1, end).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) {
        value = value.slice(1, -1);
      }
      if (name !== "" && !out.has(name)) out.set(name, value);
    }
    start = end + 1;
  }
  return out;
}

/** Parse a query string (no `?`) with URLSearchParams rules; the first occurrence of a key wins. */
export function parseQueryString(qs: string): Map<string, string> {
  const out = new Map<string, string>();
  if (qs === "") return out;
  for (const [k, v] of new URLSearchParams(qs)) {
    if (!out.has(k)) out.set(k, v);
  }
  return out;
}

/** Split a request target into path and query string; absolute-form URLs lose scheme and host. */
export function splitTarget(target: string): { path: string; query: string } {
  let t = target;
  if (!t.startsWith("/")) {
    const scheme = t.indexOf("://");
    if (scheme !== -1) {
      const slash = t.indexOf("/", scheme + 3);
      const q = t.indexOf("?", scheme + 3);
      if (slash === -1 || (q !== -1 && q < slash)) t = `/${q === -1 ? "" : t.slice(q)}`;
      else t = t.slice(slash);
    }
  }
  const hash = t.indexOf("#");
  if (hash !== -1) t = t.slice(0, hash);
  const q = t.indexOf("?");
  if (q === -1) return { path: t === "" ? "/" : t, query: "" };
  return { path: q === 0 ? "/" : t.slice(0, q), query: t.slice(q + 1) };
}

class MapRequestView implements RequestView {
  constructor(
    readonly method: string,
    readonly path: string,
    private readonly headers: ReadonlyMap<string, string>,
    private readonly cookies: ReadonlyMap<string, string>,
    private readonly queries: ReadonlyMap<string, string>,
  ) {}

  header(name: string): string | undefined {
    return this.headers.get(name);
  }
  cookie(name: string): string | undefined {
    return this.cookies.get(name);
  }
  query(name: string): string | undefined {
    return this.queries.get(name);
  }
}

/**
 * A view over plain maps. Header names are lower-cased here; a `cookie` header, if given, is
 * parsed too (explicit `cookies` entries win).
 */
export function requestViewFromMaps(parts: RequestParts): RequestView {
  const headers = new Map<string, string>();
  for (const [k, v] of Object.entries(parts.headers ?? {})) headers.set(k.toLowerCase(), v);
  const target = splitTarget(parts.path);
  const queries = parseQueryString(target.query);
  for (const [k, v] of Object.entries(parts.query ?? {})) queries.set(k, v);
  const cookieHeader = headers.get("cookie");
  const cookies =
    cookieHeader === undefined ? new Map<string, string>() : parseCookieHeader(cookieHeader);
  for (const [k, v] of Object.entries(parts.cookies ?? {})) cookies.set(k, v);
  return new MapRequestView(
    (parts.method ?? "GET").toUpperCase(),
    target.path,
    headers,
    cookies,
    queries,
  );
}

class IncomingRequestView implements RequestView {
  readonly method: string;
  readonly path: string;
  private readonly rawQuery: string;
  private cookies: ReadonlyMap<string, string> | undefined;
  private queries: ReadonlyMap<string, string> | undefined;

  constructor(private readonly msg: IncomingLike) {
    this.method = msg.method ?? "GET";
    const target = splitTarget(msg.url ?? "/");
    this.path = target.path;
    this.rawQuery = target.query;
  }

  /** `name` must be lower-case (the matcher lower-cases names at compile time). */
  header(name: string): string | undefined {
    const v = this.msg.headers[name];
    if (v === undefined || typeof v === "string") return v;
    return v.length === 0 ? undefined : v.join(", ");
  }

  cookie(name: string): string | undefined {
    if (this.cookies === undefined) {
      const raw = this.msg.headers.cookie;
      if (raw === undefined) this.cookies = EMPTY;
      else this.cookies = parseCookieHeader(typeof raw === "string" ? raw : raw.join("; "));
    }
    return this.cookies.get(name);
  }

  query(name: string): string | undefined {
    if (this.queries === undefined) {
      this.queries = this.rawQuery === "" ? EMPTY : parseQueryString(this.rawQuery);
    }
    return this.queries.get(name);
  }
}

/** A view over a Node IncomingMessage-like request; cookies and query are parsed on first use. */
export function requestViewFromIncoming(msg: IncomingLike): RequestView {
  return new IncomingRequestView(msg);
}
