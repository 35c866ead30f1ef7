// Routes as a boundary and framing that two parsers could read differently: paths normalized (or refused) before route matching and sent upstream normalized, Content-Length with leading zeros, `Upgrade: h2c`, and exactly what an upstream gets when a body turns out bad midway.
import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { API_VERSION, type RuleSet } from "../../src/config/types.js";
import { LiveConfig } from "../../src/live/live-config.js";
import type { ProxyHandle } from "../../src/proxy/handle.js";
import { normalizeTarget } from "../../src/proxy/path.js";
import { listened, type Up } from "../helpers/forward.js";
import { endpoint, loopbackGateway, route } from "../helpers/mesh.js";
import { sendRaw, TestUpstream } from "../helpers/upstream.js";

const HOST = "Host: mall.test\r\n";
const CLOSE = "Connection: close\r\n";

/** Routes /raw → sc-raw and /admin → sc-admin; no lanes. */
function boundaryRules(): RuleSet {
  const rules: RuleSet = {
    routes: [route("raw", "/raw", "sc-raw"), route("admin", "/admin", "sc-admin")],
    groups: [],
    lanes: [],
  };
  for (const r of rules.routes) r.apiVersion = API_VERSION;
  return rules;
}

describe("normalizeTarget", () => {
  const CASES: [string, string | null][] = [
    ["/", "/"],
    ["/a/b?x=1", "/a/b?x=1"],
    ["/.well-known/x", "/.well-known/x"],
    ["/a/../b", "/b"],
    ["/a/./b/", "/a/b/"],
    ["/a/b/..", "/a/"],
    ["/a/b/.", "/a/b/"],
    ["/..", "/"],
    ["/../../a", "/a"],
    ["//a///b//", "/a/b/"],
    ["/a/%2E%2e/b", "/b"],
    ["/a/%2e./b", "/b"],
    ["/%61%62%63/%7e", "/abc/~"],
    ["/a%20b/%c3%a9", "/a%20b/%C3%A9"],
    ["/a?q=/../%2f", "/a?q=/../%2f"],
    ["/a/%2Fb", null],
    ["/a/%5c", null],
    ["/a\\b", null],
    ["/a/%", null],
    ["/a/%4", null],
    ["/a/%g0", null],
  ];
  for (const [target, want] of CASES) {
    it(`${target} → ${want ?? "400"}`, () => {
      const r = normalizeTarget(target);
      assert.equal(r.ok ? r.target : null, want);
      if (!r.ok) assert.equal(r.error.code, "LANEMESH_BAD_REQUEST");
    });
  }

  it("returns the very same string when there is nothing to normalize", () => {
    const target = "/a/b/c?x=../y";
    const r = normalizeTarget(target);
    assert.ok(r.ok && r.target === target);
  });
});

describe("paths at the gateway", () => {
  let raw: TestUpstream;
  let admin: TestUpstream;
  let gateway: ProxyHandle;

  before(async () => {
    raw = await TestUpstream.start("RAW");
    admin = await TestUpstream.start("ADMIN");
    const live = new LiveConfig({ gateway: "default" });
    live.setAll(
      boundaryRules(),
      [endpoint("sc-raw", raw.port), endpoint("sc-admin", admin.port)],
      "1",
    );
    gateway = await loopbackGateway({ live });
  });
  after(async () => {
    await gateway.close();
    await raw.close();
    await admin.close();
  });

  /** Send `target` to the gateway; the status and what reached which upstream (null: nothing). */
  async function through(target: string): Promise<{ status: number; got: string | null }> {
    const seen = { raw: raw.received.length, admin: admin.received.length };
    const r = await sendRaw(
      gateway.ports.gateway as number,
      `GET ${target} HTTP/1.1\r\n${HOST}${CLOSE}\r\n`,
    );
    const got = [
      ...raw.received.slice(seen.raw).map((x) => `RAW ${x.url}`),
      ...admin.received.slice(seen.admin).map((x) => `ADMIN ${x.url}`),
    ];
    assert.ok(got.length <= 1, got.join(", "));
    return { status: r.status, got: got[0] ?? null };
  }

  const CASES: [string, number, string | null][] = [
    ["/raw/x", 200, "RAW /raw/x"],
    ["/raw/../admin", 200, "ADMIN /admin"],
    ["/raw/%2e%2e/admin", 200, "ADMIN /admin"],
    ["/raw/%2E%2E/admin", 200, "ADMIN /admin"],
    ["/raw/.%2e/admin/x?q=../y", 200, "ADMIN /admin/x?q=../y"],
    ["//raw/x", 200, "RAW /raw/x"],
    ["/raw//x", 200, "RAW /raw/x"],
    ["/raw/./x", 200, "RAW /raw/x"],
    ["/raw/%7Euser/%41", 200, "RAW /raw/~user/A"],
    ["/raw/a%2bb", 200, "RAW /raw/a%2Bb"],
    ["/admin/../raw/x", 200, "RAW /raw/x"],
    ["/raw/x/..", 200, "RAW /raw/"],
    ["/raw/..", 404, null],
    ["/../../raw/x", 200, "RAW /raw/x"],
    ["http://mall.test/raw/../admin", 200, "ADMIN /admin"],
    ["/raw%2F..%2Fadmin", 400, null],
    ["/raw/%2fadmin", 400, null],
    ["/raw/..%5cadmin", 400, null],
    ["/raw/..\\admin", 400, null],
    ["/raw/%zz", 400, null],
  ];
  for (const [target, status, got] of CASES) {
    it(`${target} → ${status}${got === null ? ", nothing forwarded" : `, ${got}`}`, async () => {
      const r = await through(target);
      assert.deepEqual(r, { status, got });
    });
  }
});

/** A raw upstream that keeps every byte each connection received and whether it was closed. */
async function recordingUpstream(answer: string | null) {
  const conns: { bytes: string; closed: boolean; socket: Socket }[] = [];
  const server = createServer((socket: Socket) => {
    const c = { bytes: "", closed: false, socket };
    conns.push(c);
    socket.on("data", (d: Buffer) => {
      c.bytes += d.toString("latin1");
      if (answer !== null && c.bytes.includes("\r\n\r\n")) socket.end(answer);
    });
    socket.on("close", () => {
      c.closed = true;
    });
    socket.on("error", () => {});
  });
  const up: Up = await listened(server, () => conns.length);
  return { up, conns };
}

/** Resolves once `ok()` holds, checking at every turn of the event loop (no fixed sleeps). */
async function until(ok: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`not reached: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe("framing at the gateway", () => {
  let upstream: TestUpstream;
  let gateway: ProxyHandle;
  const live = new LiveConfig({ gateway: "default" });

  before(async () => {
    upstream = await TestUpstream.start("A");
    live.setAll(boundaryRules(), [endpoint("sc-raw", upstream.port)], "1");
    gateway = await loopbackGateway({ live });
  });
  after(async () => {
    await gateway.close();
    await upstream.close();
  });

  for (const length of ["005", "00", "0005"]) {
    it(`Content-Length: ${length} → 400, nothing forwarded`, async () => {
      const seen = upstream.received.length;
      const body = "hello".slice(0, Number(length));
      const r = await sendRaw(
        gateway.ports.gateway as number,
        `POST /raw HTTP/1.1\r\n${HOST}Content-Length: ${length}\r\n${CLOSE}\r\n${body}`,
      );
      assert.equal(r.status, 400);
      assert.equal(r.headers["x-lanemesh-error"], "LANEMESH_BAD_REQUEST");
      assert.equal(upstream.received.length, seen);
    });
  }

  it("Content-Length: 0 and 5 pass as they are", async () => {
    const seen = upstream.received.length;
    for (const [length, body] of [
      ["0", ""],
      ["5", "hello"],
    ]) {
      const r = await sendRaw(
        gateway.ports.gateway as number,
        `POST /raw HTTP/1.1\r\n${HOST}Content-Length: ${length}\r\n${CLOSE}\r\n${body}`,
      );
      assert.equal(r.status, 200);
    }
    assert.deepEqual(
      upstream.received.slice(seen).map((x) => [x.headers["content-length"], x.body]),
      [
        ["0", ""],
        ["5", "hello"],
      ],
    );
  });

  it("Upgrade: h2c is not passed on: the request is served as HTTP/1.1 without it", async () => {
    const seen = upstream.received.length;
    const r = await sendRaw(
      gateway.ports.gateway as number,
      `GET /raw/h2c HTTP/1.1\r\n${HOST}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n` +
        "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
    );
    assert.equal(r.status, 200);
    assert.equal(r.headers.upgrade, undefined);
    const got = upstream.received.slice(seen);
    assert.equal(got.length, 1);
    assert.equal(got[0]?.url, "/raw/h2c");
    assert.equal(got[0]?.headers.upgrade, undefined);
    assert.equal(got[0]?.headers["http2-settings"], undefined);
    assert.doesNotMatch(String(got[0]?.headers.connection ?? ""), /upgrade/i);
  });
});

describe("a body that turns out bad midway (README: Hostile edge)", () => {
  it("the upstream gets the head and the chunks before the fault, then its connection closes; the client gets 400", async () => {
    const { up, conns } = await recordingUpstream(null);
    const live = new LiveConfig({ gateway: "default" });
    live.setAll(boundaryRules(), [endpoint("sc-raw", up.port)], "1");
    const gateway = await loopbackGateway({ live });
    try {
      const client = connect(gateway.ports.gateway as number, "127.0.0.1");
      let answer = "";
      client.setEncoding("latin1");
      client.on("data", (d: string) => {
        answer += d;
      });
      const clientClosed = new Promise<void>((r) => client.once("close", () => r()));
      client.write(
        `POST /raw/upload HTTP/1.1\r\n${HOST}Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n`,
      );
      await until(() => (conns[0]?.bytes ?? "").includes("hello"), "the first chunk upstream");
      client.write("zz-not-a-chunk-size\r\n");
      await until(() => conns[0]?.closed === true, "the upstream connection closed");
      await clientClosed;
      const bytes = conns[0]?.bytes ?? "";
      const head = bytes.slice(0, bytes.indexOf("\r\n\r\n"));
      assert.match(head, /^POST \/raw\/upload HTTP\/1\.1\r\n/);
      assert.match(head, /\r\ntransfer-encoding: chunked$/i);
      assert.equal(bytes.slice(head.length + 4), "5\r\nhello\r\n", "no final chunk");
      assert.match(answer, /^HTTP\/1\.1 400 /);
      assert.match(answer, /x-lanemesh-error: LANEMESH_BAD_REQUEST/);
      assert.equal(conns.length, 1);
    } finally {
      await gateway.close();
      await up.close();
    }
  });
});
