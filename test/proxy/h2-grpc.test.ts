// gRPC through a sidecar pair in one process (client → outbound → inbound → grpc-js server): the four call kinds with 1,000 messages each way, flow control with a slow reader, trailers and metadata, deadlines, cancellation, the proxy's own errors as gRPC statuses, and HTTP/1.1 beside HTTP/2 on one port.
import assert from "node:assert/strict";
import { request } from "node:http";
import { connect } from "node:http2";
import { after, before, describe, it } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { type EchoClient, type EchoMsg, echoClient } from "../../src/demo/grpc-echo.js";
import { LiveConfig } from "../../src/live/live-config.js";
import type { ProxyHandle } from "../../src/proxy/handle.js";
import { type EchoServer, echoServer, ready, unary } from "../helpers/grpc.js";
import { endpoint, loopbackSidecar } from "../helpers/mesh.js";

const N = 1000;
const PAD = Buffer.alloc(1024, 7);

/** Resolves when `check` holds (polled every 20 ms), rejects after `ms`. */
async function until(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function collect(stream: grpc.ClientReadableStream<EchoMsg>): Promise<EchoMsg[]> {
  return new Promise((resolve, reject) => {
    const got: EchoMsg[] = [];
    stream.on("data", (m: EchoMsg) => got.push(m));
    stream.on("error", reject);
    stream.on("end", () => resolve(got));
  });
}

describe("gRPC through the outbound and inbound sidecars", { timeout: 120_000 }, () => {
  let app: EchoServer;
  let caller: ProxyHandle;
  let callee: ProxyHandle;
  let client: EchoClient;
  /** Written by the slow-reader method: messages handed to grpc-js, and whether it waits for drain. */
  const slow = { written: 0, blocked: false, resume: () => {} };
  const live = new LiveConfig({ gateway: "default" });

  before(async () => {
    app = await echoServer("B", {
      Unary: (call: grpc.ServerUnaryCall<EchoMsg, EchoMsg>, cb: grpc.sendUnaryData<EchoMsg>) => {
        app.calls.push({ method: "Unary", metadata: mdOf(call.metadata), end: "open" });
        const seen = app.calls.at(-1);
        call.on("cancelled", () => {
          if (seen) seen.end = "cancelled";
        });
        if (call.request.text === "hang") return; // answers never: the deadline or a cancel ends it
        if (call.request.text === "fail") {
          const md = new grpc.Metadata();
          md.set("x-detail", "custom");
          cb({ code: grpc.status.FAILED_PRECONDITION, details: "app says no", metadata: md });
          return;
        }
        const header = new grpc.Metadata();
        header.set("x-early", "1");
        call.sendMetadata(header);
        const trailer = new grpc.Metadata();
        trailer.set("x-trailer", "t1");
        trailer.set("x-bin-bin", Buffer.from([0, 1, 2, 255]));
        cb(null, { text: `B:${call.request.text}`, n: call.request.n }, trailer);
      },
      ServerStream: (call: grpc.ServerWritableStream<EchoMsg, EchoMsg>) => {
        if (call.request.text !== "slow") {
          let i = 0;
          const pump = (): void => {
            while (i < call.request.n) {
              if (!call.write({ text: "B", n: i++, pad: PAD })) {
                call.once("drain", pump);
                return;
              }
            }
            call.end();
          };
          pump();
          return;
        }
        // The slow reader's server: 64 KiB messages until grpc-js says wait.
        const big = Buffer.alloc(64 * 1024, 1);
        const pump = (): void => {
          slow.blocked = false;
          while (slow.written < N) {
            slow.written++;
            if (!call.write({ text: "B", n: slow.written, pad: big })) {
              slow.blocked = true;
              call.once("drain", pump);
              return;
            }
          }
          call.end();
        };
        pump();
      },
    });
    callee = await loopbackSidecar({ app: "sc-b", tag: null, appPort: app.port, live });
    caller = await loopbackSidecar({ app: "sc-a", tag: null, appPort: 1, live });
    live.setAll(
      { routes: [], groups: [], lanes: [] },
      [endpoint("sc-b", callee.ports.inbound as number)],
      "1",
    );
    client = echoClient(caller.ports.outbound as number, "sc-b");
    await ready(client);
  });
  after(async () => {
    client?.close();
    await caller?.close();
    await callee?.close();
    await app?.close();
  });

  it("unary: the answer, early metadata, custom and binary trailers arrive intact", async () => {
    const r = await unary(client, { text: "hi", n: 1 }, { "x-lane-tag": "gray", "x-mine": "m" });
    assert.equal(r.err, undefined, String(r.err));
    assert.equal(r.out?.text, "B:hi");
    assert.deepEqual(r.headers?.get("x-early"), ["1"]);
    assert.equal(r.status?.code, grpc.status.OK);
    assert.deepEqual(r.status?.metadata.get("x-trailer"), ["t1"]);
    assert.deepEqual(r.status?.metadata.get("x-bin-bin"), [Buffer.from([0, 1, 2, 255])]);
    const seen = app.calls.at(-1);
    assert.equal(seen?.metadata["x-lane-tag"], "gray");
    assert.equal(seen?.metadata["x-mine"], "m");
    assert.match(String(seen?.metadata.traceparent), /^00-[0-9a-f]{32}-/);
  });

  it("an application error keeps its status, message and metadata", async () => {
    const r = await unary(client, { text: "fail", n: 0 });
    assert.equal(r.err?.code, grpc.status.FAILED_PRECONDITION);
    assert.equal(r.err?.details, "app says no");
    assert.deepEqual(r.err?.metadata.get("x-detail"), ["custom"]);
  });

  it("server streaming: 1,000 messages in order", async () => {
    const got = await collect(client.ServerStream({ text: "go", n: N }));
    assert.equal(got.length, N);
    got.forEach((m, i) => {
      assert.equal(m.n, i);
    });
  });

  it("client streaming: 1,000 messages up, one answer counting them", async () => {
    const answer = new Promise<EchoMsg>((resolve, reject) => {
      const call = client.ClientStream(new grpc.Metadata(), {}, (err, out) =>
        err ? reject(err) : resolve(out as EchoMsg),
      );
      let i = 0;
      const pump = (): void => {
        while (i < N) {
          if (!call.write({ text: "up", n: i++, pad: PAD })) {
            call.once("drain", pump);
            return;
          }
        }
        call.end();
      };
      pump();
    });
    const out = await answer;
    assert.equal(out.n, N);
    assert.equal(out.text, `B:${N * PAD.length}`);
  });

  it("bidi: 1,000 messages each way, each echoed in order", async () => {
    const call = client.Bidi();
    const got = collect(call);
    let i = 0;
    const pump = (): void => {
      while (i < N) {
        if (!call.write({ text: "x", n: i++, pad: PAD })) {
          call.once("drain", pump);
          return;
        }
      }
      call.end();
    };
    pump();
    const list = await got;
    assert.equal(list.length, N);
    list.forEach((m, k) => {
      assert.equal(m.n, k);
    });
  });

  it("a slow reader: the instance is held back by flow control, the proxy buffers a bounded amount", async () => {
    // A raw HTTP/2 client that does not read (grpc-js's own client keeps reading when paused).
    const session = connect(`http://127.0.0.1:${caller.ports.outbound}`);
    try {
      const msg = Buffer.from([0x0a, 4, ...Buffer.from("slow"), 0x10, 0xe8, 0x07]); // text, n=1000
      const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]);
      const stream = session.request({
        ":method": "POST",
        ":path": "/lanemesh.demo.Echo/ServerStream",
        ":authority": "sc-b",
        "content-type": "application/grpc",
        te: "trailers",
      });
      stream.end(frame);
      stream.pause();
      await until("the server to block", () => slow.blocked);
      // Settled: blocked, and the count unchanged over 25 polls in a row.
      let last = -1;
      let still = 0;
      await until("the written count to settle", () => {
        still = slow.blocked && slow.written === last ? still + 1 : 0;
        last = slow.written;
        return still >= 25;
      });
      const stalledAt = slow.written;
      // 1,000 messages of 64 KiB are 64 MiB; what left the server is held by the flow-control
      // windows and stream buffers of the client, the two proxies and the server's own stack.
      assert.ok(
        stalledAt * 64 * 1024 < 4 * 1024 * 1024,
        `${stalledAt} messages of 64 KiB left the server while the client read nothing`,
      );
      let bytes = 0;
      let status: string | undefined;
      stream.on("trailers", (t) => {
        status = String(t["grpc-status"]);
      });
      stream.on("data", (d: Buffer) => {
        bytes += d.length;
      });
      stream.resume();
      await new Promise((r) => stream.once("end", r));
      assert.equal(status, "0");
      assert.equal(slow.written, N);
      assert.ok(bytes > N * 64 * 1024, `${bytes} bytes read`);
    } finally {
      session.close();
    }
  });

  it("a deadline that expires at the instance comes back as DEADLINE_EXCEEDED", async () => {
    const before = app.calls.length;
    const r = await unary(client, { text: "hang", n: 0 }, {}, { deadline: Date.now() + 1500 });
    assert.equal(r.err?.code, grpc.status.DEADLINE_EXCEEDED);
    const seen = app.calls[before];
    assert.ok(seen, "the call reached the instance");
    // grpc-timeout reached it: grpc-js ends the call there when its own deadline passes.
    await until("the instance to see the call end", () => seen.end === "cancelled");
  });

  it("a call cancelled by the client is cancelled at the instance", async () => {
    const before = app.calls.length;
    const md = new grpc.Metadata();
    const call = client.Unary({ text: "hang", n: 0 }, md, {}, () => {});
    await until("the call to reach the instance", () => app.calls.length > before);
    call.cancel();
    const seen = app.calls[before];
    await until("the instance to see the cancel", () => seen?.end === "cancelled");
  });

  it("the proxy's own errors are gRPC statuses with x-lanemesh-error", async () => {
    const nowhere = echoClient(caller.ports.outbound as number, "sc-nowhere");
    try {
      const r = await unary(nowhere, { text: "x", n: 0 });
      assert.equal(r.err?.code, grpc.status.UNAVAILABLE);
      assert.deepEqual(r.err?.metadata.get("x-lanemesh-error"), ["LANEMESH_UNKNOWN_SERVICE"]);
    } finally {
      nowhere.close();
    }
    // The inbound side of an instance whose app is down.
    const down = await loopbackSidecar({ app: "sc-z", tag: null, appPort: 1, live });
    const direct = echoClient(down.ports.inbound as number, "sc-z");
    try {
      const r = await unary(direct, { text: "x", n: 0 });
      assert.equal(r.err?.code, grpc.status.UNAVAILABLE);
      assert.deepEqual(r.err?.metadata.get("x-lanemesh-error"), ["LANEMESH_APP_UNAVAILABLE"]);
    } finally {
      direct.close();
      await down.close();
    }
  });

  it("HTTP/1.1 and HTTP/2 clients on the same port at once", async () => {
    const h1 = (): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = request(
          {
            host: "127.0.0.1",
            port: caller.ports.outbound as number,
            path: "/",
            headers: { host: "sc-nowhere" },
          },
          (res) => {
            res.resume();
            res.on("end", () => resolve(res.statusCode ?? 0));
          },
        );
        req.on("error", reject);
        req.end();
      });
    const [codes, calls] = await Promise.all([
      Promise.all(Array.from({ length: 20 }, h1)),
      Promise.all(Array.from({ length: 20 }, (_, i) => unary(client, { text: `p${i}`, n: i }))),
    ]);
    // HTTP/1.1 got the proxy's HTTP answer (no such service: 503), HTTP/2 the app's.
    for (const c of codes) assert.equal(c, 503);
    calls.forEach((r, i) => {
      assert.equal(r.out?.text, `B:p${i}`);
    });
  });
});

function mdOf(md: grpc.Metadata): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(md.getMap())) out[k] = String(v);
  return out;
}
