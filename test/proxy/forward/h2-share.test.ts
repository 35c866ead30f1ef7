// The h2 forwarder's per-client share of an instance's streams: a client past its share is refused `overloaded` (retryable, nothing sent) while another client's streams still go, and its share comes back as its streams end.
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { createServer, type ServerHttp2Stream } from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import type { ForwardOutcome, H2Sink } from "../../../src/proxy/forward/contract.js";
import { H2Forwarder } from "../../../src/proxy/forward/h2/forwarder.js";

/** A client's stream as the forwarder sees it: records the head, the body and the end. */
class FakeSink extends EventEmitter implements H2Sink {
  headersSent = false;
  writableFinished = false;
  destroyed = false;
  status = 0;
  body = "";
  writeHead(status: number): this {
    this.headersSent = true;
    this.status = status;
    return this;
  }
  setTrailers(): void {}
  reset(): void {
    this.destroyed = true;
    this.emit("close");
  }
  write(chunk: Uint8Array): boolean {
    this.body += Buffer.from(chunk).toString();
    return true;
  }
  end(): this {
    this.writableFinished = true;
    return this;
  }
  destroy(): this {
    this.destroyed = true;
    return this;
  }
}

describe("the h2 forwarder's per-client share", { timeout: 30_000 }, () => {
  const held: ServerHttp2Stream[] = [];
  const server = createServer();
  let port = 0;
  const fwd = new H2Forwarder({ sessions: 1, streamsPerSession: 10, perClient: 3 });

  before(async () => {
    server.on("stream", (stream) => {
      stream.on("error", () => {});
      held.push(stream); // answered when the test says so
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    await fwd.destroy();
    server.close();
  });

  const call = (client: string): { sink: FakeSink; outcome: Promise<ForwardOutcome> } => {
    const sink = new FakeSink();
    const outcome = fwd.forward({
      upstream: { address: "127.0.0.1", port },
      method: "GET",
      path: "/",
      headers: [],
      body: null,
      interceptAppUnavailable: false,
      client,
      res: sink,
      h2: sink,
      onHead: () => {},
    });
    return { sink, outcome };
  };

  it("a's fourth stream is refused, b's goes, a's next goes once one of its streams ended", async () => {
    const a = [call("a"), call("a"), call("a")];
    const deadline = Date.now() + 10_000;
    while (held.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(held.length, 3);
    const refused = await call("a").outcome;
    assert.deepEqual(
      {
        ok: refused.ok,
        kind: !refused.ok && refused.kind,
        retryable: !refused.ok && refused.retryable,
      },
      { ok: false, kind: "overloaded", retryable: true },
    );
    const b = call("b");
    while (held.length < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(held.length, 4, "b's stream reached the instance");
    // One of a's streams ends: a has room again.
    const first = held[0] as ServerHttp2Stream;
    first.respond({ ":status": 200 });
    first.end("done");
    assert.deepEqual(await a[0]?.outcome, { ok: true, status: 200 });
    // Its slot is free once the instance's stream closed (the forwarder's count says so).
    while (fwd.streams() > 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const again = call("a");
    while (held.length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(held.length, 5, "a's next stream reached the instance");
    for (const s of held.slice(1)) {
      s.respond({ ":status": 200 });
      s.end();
    }
    for (const c of [a[1], a[2], b, again]) assert.equal((await c?.outcome)?.ok, true);
  });
});
