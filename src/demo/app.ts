// The lane-unaware demo app of the A → B → C chain: answers with its name and address, then the next hop's answer; it knows nothing of lanes.
import {
  Agent,
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  request,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";
import { logger } from "../telemetry/logger.js";

const log = logger("demo-app");

/** Marks a response as a demo app's chain text, so a caller shows it verbatim even on errors. */
export const CHAIN_HEADER = "x-demo-chain";

export interface DemoAppOptions {
  /** Shown first, e.g. `A`; the tag is appended (`Agray`). */
  name: string;
  /** Only for display: the app itself does nothing with it. */
  tag: string | null;
  host: string;
  /** 0 = any free port. */
  port: number;
  /** URL of the next hop (`http://sc-b/`), null for the last app of the chain. */
  next: string | null;
  /** The sidecar's outbound port as an HTTP proxy (`http://127.0.0.1:15001`); null = direct. */
  proxy: string | null;
  /** Appended as `[config=<label>]`, as the seed's app A shows its config; null = none. */
  configLabel: string | null;
  /** Incoming header names copied onto the call to the next hop (lower-case). */
  forward: string[];
  /** Give up on the next hop after this long (default 10 s). */
  timeoutMs?: number;
  /**
   * Share of requests (0..1) answered 500 `FAILED` without calling on, spread evenly (0.5: every
   * other request): a broken version for status and guarded lanes. Default 0.
   */
  failRatio?: number;
}

export interface DemoApp {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * `traceparent` | `baggage` | `tag-header[:NAME]` (NAME defaults to x-lane-tag) | `none`, comma
 * separated or repeated, to header names. Returns an error string for anything else.
 */
export function parseForward(specs: readonly string[]): string[] | { error: string } {
  const names = new Set<string>();
  for (const raw of specs.flatMap((s) => s.split(","))) {
    const spec = raw.trim().toLowerCase();
    if (spec === "" || spec === "none") continue;
    if (spec === "traceparent" || spec === "baggage") names.add(spec);
    else if (spec === "tag-header") names.add("x-lane-tag");
    else if (spec.startsWith("tag-header:") && spec.length > "tag-header:".length)
      names.add(spec.slice("tag-header:".length));
    else
      return {
        error: `--forward ${raw}: expected traceparent, baggage, tag-header[:NAME] or none`,
      };
  }
  return [...names];
}

function unmapped(address: string | undefined): string {
  const a = address ?? "?";
  return a.startsWith("::ffff:") ? a.slice(7) : a;
}

function hostPort(address: string, port: number | undefined): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

interface Hop {
  /** Text to append after ` -> `. */
  text: string;
  ok: boolean;
}

/** Call the next hop the way a plain HTTP client with a proxy setting does (absolute-form). */
function callNext(
  opts: DemoAppOptions,
  agent: Agent,
  incoming: IncomingMessage,
  next: URL,
): Promise<Hop> {
  const headers: OutgoingHttpHeaders = { host: next.host };
  for (const name of opts.forward) {
    const v = incoming.headers[name];
    if (v !== undefined) headers[name] = v;
  }
  const proxy = opts.proxy === null ? null : new URL(opts.proxy);
  const target = proxy
    ? { host: proxy.hostname, port: proxy.port || 80, path: next.href }
    : { host: next.hostname, port: next.port || 80, path: `${next.pathname}${next.search}` };
  return new Promise((resolve) => {
    const req = request(
      { ...target, method: "GET", headers, agent, timeout: opts.timeoutMs ?? 10_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("error", (err) => resolve({ ok: false, text: `ERROR ${err.message}` }));
        res.on("end", () => {
          const body = Buffer.concat(chunks).toString("utf8").trim();
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve({ ok: true, text: body });
          else if (res.headers[CHAIN_HEADER] !== undefined) resolve({ ok: false, text: body });
          else {
            const code = res.headers["x-lanemesh-error"];
            const why = typeof code === "string" ? code : body.split("\n")[0]?.slice(0, 200);
            resolve({ ok: false, text: `ERROR ${status}${why ? ` ${why}` : ""}` });
          }
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (err: NodeJS.ErrnoException) =>
      resolve({ ok: false, text: `ERROR ${err.code ?? err.message}` }),
    );
    req.end();
  });
}

/** Start the app; resolves once it listens. */
export async function startDemoApp(opts: DemoAppOptions): Promise<DemoApp> {
  const next = opts.next === null ? null : new URL(opts.next);
  // Idle connections closed after 30 s, before the sidecar's 60 s: a connection is never reused
  // just as the other side closes it.
  const agent = new Agent({ keepAlive: true, maxSockets: 64, timeout: 30_000 });
  const label = `${opts.name}${opts.tag ?? ""}`;
  const config = opts.configLabel === null ? "" : `[config=${opts.configLabel}]`;

  const failRatio = opts.failRatio ?? 0;
  let failDebt = 0;
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    req.resume();
    const self = `${label}[${hostPort(unmapped(req.socket.localAddress), req.socket.localPort)}]${config}`;
    failDebt += failRatio;
    if (failDebt >= 1) {
      failDebt -= 1;
      res.writeHead(500, { "content-type": "text/plain; charset=utf-8", [CHAIN_HEADER]: "1" });
      res.end(`${self} FAILED (--fail-ratio ${failRatio})\n`);
      return;
    }
    let status = 200;
    let text = self;
    if (next !== null) {
      const hop = await callNext(opts, agent, req, next);
      text = `${self} -> ${hop.text}`;
      if (!hop.ok) status = 502;
    }
    res.writeHead(status, { "content-type": "text/plain; charset=utf-8", [CHAIN_HEADER]: "1" });
    res.end(`${text}\n`);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      log.error({ err: String(err) }, "request failed");
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  log.info(
    { name: label, host: opts.host, port, next: opts.next, proxy: opts.proxy, failRatio },
    "demo app listening",
  );
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
