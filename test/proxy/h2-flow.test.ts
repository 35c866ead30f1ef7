// HTTP/2 through a sidecar's outbound port to a raw h2c instance: an instance that stops reading holds the client back by flow control (the proxy buffers a bounded amount), and drain sends GOAWAY while the stream in flight finishes.
import assert from "node:assert/strict";
import {
  type ClientHttp2Session,
  connect,
  createServer,
  type Http2Server,
  type ServerHttp2Stream,
} from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { LiveConfig } from "../../src/live/live-config.js";
import type { ProxyHandle } from "../../src/proxy/handle.js";
import { endpoint, loopbackSidecar } from "../helpers/mesh.js";

async function until(what: string, check: () => boolean, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("HTTP/2 flow control and drain through a sidecar", { timeout: 60_000 }, () => {
  let server: Http2Server;
  let sidecar: ProxyHandle;
  /** The instance's streams by path. */
  const streams = new Map<string, ServerHttp2Stream>();
  const live = new LiveConfig({ gateway: "default" });

  before(async () => {
    server = createServer();
    server.on("stream", (stream, headers) => {
      stream.on("error", () => {});
      const path = String(headers[":path"]);
      streams.set(path, stream);
      if (path === "/upload") {
        stream.pause(); // reads nothing until told
        return;
      }
      stream.respond({ ":status": 200 });
      stream.write("first;");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const port = (server.address() as AddressInfo).port;
    sidecar = await loopbackSidecar({ app: "sc-a", tag: null, appPort: 1, live });
    live.setAll({ routes: [], groups: [], lanes: [] }, [endpoint("sc-b", port)], "1");
  });
  after(async () => {
    await sidecar?.close();
    for (const s of streams.values()) s.destroy();
    server.close();
  });

  it("an instance that reads nothing stops the client's upload: the proxy holds a bounded amount", async () => {
    const client: ClientHttp2Session = connect(`http://127.0.0.1:${sidecar.ports.outbound}`);
    client.on("error", () => {});
    try {
      const up = client.request({ ":method": "POST", ":path": "/upload", ":authority": "sc-b" });
      up.on("error", () => {});
      const chunk = Buffer.alloc(64 * 1024, 1);
      let accepted = 0;
      let waiting = false;
      const pump = (): void => {
        waiting = false;
        while (accepted < 64 * 1024 * 1024) {
          accepted += chunk.length;
          if (!up.write(chunk)) {
            waiting = true;
            up.once("drain", pump);
            return;
          }
        }
      };
      pump();
      // Stalled: waiting for a drain, and the count unchanged over 25 polls in a row.
      let last = -1;
      let still = 0;
      await until("the upload to stall", () => {
        still = waiting && accepted === last ? still + 1 : 0;
        last = accepted;
        return still >= 25;
      });
      // 64 MiB offered; the client's, the proxy's and the instance's windows and buffers hold
      // what was accepted.
      assert.ok(accepted < 4 * 1024 * 1024, `${accepted} bytes accepted while nothing was read`);
      // The instance reads again: everything arrives.
      const at = streams.get("/upload");
      assert.ok(at);
      let got = 0;
      at.on("data", (d: Buffer) => {
        got += d.length;
      });
      at.resume();
      const stalledAt = accepted;
      await until("more bytes to flow", () => accepted > stalledAt && got > 0);
      up.close();
    } finally {
      client.destroy();
    }
  });

  it("drain: the client gets GOAWAY, the stream in flight finishes", async () => {
    const client = connect(`http://127.0.0.1:${sidecar.ports.outbound}`);
    client.on("error", () => {});
    let goaway = false;
    client.on("goaway", () => {
      goaway = true;
    });
    const s = client.request({ ":method": "GET", ":path": "/long", ":authority": "sc-b" });
    let body = "";
    s.setEncoding("utf8");
    s.on("data", (d: string) => {
      body += d;
    });
    const ended = new Promise<void>((r) => s.on("end", () => r()));
    await until("the first bytes", () => body.length > 0);
    const drained = sidecar.drain();
    await until("GOAWAY", () => goaway);
    streams.get("/long")?.end("last");
    await ended;
    await drained;
    assert.equal(body, "first;last");
    client.destroy();
  });
});
