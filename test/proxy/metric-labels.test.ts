// Bounded metric labels: tags a client chooses (tag header, baggage) become label values only when the config knows them (lanes' and instances' tags); every other tag is counted as `unknown`.
import assert from "node:assert/strict";
import { connect, createServer, type Socket } from "node:net";
import { after, before, describe, it } from "node:test";
import { LiveConfig } from "../../src/live/live-config.js";
import type { ProxyHandle } from "../../src/proxy/handle.js";
import { ProxyMetrics } from "../../src/telemetry/metrics.js";
import { listened, type Up } from "../helpers/forward.js";
import { endpoint, loopbackSidecar, seedRules } from "../helpers/mesh.js";

const TAGS = 50_000;
const CONNECTIONS = 8;
/** Requests written at once on each connection (HTTP/1.1 pipelining: the client costs little). */
const BATCH = 32;

/** A raw upstream answering every request head with a 1-byte 200. */
async function tinyUpstream(): Promise<Up> {
  const answer = "HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nB";
  const server = createServer((socket: Socket) => {
    let tail = "";
    socket.on("data", (d: Buffer) => {
      const text = tail + d.toString("latin1");
      const heads = text.split("\r\n\r\n");
      tail = heads.pop() ?? "";
      if (heads.length > 0) socket.write(answer.repeat(heads.length));
    });
    socket.on("error", () => {});
  });
  return listened(server, () => 0);
}

/** One keep-alive connection sending batches of pipelined GETs. */
class Pipeline {
  private text = "";
  private waiting = 0;
  private ok = 0;
  private done: ((ok: number) => void) | null = null;
  private constructor(private readonly socket: Socket) {
    socket.setEncoding("latin1");
    socket.on("data", (d: string) => this.read(d));
  }

  static open(port: number): Promise<Pipeline> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, "127.0.0.1", () => resolve(new Pipeline(socket)));
      socket.once("error", reject);
    });
  }

  /** Send one GET per tag at once; resolves with the 200s among the answers. */
  send(tags: string[]): Promise<number> {
    this.waiting = tags.length;
    this.ok = 0;
    const head = (t: string) => `GET / HTTP/1.1\r\nhost: sc-b\r\nx-lane-tag: ${t}\r\n\r\n`;
    this.socket.write(tags.map(head).join(""));
    return new Promise((resolve) => {
      this.done = resolve;
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private read(d: string): void {
    this.text += d;
    for (;;) {
      const at = this.text.indexOf("HTTP/1.1 ");
      const end = at === -1 ? -1 : this.text.indexOf("\r\n\r\n", at);
      if (end === -1) return;
      if (this.text.startsWith("HTTP/1.1 200", at)) this.ok++;
      this.text = this.text.slice(end + 4);
      if (--this.waiting === 0) this.done?.(this.ok);
    }
  }
}

/** The series of one metric in Prometheus text. */
function seriesOf(text: string, metric: string): string[] {
  return text
    .split("\n")
    .filter((l) => l.startsWith(`${metric}{`))
    .map((l) => l.slice(0, l.lastIndexOf(" ")));
}

describe("metric labels chosen by clients", { timeout: 120_000 }, () => {
  let b: Up;
  let sidecar: ProxyHandle;
  const metrics = new ProxyMetrics();

  before(async () => {
    b = await tinyUpstream();
    const live = new LiveConfig({ gateway: "default" });
    sidecar = await loopbackSidecar({ app: "sc-a", tag: null, appPort: 1, live, metrics });
    // sc-b has a base instance only: every tagged request falls back to base.
    live.setAll(seedRules(), [endpoint("sc-b", b.port)], "1");
  });
  after(async () => {
    await sidecar.close();
    await b.close();
  });

  it(`${TAGS} different client tags give a bounded set of series on /metrics`, async () => {
    const port = sidecar.ports.outbound as number;
    let next = 0;
    let ok = 0;
    const worker = async (): Promise<void> => {
      const line = await Pipeline.open(port);
      while (next < TAGS) {
        const tags: string[] = [];
        for (; tags.length < BATCH && next < TAGS; next++) {
          // One known tag (the lane's) among the client's inventions.
          tags.push(next % 1000 === 0 ? "gray" : `t${next}`);
        }
        const got = await line.send(tags);
        ok += got;
      }
      line.close();
    };
    const started = Date.now();
    await Promise.all(Array.from({ length: CONNECTIONS }, worker));
    assert.equal(ok, TAGS);
    const admin = sidecar.ports.admin as number;
    const text = await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text();
    const fallback = seriesOf(text, "lanemesh_fallback_total");
    assert.deepEqual(fallback.sort(), [
      'lanemesh_fallback_total{service="sc-b",tag="gray"}',
      'lanemesh_fallback_total{service="sc-b",tag="unknown"}',
    ]);
    for (const metric of ["lanemesh_requests_total", "lanemesh_request_duration_seconds_count"]) {
      const n = seriesOf(text, metric).length;
      assert.ok(n <= 4, `${metric}: ${n} series`);
    }
    assert.ok(text.length < 64 * 1024, `one scrape is ${text.length} bytes`);
    process.stderr.write(
      `# ${TAGS} requests in ${Date.now() - started} ms; /metrics ${text.length} bytes, ` +
        `fallback series ${fallback.length}\n`,
    );
  });
});
