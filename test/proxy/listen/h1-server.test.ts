// The raw HTTP/1.1 server of the proxy listeners, alone, over raw sockets: framing, keep-alive, pipelining, Expect, the client timers and body backpressure, as Node's server did them.
import assert from "node:assert/strict";
import { once } from "node:events";
import { type AddressInfo, connect, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import type { RawRequest, RawResponse } from "../../../src/proxy/listen/h1-message.js";
import { H1Server, type H1Settings } from "../../../src/proxy/listen/h1-server.js";
import { until as untilState } from "../../helpers/procs.js";

type Handler = (req: RawRequest, res: RawResponse) => void;

const SETTINGS: H1Settings = {
  maxHeaderBytes: 16 * 1024,
  headersTimeoutMs: 1_500,
  requestTimeoutMs: 60_000,
  keepAliveMs: 1_500,
};

class Harness {
  handler: Handler = (_req, res) => {
    res.writeHead(200, ["content-length", "2"]);
    res.write(Buffer.from("ok"));
    res.end();
  };
  readonly server = new H1Server(SETTINGS, {
    request: (req, res) => this.handler(req, res),
    upgrade: (_req, res) => {
      res.statusCode = 400;
      res.end("no upgrade");
    },
    refused: () => {},
  });
  port = 0;

  async start(): Promise<void> {
    this.server.server.listen(0, "127.0.0.1");
    await once(this.server.server, "listening");
    this.port = (this.server.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    this.server.stop();
    this.server.closeAll();
    await new Promise((r) => this.server.server.close(r));
  }

  /** A raw client: what it received, and a promise of the connection's close. */
  client(): { socket: Socket; text: () => string; closed: Promise<void> } {
    const socket = connect(this.port, "127.0.0.1");
    let got = "";
    socket.setEncoding("latin1");
    socket.on("data", (d: string) => {
      got += d;
    });
    socket.on("error", () => {});
    const closed = once(socket, "close").then(() => undefined);
    return { socket, text: () => got, closed };
  }
}

/** Wait on state (every 5 ms), for long enough to hold on a loaded machine. */
function until(check: () => boolean, what: string): Promise<unknown> {
  return untilState(
    what,
    async () => check(),
    (v) => v,
    60_000,
  );
}

describe("raw HTTP/1.1 server", () => {
  const h = new Harness();
  before(() => h.start());
  after(() => h.stop());

  it("answers pipelined requests in order, one at a time", async () => {
    const seen: string[] = [];
    let slowRes: RawResponse | null = null;
    h.handler = (req, res) => {
      seen.push(req.url);
      if (req.url === "/slow") {
        slowRes = res;
        return;
      }
      res.writeHead(200, ["content-length", String(req.url.length)]);
      res.end(req.url);
    };
    const c = h.client();
    c.socket.write("GET /slow HTTP/1.1\r\nHost: a\r\n\r\nGET /fast HTTP/1.1\r\nHost: a\r\n\r\n");
    await until(() => slowRes !== null, "first request");
    // The second waits for the first's answer: not handed over yet.
    assert.deepEqual(seen, ["/slow"]);
    (slowRes as unknown as RawResponse).writeHead(200, ["content-length", "5"]);
    (slowRes as unknown as RawResponse).end("/slow");
    await until(() => c.text().includes("/fast"), "second answer");
    const text = c.text();
    assert.ok(text.indexOf("/slow") < text.indexOf("/fast"), text);
    assert.deepEqual(seen, ["/slow", "/fast"]);
    c.socket.destroy();
  });

  it("frames a body without length: chunked to HTTP/1.1, close-delimited to HTTP/1.0", async () => {
    h.handler = (_req, res) => {
      res.writeHead(200, ["x-a", "1"]);
      res.write(Buffer.from("hello"));
      res.end();
    };
    const c11 = h.client();
    c11.socket.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    await until(() => c11.text().endsWith("0\r\n\r\n"), "chunked end");
    assert.match(c11.text(), /transfer-encoding: chunked\r\n/);
    assert.match(c11.text(), /\r\n\r\n5\r\nhello\r\n0\r\n\r\n$/);
    c11.socket.destroy();
    const c10 = h.client();
    c10.socket.write("GET / HTTP/1.0\r\n\r\n");
    await c10.closed;
    assert.doesNotMatch(c10.text(), /transfer-encoding/);
    assert.match(c10.text(), /connection: close\r\n\r\nhello$/);
  });

  it("keeps an HTTP/1.0 keep-alive connection open and says so; closes on Connection: close", async () => {
    h.handler = (_req, res) => {
      res.writeHead(200, ["content-length", "2"]);
      res.end("ok");
    };
    const c = h.client();
    c.socket.write("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    await until(() => c.text().endsWith("ok"), "answer");
    assert.match(c.text(), /connection: keep-alive\r\nkeep-alive: timeout=1\r\n/);
    c.socket.write("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    await c.closed;
    assert.match(c.text(), /connection: close\r\n\r\nok$/);
  });

  it("sends no body to HEAD and for 204 and 304", async () => {
    h.handler = (req, res) => {
      res.writeHead(req.url === "/204" ? 204 : 200, []);
      res.write(Buffer.from("body"));
      res.end();
    };
    const c = h.client();
    c.socket.write("HEAD / HTTP/1.1\r\nHost: a\r\n\r\nGET /204 HTTP/1.1\r\nHost: a\r\n\r\n");
    await until(() => c.text().split("HTTP/1.1").length === 3, "two answers");
    await new Promise((r) => setImmediate(r));
    assert.doesNotMatch(c.text(), /body|transfer-encoding/);
    c.socket.destroy();
  });

  it("answers Expect: 100-continue at once and refuses other expectations with 417", async () => {
    h.handler = (req, res) => {
      req.body?.resume();
      req.body?.on("end", () => {
        res.writeHead(200, ["content-length", "4"]);
        res.end("done");
      });
    };
    const c = h.client();
    c.socket.write(
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n",
    );
    await until(() => c.text().includes("100 Continue"), "100 Continue");
    c.socket.write("abc");
    await until(() => c.text().endsWith("done"), "final answer");
    c.socket.destroy();
    const d = h.client();
    d.socket.write("GET / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n");
    await d.closed;
    assert.match(d.text(), /^HTTP\/1\.1 417 /);
  });

  it("refuses HTTP/1.1 without Host and malformed heads with 400, then closes", async () => {
    h.handler = () => assert.fail("must not be handed over");
    for (const raw of [
      "GET / HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: a\r\nBad Header: x\r\n\r\n",
    ]) {
      const c = h.client();
      c.socket.write(raw);
      await c.closed;
      assert.match(c.text(), /^HTTP\/1\.1 400 /);
      assert.match(c.text(), /connection: close/);
    }
  });

  it("closes with 408 a head that does not arrive within the headers timeout", async () => {
    const c = h.client();
    c.socket.write("GET / HTTP/1.1\r\nHost: a\r\n");
    await c.closed;
    assert.match(c.text(), /^HTTP\/1\.1 408 /);
  });

  it("closes an idle keep-alive connection after the keep-alive bound, silently", async () => {
    h.handler = (_req, res) => {
      res.writeHead(200, ["content-length", "2"]);
      res.end("ok");
    };
    const c = h.client();
    c.socket.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    await until(() => c.text().endsWith("ok"), "answer");
    await c.closed;
    assert.equal(c.text().split("HTTP/1.1").length, 2);
  });

  it("pauses the client while a body nobody reads fills its buffer", async () => {
    let seen: RawRequest | null = null;
    h.handler = (req) => {
      seen = req;
    };
    const c = h.client();
    const size = 8 * 1024 * 1024;
    c.socket.write(`POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ${size}\r\n\r\n`);
    const chunk = Buffer.alloc(64 * 1024, 97);
    for (let sent = 0; sent < size; sent += chunk.length) {
      if (!c.socket.write(chunk)) break;
    }
    await until(() => seen !== null && (seen as RawRequest).socket.isPaused(), "socket paused");
    const body = (seen as unknown as RawRequest).body;
    assert.ok(body !== null);
    // Bounded: the stream's buffer plus what one read brought, far below what the client has.
    assert.ok(body.readableLength < 1024 * 1024, `buffered ${body.readableLength}`);
    c.socket.destroy();
  });

  it("closes after answering a request whose body was not read to its end", async () => {
    h.handler = (_req, res) => {
      res.writeHead(413, ["content-length", "0"]);
      res.end();
    };
    const c = h.client();
    c.socket.write("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc");
    await c.closed;
    assert.match(c.text(), /^HTTP\/1\.1 413 /);
  });

  it("answers a client that half-closed after its request", async () => {
    h.handler = (_req, res) => {
      setImmediate(() => {
        res.writeHead(200, ["content-length", "4"]);
        res.end("late");
      });
    };
    const c = h.client();
    c.socket.end("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    await c.closed;
    assert.match(c.text(), /late$/);
  });
});
