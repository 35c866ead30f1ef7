// Bounded waiting at the forwarder: the pending queue's bound and deadline (fast 503 overloaded, nothing sent), a client that leaves the queue, each client's share of an instance and the fair turn between clients, a request body that stalls; real sockets on loopback.
import assert from "node:assert/strict";
import { type IncomingMessage, request, type ServerResponse } from "node:http";
import { connect, type Socket } from "node:net";
import { describe, it } from "node:test";
import type { H1ForwarderOptions } from "../../../src/proxy/forward/h1/forwarder.js";
import { listenHttp, proxyTo, type Up } from "../../helpers/forward.js";
import { send } from "../../helpers/upstream.js";

/** An upstream that holds every request until `release()`; `held` counts them. */
async function holding(): Promise<
  Up & { held: () => number; release: () => void; seen: string[] }
> {
  const waiting: ServerResponse[] = [];
  const seen: string[] = [];
  const up = await listenHttp((req: IncomingMessage, res: ServerResponse) => {
    seen.push(`${req.headers["x-client"] ?? "-"} ${req.url}`);
    req.resume();
    waiting.push(res);
  });
  return {
    ...up,
    seen,
    held: () => waiting.length,
    release: () => {
      for (const res of waiting.splice(0)) res.end("done");
    },
  };
}

async function until(ok: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`not reached: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const byHeader = (req: IncomingMessage) => (req.headers["x-client"] as string | undefined) ?? null;

async function rig(opts: H1ForwarderOptions) {
  const up = await holding();
  const proxy = await proxyTo(up, opts, undefined, byHeader);
  const get = (path: string, client = "a") =>
    send(proxy.port, { path, headers: { "x-client": client } });
  return {
    up,
    proxy,
    get,
    close: async () => {
      up.release();
      await proxy.close();
      await up.close();
    },
  };
}

describe("pending requests", () => {
  it("beyond the queue's bound: at once overloaded (retryable, nothing sent)", async () => {
    const t = await rig({ connections: 1, maxPending: 2, pendingTimeoutMs: 60_000 });
    try {
      const first = t.get("/1");
      await until(() => t.up.held() === 1, "the first request held upstream");
      const queued = [t.get("/2"), t.get("/3")];
      await until(() => t.proxy.fwd.pending() === 2, "two waiting");
      const started = Date.now();
      const over = await t.get("/4");
      assert.equal(over.status, 599);
      assert.equal(over.body, "overloaded true");
      assert.ok(Date.now() - started < 2_000);
      assert.deepEqual(t.up.seen, ["a /1"]);
      t.up.release();
      assert.equal((await first).body, "done");
      await until(() => t.up.held() === 1, "the next one upstream");
      t.up.release();
      await until(() => t.up.held() === 1, "the last one upstream");
      t.up.release();
      assert.deepEqual(
        (await Promise.all(queued)).map((r) => r.body),
        ["done", "done"],
      );
      assert.deepEqual(t.up.seen, ["a /1", "a /2", "a /3"]);
    } finally {
      await t.close();
    }
  });

  it("past the pending timeout: overloaded, within the timeout plus a tick or two", async () => {
    const t = await rig({ connections: 1, pendingTimeoutMs: 300 });
    try {
      void t.get("/hold");
      await until(() => t.up.held() === 1, "the connection held");
      const started = performance.now();
      const r = await t.get("/late");
      const took = performance.now() - started;
      assert.equal(r.body, "overloaded true");
      assert.ok(took >= 290 && took < 2_000, `answered after ${took} ms`);
      assert.equal(t.proxy.fwd.pending(), 0);
      assert.deepEqual(t.up.seen, ["a /hold"]);
      assert.equal(t.proxy.outcomes.at(-1)?.ok, false);
    } finally {
      await t.close();
    }
  });

  it("a client that leaves while waiting leaves the queue", async () => {
    const t = await rig({ connections: 1 });
    try {
      void t.get("/hold");
      await until(() => t.up.held() === 1, "the connection held");
      const gone = request({ host: "127.0.0.1", port: t.proxy.port, path: "/gone", agent: false });
      gone.on("error", () => {});
      gone.end();
      await until(() => t.proxy.fwd.pending() === 1, "waiting");
      gone.destroy();
      await until(() => t.proxy.fwd.pending() === 0, "left the queue");
      t.up.release();
      const next = t.get("/next");
      await until(() => t.up.held() === 1, "the next request upstream");
      t.up.release();
      assert.equal((await next).body, "done");
      assert.deepEqual(t.up.seen, ["a /hold", "a /next"]);
    } finally {
      await t.close();
    }
  });
});

describe("each client's share of an instance", () => {
  it("a client at its share waits while another client's request goes through", async () => {
    const t = await rig({ connections: 4, perClient: 2 });
    try {
      const mine = [t.get("/a1"), t.get("/a2"), t.get("/a3")];
      await until(() => t.up.held() === 2 && t.proxy.fwd.pending() === 1, "a holds 2, 1 waits");
      void t.get("/b1", "b");
      await until(() => t.up.held() === 3, "b goes through");
      assert.deepEqual(t.up.seen, ["a /a1", "a /a2", "b /b1"]);
      t.up.release();
      await until(() => t.up.held() === 1, "a's third goes once its own came back");
      assert.equal(t.up.seen.at(-1), "a /a3");
      t.up.release();
      assert.deepEqual(
        (await Promise.all(mine)).map((r) => r.body),
        ["done", "done", "done"],
      );
    } finally {
      await t.close();
    }
  });

  it("free connections go to the waiting clients in turn, not in arrival order", async () => {
    const t = await rig({ connections: 1 });
    try {
      void t.get("/hold", "z");
      await until(() => t.up.held() === 1, "held");
      const all = [t.get("/a1"), t.get("/a2"), t.get("/a3")];
      await until(() => t.proxy.fwd.pending() === 3, "a waits thrice");
      all.push(t.get("/b1", "b"));
      await until(() => t.proxy.fwd.pending() === 4, "then b");
      for (let n = 0; n < 5; n++) {
        t.up.release();
        await until(() => t.up.held() === 1 || n === 4, "the next one");
      }
      await Promise.all(all);
      assert.deepEqual(t.up.seen, ["z /hold", "a /a1", "b /b1", "a /a2", "a /a3"]);
    } finally {
      await t.close();
    }
  });
});

describe("a request body that stalls", () => {
  /**
   * POST with Content-Length 10 and 5 bytes of body, then nothing; `answer` resolves with what
   * came back once `done` holds for it or the connection closed.
   */
  function stalled(
    port: number,
    done: (text: string) => boolean = () => false,
  ): { socket: Socket; answer: Promise<string> } {
    const socket = connect(port, "127.0.0.1");
    socket.write("POST /slow HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nhello");
    let text = "";
    socket.setEncoding("latin1");
    socket.on("error", () => {});
    const answer = new Promise<string>((resolve) => {
      socket.on("data", (d: string) => {
        text += d;
        if (done(text)) resolve(text);
      });
      socket.once("close", () => resolve(text));
    });
    return { socket, answer };
  }

  it("ends the attempt as client-timeout (not retryable) and frees the connection", async () => {
    let upstreamClosed = 0;
    const up = await listenHttp((req, _res) => {
      req.resume();
      req.socket.once("close", () => upstreamClosed++);
    });
    const proxy = await proxyTo(up, { connections: 1, clientBodyTimeoutMs: 300 });
    try {
      const started = performance.now();
      const s = stalled(proxy.port, (text) => text.includes("client-timeout"));
      const text = await s.answer;
      const took = performance.now() - started;
      s.socket.destroy();
      assert.match(text, /^HTTP\/1\.1 599 /);
      assert.match(text, /client-timeout false/);
      assert.ok(took >= 290 && took < 3_000, `ended after ${took} ms`);
      await until(() => upstreamClosed === 1, "the upstream connection closed");
    } finally {
      await proxy.close();
      await up.close();
    }
  });

  it("after the answer's head went out: the response is cut", async () => {
    const up = await listenHttp((req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("early ");
    });
    const proxy = await proxyTo(up, { clientBodyTimeoutMs: 300 });
    try {
      const s = stalled(proxy.port);
      const text = await s.answer;
      assert.match(text, /^HTTP\/1\.1 200 /);
      assert.doesNotMatch(text, /0\r\n\r\n$/, "no final chunk: cut");
    } finally {
      await proxy.close();
      await up.close();
    }
  });

  it("a body that keeps coming, slower than the timeout per chunk, is not cut", async () => {
    const up = await listenHttp((req, res) => {
      let n = 0;
      req.on("data", (c: Buffer) => {
        n += c.length;
      });
      req.on("end", () => res.end(`got ${n}`));
    });
    const proxy = await proxyTo(up, { clientBodyTimeoutMs: 400 });
    try {
      const r = await new Promise<string>((resolve, reject) => {
        const req = request(
          {
            host: "127.0.0.1",
            port: proxy.port,
            method: "POST",
            headers: { "content-length": "6" },
            agent: false,
          },
          (res) => {
            let body = "";
            res.on("data", (c: Buffer) => {
              body += c.toString();
            });
            res.on("end", () => resolve(body));
          },
        );
        req.on("error", reject);
        let sent = 0;
        const tick = setInterval(() => {
          sent++;
          if (sent < 6) req.write("x");
          else {
            clearInterval(tick);
            req.end("x");
          }
        }, 150);
      });
      assert.equal(r, "got 6");
    } finally {
      await proxy.close();
      await up.close();
    }
  });
});
