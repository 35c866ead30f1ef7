// Issue 3, must-show 7 with a real gateway process: SIGTERM during a slow request lets it finish, refuses new connections, and the process exits within --drain-seconds.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { freePorts, ProcGroup, waitReady } from "../helpers/procs.js";
import { send, TestUpstream } from "../helpers/upstream.js";

/** Resolves true when a TCP connection to the port is refused, false when it is accepted. */
function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(false);
    });
    s.once("error", (err: NodeJS.ErrnoException) => resolve(err.code === "ECONNREFUSED"));
  });
}

describe("gateway process drain on SIGTERM", { timeout: 60_000 }, () => {
  let dir: string;
  let upstream: TestUpstream;
  let release: () => void = () => {};
  const procs = new ProcGroup();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "lanemesh-drain-"));
    upstream = await TestUpstream.start("up", (req, _r, res) => {
      if (req.url === "/a/slow") {
        new Promise<void>((r) => {
          release = r;
        }).then(() => res.end("slow answer"));
        return;
      }
      if (req.url === "/a/never") return; // never answers: drain must give up on it
      res.end("quick");
    });
    writeFileSync(
      join(dir, "rules.yaml"),
      `apiVersion: lanemesh.io/v1alpha1
kind: Route
metadata: { name: a }
spec: { gateway: default, match: { prefix: /a }, service: sc-up }
`,
    );
    writeFileSync(
      join(dir, "endpoints.yaml"),
      `apiVersion: lanemesh.io/v1alpha1
kind: Instance
metadata: { name: up }
spec: { service: sc-up, address: 127.0.0.1, port: ${upstream.port} }
`,
    );
  });
  after(async () => {
    release();
    await procs.killAll();
    await upstream.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function gateway(drainSeconds: number) {
    const [port, admin] = (await freePorts(2)) as [number, number];
    const p = procs.spawn(`gateway (drain ${drainSeconds}s)`, [
      "gateway",
      "--bind",
      "127.0.0.1",
      "--port",
      String(port),
      "--admin-port",
      String(admin),
      "--rules",
      join(dir, "rules.yaml"),
      "--discovery",
      `static:${join(dir, "endpoints.yaml")}`,
      "--drain-seconds",
      String(drainSeconds),
    ]);
    await waitReady(p, admin);
    assert.equal((await send(port, { path: "/a/quick" })).body, "quick");
    return { p, port };
  }

  it("the slow request completes with Connection: close, new connections are refused, exit 0", async () => {
    const { p, port } = await gateway(10);
    const seen = upstream.received.length;
    const slow = send(port, { path: "/a/slow" });
    while (upstream.received.length === seen) await new Promise((r) => setTimeout(r, 10));
    p.child.kill("SIGTERM");
    // The listener closes at once; the in-flight request is still waiting on the upstream.
    let closed = false;
    for (let i = 0; i < 100 && !closed; i++) {
      closed = await refused(port);
      if (!closed) await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(closed, "new connections were still accepted after SIGTERM");
    assert.equal(p.hasExited(), false, "exited before the in-flight request finished");
    const sigtermAt = Date.now();
    release();
    const r = await slow;
    assert.equal(r.status, 200);
    assert.equal(r.body, "slow answer");
    assert.equal(r.headers.connection, "close");
    assert.equal(await p.exited, 0, p.output());
    assert.ok(Date.now() - sigtermAt < 10_000, "exit took longer than the drain time");
  });

  it("a request that never finishes does not hold the process past --drain-seconds", async () => {
    const { p, port } = await gateway(1);
    const seen = upstream.received.length;
    const never = send(port, { path: "/a/never" }).then(
      (a) => `answered ${a.status}`,
      (err: Error) => `cut: ${err.message}`,
    );
    while (upstream.received.length === seen) await new Promise((r) => setTimeout(r, 10));
    const t0 = Date.now();
    p.child.kill("SIGTERM");
    assert.equal(await p.exited, 0, p.output());
    const took = Date.now() - t0;
    assert.ok(took >= 900 && took < 5000, `exited ${took} ms after SIGTERM with --drain-seconds 1`);
    assert.match(await never, /^cut: |^answered 5\d\d$/);
  });
});
