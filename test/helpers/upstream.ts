// Test helper: a recording HTTP upstream, raw-socket and plain HTTP clients, a Prometheus text reader; no assertions here.
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  request,
  type Server,
  type ServerResponse,
} from "node:http";
import { type AddressInfo, connect } from "node:net";

export interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}

/** Answers a received request; the default replies 200 with the upstream's name. */
export type Reply = (req: IncomingMessage, received: Received, res: ServerResponse) => void;

/** An HTTP server on 127.0.0.1:0 that records every request it receives (body included). */
export class TestUpstream {
  readonly received: Received[] = [];
  private waiters: (() => void)[] = [];

  private constructor(
    readonly name: string,
    private readonly server: Server,
    public reply: Reply,
  ) {}

  static async start(name: string, reply?: Reply): Promise<TestUpstream> {
    const server = createServer();
    const up = new TestUpstream(
      name,
      server,
      reply ??
        ((_req, _r, res) => {
          res.writeHead(200, { "content-type": "text/plain" });
          res.end(name);
        }),
    );
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const r: Received = {
          method: req.method ?? "",
          url: req.url ?? "",
          headers: req.headers,
          rawHeaders: req.rawHeaders,
          body: Buffer.concat(chunks).toString(),
        };
        up.received.push(r);
        for (const w of up.waiters.splice(0)) w();
        up.reply(req, r, res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return up;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  /** Resolves once `n` requests in total have been received. */
  async receivedCount(n: number): Promise<void> {
    while (this.received.length < n) await new Promise<void>((r) => this.waiters.push(r));
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

export interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request on a fresh connection (no keep-alive pool left behind). */
export function send(
  port: number,
  opts: {
    method?: string;
    path?: string;
    headers?: Record<string, string | string[]>;
    body?: string;
  } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port,
        method: opts.method ?? "GET",
        path: opts.path ?? "/",
        headers: opts.headers,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

export interface RawAnswer {
  status: number;
  /** Lower-case header names; the last value wins. */
  headers: Record<string, string>;
  body: string;
}

/** Write `bytes` on a new connection and read until the server closes it. */
export function sendRaw(port: number, bytes: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(bytes));
    const chunks: Buffer[] = [];
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", reject);
    socket.on("close", () => {
      const text = Buffer.concat(chunks).toString("latin1");
      const split = text.indexOf("\r\n\r\n");
      const head = (split === -1 ? text : text.slice(0, split)).split("\r\n");
      const headers: Record<string, string> = {};
      for (const line of head.slice(1)) {
        const colon = line.indexOf(":");
        if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      resolve({
        status: Number((head[0] ?? "").split(" ")[1] ?? 0),
        headers,
        body: split === -1 ? "" : text.slice(split + 4),
      });
    });
  });
}

/** The value of one sample in Prometheus text (labels must all match), 0 when absent. */
export function sample(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const open = line.indexOf("{");
    const close = line.lastIndexOf("}");
    const got: Record<string, string> = {};
    if (open !== -1 && open < name.length + 1) {
      for (const m of line.slice(open + 1, close).matchAll(/(\w+)="([^"]*)"/g)) {
        got[m[1] as string] = m[2] as string;
      }
    }
    if (Object.entries(labels).every(([k, v]) => got[k] === v)) {
      total += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return total;
}
