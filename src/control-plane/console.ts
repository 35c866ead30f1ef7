// The web console's static files (`/ui`: one page, three small ES modules, one stylesheet, an icon, shipped in the package) with their strict headers; it reads no resource and changes nothing: the page does everything through the API.
import { readFileSync } from "node:fs";
import type { ServerResponse } from "node:http";

/** Where the console is served. */
export const CONSOLE_PATH = "/ui";

/**
 * The headers of every console file: nothing but this origin may be loaded or contacted (no CDN,
 * no inline script or style), no framing, no sniffing, no referrer.
 */
export const CONSOLE_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy":
    "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; object-src 'none'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cache-control": "no-cache",
};

/** The files, by the path they are served at (a fixed list: no path is ever read from a URL). */
const FILES: Readonly<Record<string, { file: string; type: string }>> = {
  "/ui": { file: "index.html", type: "text/html; charset=utf-8" },
  "/ui/console.js": { file: "console.js", type: "text/javascript; charset=utf-8" },
  "/ui/dom.js": { file: "dom.js", type: "text/javascript; charset=utf-8" },
  "/ui/topology.js": { file: "topology.js", type: "text/javascript; charset=utf-8" },
  "/ui/console.css": { file: "console.css", type: "text/css; charset=utf-8" },
  "/ui/icon.svg": { file: "icon.svg", type: "image/svg+xml" },
};

/** dist/src/control-plane/console.js → dist/src/control-plane/ui/ (scripts/build.mjs copies it). */
const UI_DIR = new URL("./ui/", import.meta.url);

const cache = new Map<string, Buffer>();

/** Whether `path` is one of the console's files (`/ui/` too, the page). */
export function isConsolePath(path: string): boolean {
  return path === CONSOLE_PATH || path in FILES;
}

/** Answer a GET (or HEAD) of a console file; false when `path` is none of them. */
export function serveConsole(path: string, method: string, res: ServerResponse): boolean {
  const entry = FILES[path];
  if (entry === undefined) return false;
  let body = cache.get(entry.file);
  if (body === undefined) {
    body = readFileSync(new URL(entry.file, UI_DIR));
    cache.set(entry.file, body);
  }
  res.writeHead(200, {
    ...CONSOLE_HEADERS,
    "content-type": entry.type,
    "content-length": body.length,
  });
  res.end(method === "HEAD" ? undefined : body);
  return true;
}
