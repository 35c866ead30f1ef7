// The HTTP/2 forwarder's sessions to an instance: a GOAWAY loses no stream the instance did not process (each is sent again with its body on a new session), a peer's low concurrent-stream limit opens more sessions.
import assert from "node:assert/strict";
import {
  type ClientHttp2Session,
  connect,
  createServer,
  type Http2Server,
  type ServerHttp2Session,
} from "node:http2";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { LiveConfig } from "../../src/live/live-config.js";
import type { ProxyHandle } from "../../src/proxy/handle.js";
import { endpoint, loopbackSidecar } from "../helpers/mesh.js";

interface Upstream {
  server: Http2Server;
  port: number;
  sessions: ServerHttp2Session[];
  /** Streams answered, by session index. */
  answered: number[];
  maxOpen: number;
}

/** An h2c server echoing `<session>:<body>`; `first` decides what a session's first stream does. */
async function upstream(opts: { goawayFirst: boolean; maxStreams?: number }): Promise<Upstream> {
  const u: Upstream = {
    server: createServer({ settings: { maxConcurrentStreams: opts.maxStreams ?? 100 } }),
    port: 0,
    sessions: [],
    answered: [],
    maxOpen: 0,
  };
  const open = new Map<ServerHttp2Session, number>();
  let goaway = false;
  const held: (() => void)[] = [];
  u.server.on("session", (s) => {
    u.sessions.push(s);
    u.answered.push(0);
  });
  u.server.on("stream", (stream) => {
    const session = stream.session as ServerHttp2Session;
    const index = u.sessions.indexOf(session);
    const now = (open.get(session) ?? 0) + 1;
    open.set(session, now);
    u.maxOpen = Math.max(u.maxOpen, now);
    stream.on("close", () => open.set(session, (open.get(session) ?? 1) - 1));
    stream.on("error", () => {});
    if (opts.goawayFirst && index === 0 && !goaway) {
      goaway = true;
      // The instance goes away after this stream: later ones on this session are not processed.
      session.goaway(0, stream.id ?? 1);
    }
    let body = "";
    stream.on("data", (d: Buffer) => {
      body += d.toString();
    });
    const answer = (): void => {
      if (stream.destroyed) return; // refused by the GOAWAY: never processed
      u.answered[index] = (u.answered[index] ?? 0) + 1;
      stream.respond({ ":status": 200 });
      stream.end(`${index}:${body}`);
    };
    stream.on("end", () => {
      if (opts.goawayFirst) {
        setTimeout(answer, 20);
        return;
      }
      // Every stream is held until all 20 are open at once: the peer's limit must spread them.
      held.push(answer);
      if (held.length === 20) for (const a of held.splice(0)) a();
    });
  });
  await new Promise<void>((r) => u.server.listen(0, "127.0.0.1", r));
  u.port = (u.server.address() as AddressInfo).port;
  return u;
}

function post(
  session: ClientHttp2Session,
  body: string,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const s = session.request({ ":method": "POST", ":path": "/x", ":authority": "sc-b" });
    let text = "";
    let status = 0;
    s.on("response", (h) => {
      status = Number(h[":status"]);
    });
    s.on("data", (d: Buffer) => {
      text += d.toString();
    });
    s.on("end", () => resolve({ status, text }));
    s.on("error", reject);
    s.end(body);
  });
}

for (const kind of ["goaway", "max-streams"] as const) {
  describe(`the h2 forwarder's sessions: ${kind}`, { timeout: 60_000 }, () => {
    let up: Upstream;
    let sidecar: ProxyHandle;
    let client: ClientHttp2Session;
    const live = new LiveConfig({ gateway: "default" });

    before(async () => {
      up = await upstream(
        kind === "goaway" ? { goawayFirst: true } : { goawayFirst: false, maxStreams: 5 },
      );
      sidecar = await loopbackSidecar({ app: "sc-a", tag: null, appPort: 1, live });
      live.setAll({ routes: [], groups: [], lanes: [] }, [endpoint("sc-b", up.port)], "1");
      client = connect(`http://127.0.0.1:${sidecar.ports.outbound}`);
    });
    after(async () => {
      client?.close();
      await sidecar?.close();
      await new Promise<void>((r) => {
        for (const s of up.sessions) s.destroy();
        up.server.close(() => r());
      });
    });

    it("every request is answered once, with its own body", async () => {
      const answers = await Promise.all(
        Array.from({ length: 20 }, (_, i) => post(client, `body-${i}`)),
      );
      answers.forEach((a, i) => {
        assert.equal(a.status, 200, a.text);
        assert.match(a.text, new RegExp(`^\\d+:body-${i}$`));
      });
      assert.equal(
        up.answered.reduce((a, b) => a + b, 0),
        20,
      );
      if (kind === "goaway") {
        // The first session processed one stream; the refused ones went on a new session.
        assert.equal(up.answered[0], 1);
        assert.ok(up.sessions.length >= 2);
      } else {
        assert.ok(up.maxOpen <= 5, `${up.maxOpen} streams open at once on a session`);
        assert.ok(up.sessions.length >= 4, `${up.sessions.length} sessions for 20 streams`);
      }
    });
  });
}
