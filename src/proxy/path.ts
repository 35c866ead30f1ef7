// Normalizes the path of an origin-form request target before route matching (dot segments, percent-encoded unreserved characters, repeated slashes) and refuses the spellings a route cannot bound (encoded slashes, backslashes, bad escapes); pure, it never routes.
import { ProxyError } from "./errors.js";

/*
 * As Envoy's `normalize_path` + `merge_slashes`, with `path_with_escaped_slashes_action:
 * REJECT_REQUEST`, in this order, on the path only (the query is passed as received):
 * 1. `%XX` escapes: an unreserved character (A-Z a-z 0-9 - . _ ~) is decoded (`%2e` → `.`,
 *    `%7E` → `~`, RFC 3986 §6.2.2.2), any other escape is kept with upper-case hex (`%2b` → `%2B`,
 *    §6.2.2.1); `%2F` and `%5C` (an encoded slash or backslash) and a malformed escape (`%zz`,
 *    `%4`) → 400: servers disagree on whether `a%2Fb` is one segment or two.
 * 2. A raw backslash → 400 (some servers read it as a slash).
 * 3. Repeated slashes are merged (`//raw/x` → `/raw/x`).
 * 4. Dot segments are removed (RFC 3986 §5.2.4): `/raw/../admin` → `/admin`, `/raw/./x` →
 *    `/raw/x`, `/x/..` → `/`; `..` above the root stays at the root.
 * The upstream receives the normalized path, so the route matched is the route served. A path
 * without `%`, `\`, `//` or `/.` is returned as the same string, with no allocation.
 */

export type NormalizedTarget = { ok: true; target: string } | { ok: false; error: ProxyError };

const refused = (why: string): NormalizedTarget => ({
  ok: false,
  error: new ProxyError("LANEMESH_BAD_REQUEST", `request path refused: ${why}`),
});

const HEX = "0123456789ABCDEF";

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

function unreserved(c: number): boolean {
  const lower = c | 0x20;
  return (
    (lower >= 0x61 && lower <= 0x7a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x2d ||
    c === 0x2e ||
    c === 0x5f ||
    c === 0x7e
  );
}

/** True when `path` (no query) may hold something to normalize or refuse. */
function needsWork(path: string): boolean {
  const last = path.length - 1;
  for (let i = 0; i <= last; i++) {
    const c = path.charCodeAt(i);
    if (c === 0x25 /* % */ || c === 0x5c /* \ */) return true;
    if (c === 0x2f /* / */ && i < last) {
      const n = path.charCodeAt(i + 1);
      if (n === 0x2f || n === 0x2e) return true;
    }
  }
  return false;
}

/** Step 1 and 2: escapes decoded or canonicalized; null when refused (reason in `why[0]`). */
function decode(path: string, why: string[]): string | null {
  let out = "";
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c === 0x5c) {
      why.push("a backslash");
      return null;
    }
    if (c !== 0x25) {
      out += path[i];
      continue;
    }
    const hi = i + 2 < path.length ? hexValue(path.charCodeAt(i + 1)) : -1;
    const lo = hi === -1 ? -1 : hexValue(path.charCodeAt(i + 2));
    if (lo === -1) {
      why.push("a malformed percent-escape");
      return null;
    }
    const v = hi * 16 + lo;
    if (v === 0x2f || v === 0x5c) {
      why.push("an encoded slash or backslash");
      return null;
    }
    out += unreserved(v) ? String.fromCharCode(v) : `%${HEX[hi]}${HEX[lo]}`;
    i += 2;
  }
  return out;
}

/** Steps 3 and 4 on a decoded path that starts with `/`. */
function removeDots(path: string): string {
  const segments = path.split("/");
  const out: string[] = [];
  const last = segments.length - 1;
  for (let i = 1; i <= last; i++) {
    const s = segments[i] as string;
    if (s === "..") out.pop();
    else if (s !== "." && s !== "") out.push(s);
    else if (i === last) out.push("");
    if (s === ".." && i === last) out.push("");
  }
  return `/${out.join("/")}`;
}

/** The target `/path?query` with its path normalized, or the 400 it gets. */
export function normalizeTarget(target: string): NormalizedTarget {
  const q = target.indexOf("?");
  const path = q === -1 ? target : target.slice(0, q);
  if (!needsWork(path)) return { ok: true, target };
  const why: string[] = [];
  const decoded = decode(path, why);
  if (decoded === null) return refused(why[0] ?? "malformed");
  const normalized = removeDots(decoded);
  if (normalized === path) return { ok: true, target };
  return { ok: true, target: q === -1 ? normalized : normalized + target.slice(q) };
}
