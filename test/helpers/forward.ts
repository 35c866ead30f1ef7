// Test rigs for the forwarder: plain and raw-TCP upstreams on loopback and a proxy that sends every request through an H1Forwarder; it asserts nothing itself.
import {
  createServer,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from "node:http";
import { type AddressInfo, createServer as createNetServer, type Socket } from "node:net";
import type { ForwardOutcome } from "../../src/proxy/forward/contract.js";
import { H1Forwarder, type H1ForwarderOptions } from "../../src/proxy/forward/h1/forwarder.js";

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface Up {
  port: number;
  connections: () => number;
  close: () => Promise<void>;
}

export async function listenHttp(handler: Handler): Promise<Up> {
  let n = 0;
  const server = createServer(handler);
  server.on("connection", () => n++);
  return listened(server, () => n);
}

/** A raw TCP upstream: `onRequest` gets each socket's received bytes and writes what it wants. */
export async function listenRaw(onData: (socket: Socket, text: string) => void): Promise<Up> {
  let n = 0;
  const server = createNetServer((socket) => {
    n++;
    let text = "";
    socket.on("data", (d: Buffer) => {
      text += d.toString("latin1");
      if (text.includes("\r\n\r\n")) {
        const got = text;
        text = "";
        onData(socket, got);
      }
    });
    socket.on("error", () => {});
  });
  return listened(server, () => n);
}

export async function listened(
  server: Server | ReturnType<typeof createNetServer>,
  n: () => number,
) {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    connections: n,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        if ("closeAllConnections" in server) server.closeAllConnections();
      }),
  };
}

/**
 * A proxy in front of one upstream through the forwarder; the last outcome is kept. A failed
 * attempt is answered 599 with `kind retryable` as body, so tests see the outcome on the wire.
 */
export async function proxyTo(
  up: Up,
  opts: H1ForwarderOptions = {},
  headers: (req: IncomingMessage) => string[] = (req) => stripHop(req.rawHeaders),
  /** The client key of each request (default: none); e.g. an `x-client` header. */
  client: (req: IncomingMessage) => string | null = () => null,
) {
  const fwd = new H1Forwarder(opts);
  const outcomes: ForwardOutcome[] = [];
  const server = await listenHttp((req, res) => {
    void fwd
      .forward({
        upstream: { address: "127.0.0.1", port: up.port },
        method: req.method ?? "GET",
        path: req.url ?? "/",
        headers: headers(req),
        body: req.headers["content-length"] || req.headers["transfer-encoding"] ? req : null,
        interceptAppUnavailable: false,
        client: client(req),
        res,
        onHead: () => {},
      })
      .then((o) => {
        outcomes.push(o);
        if (!o.ok && !res.headersSent && !res.destroyed) {
          res.writeHead(599).end(`${o.kind} ${o.retryable}`);
        }
      });
  });
  return {
    port: server.port,
    fwd,
    outcomes,
    close: async () => {
      await fwd.destroy();
      await server.close();
    },
  };
}

export function stripHop(raw: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (name === "connection" || name === "transfer-encoding") continue;
    out.push(raw[i] as string, raw[i + 1] as string);
  }
  return out;
}

/** A request with a streamed body, sent in two writes. */
export function post(
  port: number,
  path: string,
  parts: string[],
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path, method: "POST", headers, agent: false },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => {
          body += c.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    for (const p of parts.slice(0, -1)) req.write(p);
    req.end(parts[parts.length - 1]);
  });
}
