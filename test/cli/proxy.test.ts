// `lanemesh sidecar` / `gateway` as processes: flags from the environment, refusals at start, SIGTERM → drain → exit 0.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { contentVersion } from "../../src/config/watch.js";
import { freePorts, ProcGroup, REPO, runCli, scenarioRules, waitReady } from "../helpers/procs.js";

const fixture = (name: string): string => join(REPO, "test/fixtures/cli", name);

describe("proxy commands", { timeout: 60_000 }, () => {
  let dir: string;
  let rules: string;
  const procs = new ProcGroup();
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "lanemesh-cli-proxy-"));
    rules = join(dir, "rules.yaml");
    writeFileSync(rules, scenarioRules());
  });
  after(async () => {
    await procs.killAll();
    rmSync(dir, { recursive: true, force: true });
  });

  it("sidecar: every flag from LANEMESH_* env; ready with the file rules; SIGTERM drains and exits 0", async () => {
    const [app, inbound, outbound, admin] = await freePorts(4);
    const p = procs.spawn("sidecar (env)", ["sidecar"], {
      LANEMESH_APP: "sc-b",
      LANEMESH_TAG: "gray",
      LANEMESH_APP_PORT: String(app),
      LANEMESH_BIND: "127.0.0.1",
      LANEMESH_INBOUND_PORT: String(inbound),
      LANEMESH_OUTBOUND_PORT: String(outbound),
      LANEMESH_ADMIN_PORT: String(admin),
      LANEMESH_RULES: rules,
      LANEMESH_DISCOVERY: `static:${fixture("endpoints.yaml")}`,
      LANEMESH_DRAIN_SECONDS: "1",
      LANEMESH_ACCESS_LOG: "false",
      LANEMESH_TRACE_CACHE_TTL: "30s",
    });
    await waitReady(p, admin as number);
    const config = await (await fetch(`http://127.0.0.1:${admin}/config`)).text();
    assert.ok(config.includes(contentVersion([readFileSync(rules)])), config);
    assert.ok(config.includes("sc-b"), config);
    const started = Date.now();
    assert.equal(await p.kill("SIGTERM"), 0, p.output());
    assert.ok(Date.now() - started < 5000);
  });

  it("gateway: flags win over env; SIGINT drains and exits 0", async () => {
    const [port, admin, wrong] = await freePorts(3);
    const p = procs.spawn(
      "gateway",
      [
        "gateway",
        "--bind",
        "127.0.0.1",
        "--port",
        String(port),
        "--admin-port",
        String(admin),
        "--rules",
        rules,
        "--discovery",
        `static:${fixture("endpoints.yaml")}`,
        "--drain-seconds",
        "1",
      ],
      { LANEMESH_ADMIN_PORT: String(wrong) },
    );
    await waitReady(p, admin as number);
    // The gateway answers (an unknown path → 404 from the routes, not a refused connection).
    const res = await fetch(`http://127.0.0.1:${port}/nowhere`);
    await res.arrayBuffer();
    assert.equal(res.status, 404);
    assert.equal(await p.kill("SIGINT"), 0, p.output());
  });

  it("refuses to start on invalid rules: the errors on stderr, exit 1", async () => {
    const r = await runCli([
      "sidecar",
      "--app",
      "sc-a",
      "--app-port",
      "1",
      "--bind",
      "127.0.0.1",
      "--rules",
      fixture("invalid.yaml"),
      "--discovery",
      `static:${fixture("endpoints.yaml")}`,
    ]);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(`${fixture("invalid.yaml")}: document`), r.stderr);
    assert.ok(r.stderr.includes("Lane/bad-op"), r.stderr);
  });

  it("refuses what is not valid: discovery specs, mixed sources, bad flag values", async () => {
    const base = ["--app", "sc-a", "--app-port", "1", "--bind", "127.0.0.1"];
    const [kube, mixed, rulesNoStatic, badPort, badTag, badDiscovery] = await Promise.all([
      runCli(["sidecar", ...base, "--rules", rules, "--discovery", "kubernetes?bogus=1"]),
      runCli([
        "gateway",
        "--rules",
        rules,
        "--control-plane",
        "127.0.0.1:1",
        "--discovery",
        `static:${fixture("endpoints.yaml")}`,
      ]),
      runCli(["gateway", "--rules", rules]),
      runCli(["sidecar", "--app", "sc-a", "--app-port", "http"]),
      runCli(["sidecar", ...base, "--tag", "gray,blue"]),
      runCli(["gateway", "--rules", rules, "--discovery", "dns:foo"]),
    ]);
    assert.equal(kube.code, 1);
    assert.match(kube.stderr, /--discovery: unknown parameter "bogus": expected namespace or port/);
    assert.equal(mixed.code, 1);
    assert.match(mixed.stderr, /either --rules FILE… \(file mode\) or --control-plane, not both/);
    assert.equal(rulesNoStatic.code, 1);
    assert.match(
      rulesNoStatic.stderr,
      /file mode \(--rules\) takes its endpoints from --discovery static:FILE, nacos:\/\/… or kubernetes/,
    );
    assert.equal(badPort.code, 1);
    assert.match(badPort.stderr, /--app-port/);
    assert.equal(badTag.code, 1);
    assert.match(badTag.stderr, /--tag/);
    assert.equal(badDiscovery.code, 1);
    assert.match(badDiscovery.stderr, /unknown --discovery/);
  });

  it("refuses bad outlier-detection values, naming the flag", async () => {
    const base = ["--app", "sc-a", "--app-port", "1", "--bind", "127.0.0.1"];
    const cases: [string, string, RegExp][] = [
      ["--outlier-consecutive-errors", "-1", /expected an integer >= 0/],
      ["--outlier-consecutive-errors", "2.5", /expected an integer >= 0/],
      ["--outlier-ejection-time", "0s", /expected a duration above zero/],
      ["--outlier-ejection-time", "soon", /expected a duration such as/],
      ["--outlier-max-ejection-percent", "150", /expected a percentage 0\.\.100/],
    ];
    const runs = await Promise.all(
      cases.map(([flag, value]) => runCli(["sidecar", ...base, flag, value])),
    );
    runs.forEach((r, i) => {
      const [flag, value, message] = cases[i] as [string, string, RegExp];
      assert.equal(r.code, 1, `${flag} ${value}`);
      assert.match(r.stderr, new RegExp(flag));
      assert.match(r.stderr, message);
    });
  });
});
