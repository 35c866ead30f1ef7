// The HTTP/1.1 forwarder on Node's llhttp: framing both ways (lengths, chunked, HEAD, 1xx, 204, close-delimited), hop-by-hop removal, keep-alive reuse and its limits, the pool queue, timeouts, failures and their retry flags, pools closed when instances leave.
import assert from "node:assert/strict";
import { request } from "node:http";
import type { Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { listenHttp, listenRaw, post, proxyTo, type Up } from "../../helpers/forward.js";
import { send } from "../../helpers/upstream.js";

describe("H1Forwarder framing", () => {
  let up: Up;
  let proxy: Awaited<ReturnType<typeof proxyTo>>;
  before(async () => {
    up = await listenHttp((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks);
        switch (req.url) {
          case "/echo":
            res.writeHead(200, {
              "content-type": "application/octet-stream",
              "x-framing":
                req.headers["transfer-encoding"] ?? `length ${req.headers["content-length"]}`,
            });
            res.end(body);
            return;
          case "/hop":
            res.writeHead(200, {
              connection: "keep-alive, x-private",
              "x-private": "1",
              "keep-alive": "timeout=30",
              "x-public": "2",
            });
            res.end("hop");
            return;
          case "/no-content":
            res.writeHead(204).end();
            return;
          case "/not-modified":
            res.writeHead(304, { etag: '"a"' }).end();
            return;
          default:
            res.writeHead(200, { "content-type": "text/plain", "content-length": "5" });
            res.end(req.method === "HEAD" ? undefined : "hello");
        }
      });
    });
    proxy = await proxyTo(up);
  });
  after(async () => {
    await proxy.close();
    await up.close();
  });

  it("a GET round trip, then the same connection for the next ones", async () => {
    const first = await send(proxy.port, { path: "/" });
    assert.equal(first.status, 200);
    assert.equal(first.body, "hello");
    const before = up.connections();
    for (let n = 0; n < 4; n++) assert.equal((await send(proxy.port)).body, "hello");
    assert.equal(up.connections(), before);
  });

  it("drops hop-by-hop response fields and those Connection names, keeps the rest", async () => {
    const r = await send(proxy.port, { path: "/hop" });
    assert.equal(r.body, "hop");
    assert.equal(r.headers["x-public"], "2");
    assert.equal(r.headers["x-private"], undefined);
    assert.notEqual(r.headers["keep-alive"], "timeout=30");
  });

  it("a body with Content-Length goes as is, 1 MiB both ways", async () => {
    const big = "x".repeat(1024 * 1024);
    const r = await post(proxy.port, "/echo", [big.slice(0, 1000), big.slice(1000)], {
      "content-length": String(big.length),
    });
    assert.equal(r.status, 200);
    assert.equal(r.body.length, big.length);
    assert.equal(r.body, big);
  });

  it("a chunked body is re-framed chunked", async () => {
    const r = await new Promise<{ body: string; framing: string }>((resolve, reject) => {
      const req = request(
        { host: "127.0.0.1", port: proxy.port, path: "/echo", method: "POST", agent: false },
        (res) => {
          let body = "";
          res.on("data", (c: Buffer) => {
            body += c.toString();
          });
          res.on("end", () => resolve({ body, framing: String(res.headers["x-framing"]) }));
        },
      );
      req.on("error", reject);
      req.write("part1;");
      setImmediate(() => req.end("part2"));
    });
    assert.equal(r.body, "part1;part2");
    assert.equal(r.framing, "chunked");
  });

  it("HEAD: the head without a body, and the connection stays usable", async () => {
    const head = await send(proxy.port, { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers["content-length"], "5");
    assert.equal(head.body, "");
    assert.equal((await send(proxy.port)).body, "hello");
  });

  it("204 and 304 end at the head", async () => {
    assert.equal((await send(proxy.port, { path: "/no-content" })).status, 204);
    const nm = await send(proxy.port, { path: "/not-modified" });
    assert.equal(nm.status, 304);
    assert.equal(nm.headers.etag, '"a"');
    assert.equal((await send(proxy.port)).body, "hello");
  });
});

describe("H1Forwarder with raw upstreams", () => {
  const raw = async (onData: (socket: Socket, text: string) => void, opts = {}) => {
    const up = await listenRaw(onData);
    const proxy = await proxyTo(up, opts);
    return {
      up,
      proxy,
      close: async () => {
        await proxy.close();
        await up.close();
      },
    };
  };

  it("skips 1xx answers and passes the final one", async () => {
    const t = await raw((s) =>
      s.write(
        "HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\n" +
          "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok",
      ),
    );
    try {
      const r = await send(t.proxy.port);
      assert.equal(r.status, 200);
      assert.equal(r.body, "ok");
    } finally {
      await t.close();
    }
  });

  it("a close-delimited body is passed whole, the connection is not reused", async () => {
    const t = await raw((s) => {
      s.write("HTTP/1.1 200 OK\r\nconnection: close\r\n\r\npart one, ");
      setImmediate(() => s.end("part two"));
    });
    try {
      assert.equal((await send(t.proxy.port)).body, "part one, part two");
      assert.equal((await send(t.proxy.port)).body, "part one, part two");
      assert.equal(t.up.connections(), 2);
    } finally {
      await t.close();
    }
  });

  it("an invalid answer is a protocol failure", async () => {
    const t = await raw((s) => s.end("HTTP/1.1 200 OK\r\nbad header line\r\n\r\n"));
    try {
      const r = await send(t.proxy.port);
      assert.equal(r.status, 599);
      assert.equal(r.body, "protocol false");
    } finally {
      await t.close();
    }
  });

  it("response headers over 16 KiB are a protocol failure", async () => {
    const t = await raw((s) =>
      s.end(`HTTP/1.1 200 OK\r\nx-big: ${"b".repeat(20 * 1024)}\r\ncontent-length: 0\r\n\r\n`),
    );
    try {
      assert.equal((await send(t.proxy.port)).body, "protocol false");
    } finally {
      await t.close();
    }
  });

  it("closed before any answer: reset, retryable without a body, not once a body was sent", async () => {
    const t = await raw((s) => s.destroy());
    try {
      assert.equal((await send(t.proxy.port)).body, "reset true");
      const r = await post(t.proxy.port, "/", ["data"], { "content-length": "4" });
      assert.equal(r.body, "reset false");
    } finally {
      await t.close();
    }
  });

  it("a Keep-Alive: timeout=1 hint means no reuse", async () => {
    const t = await raw((s) =>
      s.write("HTTP/1.1 200 OK\r\nkeep-alive: timeout=1\r\ncontent-length: 2\r\n\r\nok"),
    );
    try {
      await send(t.proxy.port);
      await send(t.proxy.port);
      assert.equal(t.up.connections(), 2);
    } finally {
      await t.close();
    }
  });

  it("an idle connection past its keep-alive is not reused", async () => {
    const t = await raw((s) => s.write("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"), {
      keepAliveMs: 30,
    });
    try {
      await send(t.proxy.port);
      await new Promise((r) => setTimeout(r, 60));
      assert.equal((await send(t.proxy.port)).body, "ok");
      assert.equal(t.up.connections(), 2);
    } finally {
      await t.close();
    }
  });
});

describe("H1Forwarder pool and edges", () => {
  it("queues attempts beyond the connection limit and serves them in turn", async () => {
    const up = await listenHttp((_req, res) => setTimeout(() => res.end("slow"), 20));
    const proxy = await proxyTo(up, { connections: 1 });
    try {
      const all = await Promise.all([1, 2, 3].map(() => send(proxy.port)));
      assert.deepEqual(
        all.map((r) => r.body),
        ["slow", "slow", "slow"],
      );
      assert.equal(up.connections(), 1);
    } finally {
      await proxy.close();
      await up.close();
    }
  });

  it("a client that leaves mid-response closes the upstream connection", async () => {
    let upstreamClosed: () => void = () => {};
    const closed = new Promise<void>((r) => {
      upstreamClosed = r;
    });
    const up = await listenHttp((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("first");
      res.socket?.on("close", () => upstreamClosed());
    });
    const proxy = await proxyTo(up);
    try {
      await new Promise<void>((resolve, reject) => {
        const req = request({ host: "127.0.0.1", port: proxy.port, agent: false }, (res) => {
          res.once("data", () => {
            req.destroy();
            resolve();
          });
        });
        req.on("error", () => {});
        req.on("close", () => {});
        req.end();
        req.on("timeout", reject);
      });
      await closed;
      assert.equal(up.connections(), 1);
    } finally {
      await proxy.close();
      await up.close();
    }
  });

  it("a header value with a line break is refused before anything is sent", async () => {
    let received = 0;
    const up = await listenRaw((s) => {
      received++;
      s.end("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
    });
    const proxy = await proxyTo(up, {}, () => ["host", "x", "x-evil", "a\r\nx-injected: 1"]);
    try {
      assert.equal((await send(proxy.port)).body, "bad-request false");
      assert.equal(received, 0);
    } finally {
      await proxy.close();
      await up.close();
    }
  });

  it("an early answer before the request body ends: passed on, connection not reused", async () => {
    const up = await listenHttp((_req, res) => {
      res.writeHead(413, { "content-length": "8" });
      res.end("too big\n");
    });
    const proxy = await proxyTo(up);
    try {
      // The client sends the rest of its body only once the answer is there.
      const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = request(
          {
            host: "127.0.0.1",
            port: proxy.port,
            method: "POST",
            headers: { "content-length": "10" },
            agent: false,
          },
          (res) => {
            let body = "";
            res.on("data", (c: Buffer) => {
              body += c.toString();
            });
            res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
            req.end("world");
          },
        );
        req.on("error", reject);
        req.write("hello");
      });
      assert.equal(r.status, 413);
      assert.equal(r.body, "too big\n");
      assert.equal((await send(proxy.port)).status, 413);
      assert.equal(up.connections(), 2);
    } finally {
      await proxy.close();
      await up.close();
    }
  });
});

describe("H1Forwarder timeouts and retention", () => {
  it("reports no response headers in time as a timeout, not retryable", async () => {
    const silent = await listenHttp(() => {});
    const proxy = await proxyTo(silent, { headersTimeoutMs: 100 });
    try {
      assert.equal((await send(proxy.port)).status, 599);
      assert.deepEqual(proxy.outcomes, [
        {
          ok: false,
          kind: "timeout",
          detail: `no response headers from 127.0.0.1:${silent.port} within 100 ms`,
          retryable: false,
        },
      ]);
    } finally {
      await proxy.close();
      await silent.close();
    }
  });

  it("closes the pools of instances that left the config", async () => {
    const up = await listenHttp((_req, res) => res.end("ok"));
    const proxy = await proxyTo(up);
    try {
      assert.equal((await send(proxy.port)).body, "ok");
      assert.deepEqual(proxy.fwd.upstreams(), [`127.0.0.1:${up.port}`]);
      proxy.fwd.retain([{ address: "127.0.0.1", port: up.port }]);
      assert.deepEqual(proxy.fwd.upstreams(), [`127.0.0.1:${up.port}`]);
      proxy.fwd.retain([{ address: "127.0.0.1", port: 1 }]);
      assert.deepEqual(proxy.fwd.upstreams(), []);
    } finally {
      await proxy.close();
      await up.close();
    }
  });
});
