// `lanemesh explain --server`: the live config of a running control plane gives the same answer as the same resources offline, and follows an apply.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type RunningControlPlane, startControlPlane } from "../../src/control-plane/start.js";
import { REPO, runCli } from "../helpers/procs.js";
import { silentLog, tempDir } from "../helpers/sync-fixtures.js";

const ex = (f: string): string => `${REPO}examples/${f}`;
const ENDPOINTS = `${REPO}test/fixtures/cli/endpoints.yaml`;
const OFFLINE = [
  "-f",
  ex("mall-routes.yaml"),
  "-f",
  ex("mall-content.yaml"),
  "--endpoints",
  ENDPOINTS,
];

describe("explain --server (live config)", () => {
  let cp: RunningControlPlane;
  let dir: { path: string; remove: () => void };

  before(async () => {
    dir = tempDir("explain-live");
    cp = await startControlPlane({
      dataDir: dir.path,
      bind: "127.0.0.1",
      grpcPort: 0,
      httpPort: 0,
      log: silentLog,
    });
    const r = await runCli([
      "apply",
      "--server",
      cp.url,
      "--token",
      cp.adminToken,
      "-f",
      ex("mall-routes.yaml"),
      "-f",
      ex("mall-content.yaml"),
      "-f",
      ENDPOINTS,
    ]);
    assert.equal(r.code, 0, r.stderr);
  });

  after(async () => {
    await cp?.close();
    dir?.remove();
  });

  const requests: { what: string; args: string[] }[] = [
    { what: "base request", args: ["/a"] },
    { what: "canary: gray", args: ["-H", "canary: gray", "/a"] },
    { what: "no route", args: ["/nope"] },
  ];
  for (const req of requests)
    for (const json of [true, false])
      it(`${req.what}${json ? " --json" : ""}: same output as the same files offline`, async () => {
        const extra = json ? ["--json"] : [];
        const [live, offline] = await Promise.all([
          runCli(["explain", "--server", cp.url, ...extra, ...req.args]),
          runCli(["explain", ...OFFLINE, ...extra, ...req.args]),
        ]);
        assert.equal(live.code, 0, live.stderr);
        assert.equal(offline.code, 0, offline.stderr);
        assert.equal(live.stdout, offline.stdout);
        if (req.what === "canary: gray" && json)
          assert.deepEqual(JSON.parse(live.stdout), {
            route: "a-route",
            group: "mall",
            lane: "gray",
            tag: "gray",
            closedLane: null,
            fallback: { "sc-b": "not-in-lane" },
            picks: { "sc-a": "10.0.0.2:8080", "sc-b": "10.0.0.3:8080", "sc-c": "10.0.0.5:8080" },
          });
      });

  it("LANEMESH_SERVER works too, and follows an apply (a closed lane)", async () => {
    const env = { LANEMESH_SERVER: cp.url, LANEMESH_API_TOKEN: cp.adminToken };
    const before = await runCli(["explain", "--json", "-H", "canary: gray", "/a"], env);
    assert.equal(JSON.parse(before.stdout).tag, "gray", before.stderr);
    const closed = await runCli(["apply", "-f", ex("mall-gray-closed.yaml")], env);
    assert.equal(closed.code, 0, closed.stderr);
    const afterClose = await runCli(["explain", "--json", "-H", "canary: gray", "/a"], env);
    const j = JSON.parse(afterClose.stdout);
    assert.equal(j.tag, null);
    assert.equal(j.picks["sc-c"], "10.0.0.4:8080");
    const reopened = await runCli(["apply", "-f", ex("mall-content.yaml")], env);
    assert.equal(reopened.code, 0, reopened.stderr);
  });

  it("-f files win over LANEMESH_SERVER from the environment; both as flags is an error", async () => {
    const ratio = ["-f", ex("mall-routes.yaml"), "-f", ex("mall-ratio.yaml"), "--draw", "0.1"];
    const files = await runCli(["explain", ...ratio, "--json", "/a"], {
      LANEMESH_SERVER: "http://127.0.0.1:1",
    });
    assert.equal(files.code, 0, files.stderr);
    assert.equal(JSON.parse(files.stdout).group, "mall");
    const both = await runCli(["explain", ...ratio, "--server", cp.url, "/a"]);
    assert.equal(both.code, 1);
    assert.match(both.stderr, /not both/);
  });

  it("an unreachable server: one line naming it, exit 1", async () => {
    const r = await runCli(["explain", "--server", "http://127.0.0.1:1", "/a"]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /cannot reach the control plane at http:\/\/127\.0\.0\.1:1/);
  });
});
