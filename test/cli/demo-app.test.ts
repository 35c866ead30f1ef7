// The lane-unaware demo app (src/demo/app.ts): its answer format, the headers it forwards, the proxy call, errors in the chain text.
import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, describe, it } from "node:test";
import { type DemoApp, parseForward, startDemoApp } from "../../src/demo/app.js";
import { freePorts } from "../helpers/procs.js";

interface Seen {
  url: string;
  headers: IncomingHttpHeaders;
}

/** A stand-in for a sidecar's outbound port or a next hop: answers with `reply`, records requests. */
async function fakeServer(
  reply: (seen: Seen) => { status: number; headers?: Record<string, string>; body: string },
): Promise<{ port: number; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    const s = { url: req.url ?? "", headers: req.headers };
    seen.push(s);
    const r = reply(s);
    res.writeHead(r.status, r.headers ?? {});
    res.end(r.body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { port: (server.address() as AddressInfo).port, seen, server };
}

const closers: (() => Promise<void> | void)[] = [];
after(async () => {
  for (const c of closers.reverse()) await c();
});

async function app(
  opts: Partial<Parameters<typeof startDemoApp>[0]> & { name: string },
): Promise<DemoApp> {
  const a = await startDemoApp({
    tag: null,
    host: "127.0.0.1",
    port: 0,
    next: null,
    proxy: null,
    configLabel: null,
    forward: ["traceparent"],
    ...opts,
  });
  closers.push(() => a.close());
  return a;
}

async function server(reply: Parameters<typeof fakeServer>[0]) {
  const s = await fakeServer(reply);
  closers.push(() => new Promise<void>((r) => s.server.close(() => r())));
  return s;
}

const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

async function get(port: number, headers: Record<string, string> = {}) {
  const res = await fetch(`http://127.0.0.1:${port}/a`, { headers });
  return { status: res.status, body: await res.text() };
}

describe("demo app", () => {
  it("answers NAME+tag[address:port][config=label], then ' -> ' and the next hop's answer", async () => {
    const c = await app({ name: "C", tag: "gray" });
    const a = await app({
      name: "A",
      configLabel: "base",
      next: `http://127.0.0.1:${c.port}/`,
    });
    const r = await get(a.port);
    assert.equal(r.status, 200);
    assert.equal(r.body, `A[127.0.0.1:${a.port}][config=base] -> Cgray[127.0.0.1:${c.port}]\n`);
  });

  it("calls the next hop through the proxy in absolute form, forwarding only the chosen headers", async () => {
    const proxy = await server(() => ({ status: 200, body: "B[10.0.0.3:80]\n" }));
    const incoming = { traceparent: TRACEPARENT, baggage: "lane=gray", "x-lane-tag": "gray" };
    const cases: [string[], string[]][] = [
      [["traceparent"], ["traceparent"]],
      [["baggage"], ["baggage"]],
      [["tag-header:x-lane-tag"], ["x-lane-tag"]],
      [["none"], []],
    ];
    for (const [spec, forwarded] of cases) {
      const forward = parseForward(spec);
      assert.ok(Array.isArray(forward));
      const a = await app({
        name: "A",
        next: "http://sc-b/",
        proxy: `http://127.0.0.1:${proxy.port}`,
        forward,
      });
      const r = await get(a.port, incoming);
      assert.equal(r.body, `A[127.0.0.1:${a.port}] -> B[10.0.0.3:80]\n`);
      const seen = proxy.seen.at(-1);
      assert.equal(seen?.url, "http://sc-b/");
      assert.equal(seen?.headers.host, "sc-b");
      for (const h of Object.keys(incoming))
        assert.equal(h in (seen?.headers ?? {}), forwarded.includes(h), `${spec}: ${h}`);
    }
  });

  it("shows a proxy error as ERROR <status> <x-lanemesh-error> and answers 502", async () => {
    const proxy = await server(() => ({
      status: 503,
      headers: { "x-lanemesh-error": "LANEMESH_NO_ENDPOINT" },
      body: "no instance of service sc-b\n",
    }));
    const a = await app({
      name: "A",
      next: "http://sc-b/",
      proxy: `http://127.0.0.1:${proxy.port}`,
    });
    const r = await get(a.port);
    assert.equal(r.status, 502);
    assert.equal(r.body, `A[127.0.0.1:${a.port}] -> ERROR 503 LANEMESH_NO_ENDPOINT\n`);
  });

  it("keeps a failing next app's own chain text, and names a refused connection", async () => {
    const [closed] = await freePorts(1);
    const b = await app({ name: "B", next: `http://127.0.0.1:${closed}/` });
    const a = await app({ name: "A", next: `http://127.0.0.1:${b.port}/` });
    const r = await get(a.port);
    assert.equal(r.status, 502);
    assert.equal(
      r.body,
      `A[127.0.0.1:${a.port}] -> B[127.0.0.1:${b.port}] -> ERROR ECONNREFUSED\n`,
    );
  });

  it("parseForward refuses what it does not know", () => {
    assert.deepEqual(parseForward(["traceparent,baggage"]), ["traceparent", "baggage"]);
    assert.deepEqual(parseForward(["tag-header"]), ["x-lane-tag"]);
    assert.deepEqual(parseForward(["tag-header:X-MSE-Tag"]), ["x-mse-tag"]);
    assert.ok("error" in (parseForward(["cookies"]) as object));
  });
});
