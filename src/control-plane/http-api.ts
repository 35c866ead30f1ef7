// The control plane's HTTP API (apply, get, delete, proxies, live config, status, tokens, adopt, version, health, metrics, the web console's files); it maps outcomes to responses and decides nothing.
import { readFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { RawDocument } from "../config/document.js";
import { parseDocuments } from "../config/load.js";
import type { Endpoint, RuleSet } from "../config/types.js";
import type { Logger } from "../telemetry/logger.js";
import {
  type AdoptOutcome,
  type ApplyOutcome,
  type DeleteOutcome,
  isPlural,
  type Plural,
} from "./apply.js";
import { isConsolePath, serveConsole } from "./console.js";
import {
  type GuardCode,
  type GuardOptions,
  MAX_BODY_BYTES,
  MAX_DOCUMENTS,
  mediaType,
  refusal,
  yamlDocumentsAtMost,
} from "./http-guard.js";
import type { ControlPlaneMetrics } from "./metrics.js";
import type { ProxyInfo } from "./server.js";
import type { StatusView } from "./status.js";
import type { ProxyRole } from "./tokens.js";

/** The served rules and endpoints, as `GET /v1/config` shows them. */
export interface LiveConfigView {
  version: string;
  /** The store's epoch (see proto/lanemesh.proto). */
  epoch: string;
  rules: RuleSet;
  endpoints: Endpoint[];
}

/** A request for a bootstrap token (`POST /v1/tokens`). */
export interface TokenRequest {
  role: ProxyRole;
  services: string[];
  gateways: string[];
  ttlSeconds: number;
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
  /** Sign a bootstrap token for a proxy. */
  issueToken(r: TokenRequest): { token: string; id: string; expiresAt: string };
  /** Let proxies holding store `epoch`'s config take this store's (a new version). */
  adopt(epoch: string): Promise<AdoptOutcome>;
  /** Traffic per group, lane and app from the proxies' load reports (`GET /v1/status`). */
  status(group: string | null): StatusView;
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

type ErrorCode =
  | "LANEMESH_NOT_FOUND"
  | "LANEMESH_METHOD_NOT_ALLOWED"
  | "LANEMESH_BAD_REQUEST"
  | "LANEMESH_BODY_TOO_LARGE"
  | "LANEMESH_TOO_MANY_DOCUMENTS"
  | "LANEMESH_SNAPSHOT_TOO_LARGE"
  | "LANEMESH_STORE_READ_ONLY"
  | "LANEMESH_INTERNAL"
  | GuardCode;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorCode,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export function createHttpApi(cp: ApiBackend, guard: GuardOptions): Server {
  return createServer((req, res) => {
    route(cp, guard, req, res).catch((err: unknown) => {
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

async function route(
  cp: ApiBackend,
  guard: GuardOptions,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? "/", "http://control-plane");
  const parts = url.pathname.split("/").filter(Boolean).map(decodeURIComponent);
  const method = req.method ?? "GET";
  const path = `/${parts.join("/")}`;
  const refused = refusal(req, path, guard);
  if (refused) {
    req.resume();
    throw new HttpError(refused.status, refused.code, refused.message, refused.headers);
  }

  if (path === "/healthz") return only(method, ["GET"], () => sendText(res, 200, "ok\n"));
  if (path === "/metrics")
    return only(method, ["GET"], async () => {
      const body = await cp.metrics.registry.metrics();
      res.writeHead(200, { "content-type": cp.metrics.registry.contentType });
      res.end(body);
    });
  if (isConsolePath(path))
    return only(method, ["GET", "HEAD"], () => {
      if (!serveConsole(path, method, res)) throw notFound(path);
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

  if (path === "/v1/status")
    return only(method, ["GET"], () =>
      sendJson(res, 200, cp.status(url.searchParams.get("group"))),
    );

  if (path === "/v1/tokens")
    return only(method, ["POST"], async () => {
      const r = tokenRequest(await jsonBody(req));
      const issued = cp.issueToken(r);
      cp.log.info(
        { id: issued.id, role: r.role, services: r.services, gateways: r.gateways },
        "token issued",
      );
      sendJson(res, 200, issued);
    });

  if (path === "/v1/adopt")
    return only(method, ["POST"], async () => {
      const body = (await jsonBody(req)) as { epoch?: unknown } | null;
      if (typeof body?.epoch !== "string" || !/^[0-9a-f]{1,64}$/.test(body.epoch))
        throw new HttpError(400, "LANEMESH_BAD_REQUEST", 'body must be {"epoch": "<hex epoch>"}');
      const out = await cp.adopt(body.epoch);
      if (out.ok === false) throw new HttpError(409, out.code, out.message);
      sendJson(res, 200, out);
    });

  if (parts[1] !== "resources") throw notFound(path);

  if (parts.length === 2)
    return only(method, ["POST", "PUT"], async () => {
      const parsed = parseBody(await readBody(req), req.headers["content-type"], url);
      if (parsed.errors.length > 0) return sendJson(res, 422, { errors: parsed.errors });
      if (parsed.docs.length > MAX_DOCUMENTS) throw tooManyDocuments(parsed.docs.length);
      const out = await cp.apply(parsed.docs);
      if (!out.ok && "code" in out)
        throw new HttpError(
          out.code === "LANEMESH_STORE_READ_ONLY" ? 409 : 413,
          out.code,
          out.message,
        );
      if (!out.ok) return sendJson(res, 422, { errors: out.errors });
      sendJson(res, 200, { version: out.version, results: out.results, ignored: out.ignored });
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
    if (out.code === "LANEMESH_STORE_READ_ONLY") throw new HttpError(409, out.code, out.message);
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
 * A batch is YAML (one or more documents; `Content-Type` application/yaml, application/x-yaml or
 * text/yaml) or JSON (application/json): a list of resources, or
 * `{documents: [{file, doc, value}]}` so that errors name the user's files (what `apply` sends).
 * More than MAX_DOCUMENTS documents is 413; empty documents are left to apply, which ignores them.
 */
export function parseBody(
  text: string,
  contentType: string | undefined,
  url: URL,
): { docs: RawDocument[]; errors: ReturnType<typeof parseDocuments>["errors"] } {
  const file = url.searchParams.get("file") ?? "request";
  if (mediaType(contentType) !== "application/json") {
    const most = yamlDocumentsAtMost(text);
    if (most > MAX_DOCUMENTS) throw tooManyDocuments(most, "up to ");
    return parseDocuments(text, file);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, "LANEMESH_BAD_REQUEST", `body is not JSON: ${(err as Error).message}`);
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

function tooManyDocuments(n: number, prefix = ""): HttpError {
  return new HttpError(
    413,
    "LANEMESH_TOO_MANY_DOCUMENTS",
    `${prefix}${n} documents in one request: at most ${MAX_DOCUMENTS}; apply them in parts`,
  );
}

function tokenRequest(v: unknown): TokenRequest {
  const b = (v ?? {}) as Record<string, unknown>;
  const list = (x: unknown) =>
    Array.isArray(x) && x.every((s) => typeof s === "string") ? x : null;
  const role = b.role ?? "sidecar";
  const services = list(b.services ?? []);
  const gateways = list(b.gateways ?? []);
  const ttl = b.ttlSeconds ?? 86_400;
  if ((role !== "sidecar" && role !== "gateway") || !services || !gateways)
    throw new HttpError(
      400,
      "LANEMESH_BAD_REQUEST",
      "role must be sidecar|gateway, services and gateways lists of names",
    );
  if (typeof ttl !== "number" || !(ttl > 0) || ttl > 366 * 86_400)
    throw new HttpError(
      400,
      "LANEMESH_BAD_REQUEST",
      "ttlSeconds must be a number of seconds up to a year",
    );
  if (role === "sidecar" ? services.length === 0 : gateways.length === 0)
    throw new HttpError(
      400,
      "LANEMESH_BAD_REQUEST",
      `a ${role} token needs ${role === "sidecar" ? "services" : "gateways"}`,
    );
  return { role, services, gateways, ttlSeconds: ttl };
}

async function jsonBody(req: IncomingMessage): Promise<unknown> {
  const text = await readBody(req);
  try {
    return JSON.parse(text || "{}") as unknown;
  } catch (err) {
    throw new HttpError(400, "LANEMESH_BAD_REQUEST", `body is not JSON: ${(err as Error).message}`);
  }
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(
          new HttpError(
            413,
            "LANEMESH_BODY_TOO_LARGE",
            `request body over ${MAX_BODY_BYTES} bytes: apply the files in parts`,
          ),
        );
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
  sendJson(res, e.status, { error: { code: e.code, message: e.message } }, e.headers);
}

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = `${JSON.stringify(body)}\n`;
  res.writeHead(status, {
    ...headers,
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

function sendText(res: ServerResponse, status: number, text: string): void {
  res.writeHead(status, { "content-type": "text/plain" });
  res.end(text);
}
