// The sidecar injection webhook: an HTTPS server answering AdmissionReview v1 for pods with inject.ts's JSONPatch; it always admits (a pod it cannot handle passes unchanged, with a warning) and must never block or change anything but the pod it is asked about.

import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { INJECT_DEFAULTS, type InjectOptions, type PodLike, planInjection } from "./inject.js";
import { WEBHOOK_PATH } from "./names.js";

/** The largest AdmissionReview read (the API server's own request limit is 3 MiB; a pod is far less). */
export const MAX_BODY_BYTES = 1024 * 1024;

export interface WebhookOptions {
  port: number;
  host?: string;
  /** PEM serving certificate (chain) and key. */
  cert: string;
  key: string;
  path?: string;
  inject?: Partial<InjectOptions>;
  maxBodyBytes?: number;
  /** Told about every review and every refusal; no logger is required. */
  onEvent?: (e: WebhookEvent) => void;
}

export type WebhookEvent =
  | { type: "injected"; uid: string; namespace: string; app: string; tag: string | null }
  | { type: "skipped"; uid: string; namespace: string; reason: string; warn: boolean }
  | { type: "refused"; status: number; reason: string };

export interface RunningWebhook {
  port: number;
  /** Swap the serving certificate (rotation); connections already open keep theirs. */
  setCertificate(cert: string, key: string): void;
  close(): Promise<void>;
}

interface AdmissionRequest {
  uid?: unknown;
  kind?: { group?: string; version?: string; kind?: string };
  operation?: string;
  namespace?: string;
  object?: unknown;
}

export interface AdmissionResponse {
  uid: string;
  allowed: true;
  patchType?: "JSONPatch";
  patch?: string;
  warnings?: string[];
}

/** The response to one AdmissionReview request: always allowed; a patch when the pod is injected. */
export function review(
  request: AdmissionRequest,
  o: InjectOptions,
  onEvent?: (e: WebhookEvent) => void,
): AdmissionResponse {
  const uid = typeof request.uid === "string" ? request.uid : "";
  const namespace = typeof request.namespace === "string" ? request.namespace : "";
  const skip = (reason: string, warn: boolean): AdmissionResponse => {
    onEvent?.({ type: "skipped", uid, namespace, reason, warn });
    return warn
      ? { uid, allowed: true, warnings: [`lanemesh: sidecar not injected: ${reason}`] }
      : { uid, allowed: true };
  };
  const kind = request.kind;
  if (kind?.kind !== "Pod" || (kind.group ?? "") !== "" || request.operation !== "CREATE")
    return skip(
      `not a pod being created (${kind?.kind ?? "?"} ${request.operation ?? "?"})`,
      false,
    );
  const pod = request.object;
  if (typeof pod !== "object" || pod === null) return skip("the request holds no pod", true);
  let plan: ReturnType<typeof planInjection>;
  try {
    plan = planInjection(pod as PodLike, o);
  } catch (err) {
    return skip(`cannot read the pod: ${(err as Error).message}`, true);
  }
  if (plan.action === "skip") return skip(plan.reason, plan.warn);
  onEvent?.({ type: "injected", uid, namespace, app: plan.app, tag: plan.tag });
  return {
    uid,
    allowed: true,
    patchType: "JSONPatch",
    patch: Buffer.from(JSON.stringify(plan.patch)).toString("base64"),
  };
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, {
    "content-type": typeof body === "string" ? "text/plain; charset=utf-8" : "application/json",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

function handle(
  req: IncomingMessage,
  res: ServerResponse,
  o: Required<Pick<WebhookOptions, "path" | "maxBodyBytes">> & WebhookOptions,
  inject: InjectOptions,
): void {
  const url = (req.url ?? "/").split("?")[0];
  const refuse = (status: number, reason: string) => {
    o.onEvent?.({ type: "refused", status, reason });
    send(res, status, `${reason}\n`);
  };
  if (url === "/healthz" && req.method === "GET") {
    send(res, 200, "ok\n");
    return;
  }
  if (url !== o.path) {
    refuse(404, `not found: ${url}`);
    return;
  }
  if (req.method !== "POST") {
    res.setHeader("allow", "POST");
    refuse(405, `method ${req.method} not allowed: POST an AdmissionReview`);
    return;
  }
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > o.maxBodyBytes) {
    res.setHeader("connection", "close");
    refuse(413, `request body over ${o.maxBodyBytes} bytes`);
    req.resume();
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  let over = false;
  req.on("data", (c: Buffer) => {
    if (over) return;
    size += c.length;
    if (size > o.maxBodyBytes) {
      over = true;
      res.setHeader("connection", "close");
      refuse(413, `request body over ${o.maxBodyBytes} bytes`);
      return;
    }
    chunks.push(c);
  });
  req.on("end", () => {
    if (over) return;
    let body: { apiVersion?: unknown; kind?: unknown; request?: AdmissionRequest };
    try {
      body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      return refuse(400, "body is not JSON");
    }
    if (
      typeof body !== "object" ||
      body === null ||
      body.kind !== "AdmissionReview" ||
      body.apiVersion !== "admission.k8s.io/v1" ||
      typeof body.request !== "object" ||
      body.request === null
    )
      return refuse(400, "expected an admission.k8s.io/v1 AdmissionReview with a request");
    send(res, 200, {
      apiVersion: "admission.k8s.io/v1",
      kind: "AdmissionReview",
      response: review(body.request, inject, o.onEvent),
    });
  });
  req.on("error", () => res.destroy());
}

/** Start the webhook on HTTPS; resolves once it listens. */
export async function startWebhook(opts: WebhookOptions): Promise<RunningWebhook> {
  const o = { path: WEBHOOK_PATH, maxBodyBytes: MAX_BODY_BYTES, ...opts };
  const inject: InjectOptions = { ...INJECT_DEFAULTS, ...opts.inject };
  const server: Server = createServer(
    { cert: opts.cert, key: opts.key, minVersion: "TLSv1.2" },
    (req, res) => handle(req, res, o, inject),
  );
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host ?? "0.0.0.0", () => {
      server.off("error", reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    setCertificate(cert, key) {
      server.setSecureContext({ cert, key, minVersion: "TLSv1.2" });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
