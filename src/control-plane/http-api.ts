// The control plane's HTTP API (apply, get, delete, proxies, live config, version, health, metrics); it maps outcomes to responses and decides nothing.
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { RawDocument } from "../config/document.js";
import { parseDocuments } from "../config/load.js";
import type { Endpoint, RuleSet } from "../config/types.js";
import type { Logger } from "../telemetry/logger.js";
import { type ApplyOutcome, type DeleteOutcome, isPlural, type Plural } from "./apply.js";
import type { ControlPlaneMetrics } from "./metrics.js";
import type { ProxyInfo } from "./server.js";

/** The served rules and endpoints, as `GET /v1/config` shows them. */
export interface LiveConfigView {
  version: string;
  rules: RuleSet;
  endpoints: Endpoint[];
}

/** What the API reads and changes: the control plane (control-plane.ts) implements it. */
export interface ApiBackend {
  readonly log: Logger;
  readonly metrics: ControlPlaneMetrics;
  proxies(): ProxyInfo[];
  liveConfig(): { ok: true; value: LiveConfigView } | { ok: false; error: string };
  apply(batch: RawDocument[]): Promise<ApplyOutcome>;
  delete(plural: Plural, name: string): Promise<DeleteOutcome>;
  list(plural: Plural): unknown[];
  get(plural: Plural, name: string): unknown | undefined;
}

/** `GET /v1/version`: the lanemesh package this control plane runs, and the API's version. */
const VERSION = {
  version: (
    JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as {
      version: string;
    }
  ).version,
  api: "v1",
};

/** Bodies larger than this are refused (413): resources are small text. */
const MAX_BODY = 4 * 1024 * 1024;

type ErrorCode =
  | "LANEMESH_NOT_FOUND"
  | "LANEMESH_METHOD_NOT_ALLOWED"
  | "LANEMESH_BAD_REQUEST"
  | "LANEMESH_BODY_TOO_LARGE"
  | "LANEMESH_INTERNAL";

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export function createHttpApi(cp: ApiBackend): Server {
  return createServer((req, res) => {
    route(cp, req, res).catch((err: unknown) => {
      const e =
        err instanceof HttpError
          ? err
          : new HttpError(500, "LANEMESH_INTERNAL", (err as Error).message ?? String(err));
      if (e.status >= 500) cp.log.error({ err: e.message, url: req.url }, "http api failure");
      if (!res.headersSent) sendError(res, e);
      else res.destroy();
    });
  });
}

async function route(cp: ApiBackend, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? "/", "http://control-plane");
  const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  const method = req.method ?? "GET";
  const path = `/${parts.join("/")}`;

  if (path === "/healthz") return only(method, ["GET"], () => sendText(res, 200, "ok\n"));
  if (path === "/metrics")
    return only(method, ["GET"], async () => {
      const body = await cp.metrics.registry.metrics();
      res.writeHead(200, { "content-type": cp.metrics.registry.contentType });
      res.end(body);
    });
  if (parts[0] !== "v1") throw notFound(path);

  if (parts[1] === "version" && parts.length === 2)
    return only(method, ["GET"], () => sendJson(res, 200, VERSION));

  if (parts[1] === "proxies" && parts.length <= 3)
    return only(method, ["GET"], () => {
      const items = cp.proxies().filter((p) => parts[2] === undefined || p.nodeId === parts[2]);
      if (parts[2] !== undefined && items.length === 0) throw notFound(`proxy ${parts[2]}`);
      sendJson(res, 200, parts[2] === undefined ? { items } : items[0]);
    });

  if (parts[1] === "config" && parts.length === 2)
    return only(method, ["GET"], () => {
      const c = cp.liveConfig();
      if (!c.ok) throw new HttpError(500, "LANEMESH_INTERNAL", c.error);
      sendJson(res, 200, c.value);
    });

  if (parts[1] !== "resources") throw notFound(path);

  if (parts.length === 2)
    return only(method, ["POST", "PUT"], async () => {
      const parsed = parseBody(await readBody(req), req.headers["content-type"], url);
      if (parsed.errors.length > 0) return sendJson(res, 422, { errors: parsed.errors });
      const out = await cp.apply(parsed.docs);
      if (!out.ok) return sendJson(res, 422, { errors: out.errors });
      sendJson(res, 200, { version: out.version, results: out.results });
    });

  const plural = parts[2] ?? "";
  if (!isPlural(plural) || parts.length > 4)
    throw notFound(`${path} (kinds: routes, lanegroups, lanes, instances)`);
  const name = parts[3];
  if (name === undefined)
    return only(method, ["GET"], () => sendJson(res, 200, { items: cp.list(plural) }));
  return only(method, ["GET", "DELETE"], async () => {
    if (method === "GET") {
      const doc = cp.get(plural, name);
      if (doc === undefined) throw notFound(`${plural}/${name}`);
      return sendJson(res, 200, doc);
    }
    const out = await cp.delete(plural, name);
    if (out.ok) return sendJson(res, 200, { version: out.version, deleted: `${plural}/${name}` });
    if (out.code === "LANEMESH_NOT_FOUND") throw new HttpError(404, out.code, out.message);
    sendJson(res, 422, { errors: out.errors });
  });

  async function only(m: string, allowed: string[], fn: () => unknown): Promise<void> {
    if (!allowed.includes(m)) {
      res.setHeader("allow", allowed.join(", "));
      throw new HttpError(405, "LANEMESH_METHOD_NOT_ALLOWED", `${m} not allowed on ${path}`);
    }
    await fn();
  }
}

/**
 * A batch is YAML (one or more documents) or JSON: a list of resources, or
 * `{documents: [{file, doc, value}]}` so that errors name the user's files (what `apply` sends).
 */
export function parseBody(
  text: string,
  contentType: string | undefined,
  url: URL,
): { docs: RawDocument[]; errors: ReturnType<typeof parseDocuments>["errors"] } {
  const file = url.searchParams.get("file") ?? "request";
  const isJson = contentType?.includes("json") || /^\s*[[{]/.test(text);
  if (!isJson) return parseDocuments(text, file);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    if (contentType?.includes("json"))
      throw new HttpError(
        400,
        "LANEMESH_BAD_REQUEST",
        `body is not JSON: ${(err as Error).message}`,
      );
    return parseDocuments(text, file); // YAML flow style starts with { or [ too
  }
  if (Array.isArray(value))
    return { docs: value.map((v, doc) => ({ origin: { file, doc }, value: v })), errors: [] };
  const documents = (value as { documents?: unknown } | null)?.documents;
  if (Array.isArray(documents)) {
    const docs: RawDocument[] = [];
    for (const d of documents as { file?: unknown; doc?: unknown; value?: unknown }[]) {
      if (typeof d?.file !== "string" || typeof d.doc !== "number" || !("value" in d))
        throw new HttpError(400, "LANEMESH_BAD_REQUEST", "documents[] items need file, doc, value");
      docs.push({ origin: { file: d.file, doc: d.doc }, value: d.value });
    }
    return { docs, errors: [] };
  }
  return { docs: [{ origin: { file, doc: 0 }, value }], errors: [] };
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new HttpError(413, "LANEMESH_BODY_TOO_LARGE", `body over ${MAX_BODY} bytes`));
        req.resume();
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function notFound(what: string): HttpError {
  return new HttpError(404, "LANEMESH_NOT_FOUND", `not found: ${what}`);
}

function sendError(res: ServerResponse, e: HttpError): void {
  sendJson(res, e.status, { error: { code: e.code, message: e.message } });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { "content-type": "text/plain" });
  res.end(text);
}
