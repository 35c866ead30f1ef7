// `lanemesh status`: the table's columns side by side (lane tag, then base), a closed lane's reason, and --watch redrawing in place (clear and home) at its interval until Ctrl-C.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { CLEAR, formatStatus } from "../../src/cli/status.js";
import type { Side } from "../../src/control-plane/guard.js";
import type { StatusView } from "../../src/control-plane/status.js";
import { CLI, NO_CONTEXT } from "../helpers/procs.js";

const side = (
  rps: number,
  errorRate: number | null,
  p50: number | null,
  p99: number | null,
): Side => ({
  requests: Math.round(rps * 30),
  errors: 0,
  errorRate,
  rps,
  p50Ms: p50,
  p99Ms: p99,
  fallbacks: 0,
});

const VIEW: StatusView = {
  at: "2026-01-01T00:00:00.000Z",
  windowSeconds: 30,
  reporting: 7,
  groups: [
    {
      name: "mall",
      mode: "content",
      apps: ["sc-a", "sc-b"],
      edges: [],
      lanes: [
        {
          name: "gray",
          tag: "gray",
          enabled: false,
          mode: "content",
          match: { conditions: [{ type: "header", name: "canary", op: "==", value: "gray" }] },
          weight: null,
          weights: null,
          guard: {
            maxErrorRate: 0.05,
            maxP99Ms: null,
            minRequests: 20,
            window: "30s",
            windowMs: 30_000,
          },
          guardTrip: {
            closedAt: "2026-01-01T00:00:00.000Z",
            closedAtMs: 0,
            version: 9,
            app: "sc-a",
            reason: "sc-a: lane gray error rate 50.0% > maxErrorRate 5.0% (base 0.0%) over 30s",
            lane: side(1, 0.5, 2, 9),
            base: side(1, 0, 2, 9),
          },
          apps: [
            {
              app: "sc-a",
              inLane: true,
              instances: { gray: 1, base: 2 },
              lane: side(3.5, 0.5, 1.41, 45.3),
              base: side(12.25, 0, 1, 22.6),
            },
            {
              app: "sc-b",
              inLane: true,
              instances: { base: 1 },
              lane: side(0, null, null, null),
              base: side(12, 0, 2, 5),
            },
          ],
        },
      ],
    },
  ],
};

test("the table puts the lane's tag and base side by side, with the state and the guard's reason", () => {
  const out = formatStatus(VIEW);
  assert.match(out, /^window 30s, proxies reporting: 7$/m);
  assert.match(out, /^LANE gray \(tag gray\): CLOSED, content: header canary == gray$/m);
  assert.match(out, /guard: maxErrorRate 5\.0%, minRequests 20, window 30s/);
  assert.match(
    out,
    /CLOSED BY GUARD at 2026-01-01T00:00:00\.000Z \(version 9\): sc-a: lane gray error rate 50\.0%/,
  );
  assert.match(
    out,
    /APP\s+INSTANCES\s+REQ\/S gray\/base\s+ERRORS gray\/base\s+P50 ms\s+P99 ms\s+FALLBACKS/,
  );
  assert.match(
    out,
    /sc-a\s+base=2 gray=1\s+3\.50 \/ 12\.3\s+50\.0% \/ 0\.0%\s+1\.41 \/ 1\.00\s+45 \/ 23\s+0/,
  );
  assert.match(out, /sc-b\s+base=1\s+0 \/ 12\.0\s+- \/ 0\.0%\s+- \/ 2\.00\s+- \/ 5\.00\s+0/);
  assert.equal(formatStatus({ ...VIEW, groups: [] }), "No lane groups.\n");
});

test("--watch redraws in place at its interval until Ctrl-C", async () => {
  let served = 0;
  const server = createServer((req, res) => {
    served++;
    assert.equal(req.url, "/v1/status?group=mall");
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(VIEW));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const child = spawn(
    process.execPath,
    [CLI, "status", "--watch", "--interval", "500ms", "--group", "mall", "--server", url],
    { env: { ...process.env, LANEMESH_CONFIG: NO_CONTEXT }, stdio: ["ignore", "pipe", "pipe"] },
  );
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    out += d;
  });
  const deadline = Date.now() + 30_000;
  while (out.split(CLEAR).length < 4 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  child.kill("SIGINT");
  const code = await new Promise((r) => child.on("close", r));
  server.close();
  const frames = out.split(CLEAR).slice(1);
  assert.ok(frames.length >= 3, `three redraws: ${JSON.stringify(out.slice(0, 300))}`);
  for (const f of frames) assert.match(f, /^window 30s/);
  assert.ok(served >= 3);
  assert.equal(code, 0);
});
