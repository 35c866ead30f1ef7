// The pure parts of `lanemesh demo`: its plan (ports, flags), the example files it applies, the --check tally and the in-sync test.
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { describe, it } from "node:test";
import { loadFiles } from "../../src/config/load.js";
import {
  chainLane,
  emptyTally,
  formatTally,
  parseChain,
  record,
  tallyOk,
} from "../../src/demo/check.js";
import { demoHints } from "../../src/demo/orchestrator.js";
import { choosePorts, ephemeralRange } from "../../src/demo/ports.js";
import { EXAMPLES_DIR, loadScenario, MODE_FILES } from "../../src/demo/scenario.js";
import {
  assignPorts,
  consecutivePorts,
  DEMO_APPS,
  demoPlan,
  demoTokens,
  expectedInstances,
  RANGE_PORTS,
} from "../../src/demo/topology.js";
import { inSync, type MeshSync } from "../../src/demo/wait.js";

const BASE = "A[127.0.0.1:4001][config=base] -> B[127.0.0.1:4002] -> C[127.0.0.1:4003]";
const GRAY = "Agray[127.0.0.1:4011][config=base] -> B[127.0.0.1:4002] -> Cgray[127.0.0.1:4013]";

describe("demo --check: reading chains", () => {
  const cases: { what: string; body: string; hops: string[] | null }[] = [
    { what: "base chain", body: `${BASE}\n`, hops: ["A", "B", "C"] },
    { what: "gray chain", body: GRAY, hops: ["Agray", "B", "Cgray"] },
    { what: "one hop", body: "C[127.0.0.1:1]", hops: ["C"] },
    { what: "error text in the chain", body: "A[127.0.0.1:1] -> ERROR 503", hops: null },
    { what: "empty", body: "", hops: null },
    { what: "unknown app", body: "Z[127.0.0.1:1]", hops: null },
  ];
  for (const c of cases)
    it(c.what, () => {
      const hops = parseChain(c.body);
      assert.deepEqual(hops?.map((h) => `${h.app}${h.tag ?? ""}`) ?? null, c.hops);
    });

  const lanes: { what: string; body: string; lane: string | null; consistent: boolean }[] = [
    { what: "base everywhere", body: BASE, lane: null, consistent: true },
    { what: "gray, base B (B has no gray)", body: GRAY, lane: "gray", consistent: true },
    {
      what: "gray A but base C",
      body: "Agray[h:1] -> B[h:2] -> C[h:3]",
      lane: "gray",
      consistent: false,
    },
    {
      what: "base A but gray C (canary got base traffic)",
      body: "A[h:1] -> B[h:2] -> Cgray[h:3]",
      lane: null,
      consistent: false,
    },
  ];
  for (const c of lanes)
    it(`lane of a chain: ${c.what}`, () => {
      const hops = parseChain(c.body);
      assert.ok(hops);
      assert.deepEqual(chainLane(hops), { lane: c.lane, consistent: c.consistent });
    });
});

describe("demo --check: the tally", () => {
  it("counts lanes, hops, failures; prints shares like the seed's script", () => {
    const t = emptyTally();
    for (let i = 0; i < 7; i++) record(t, 200, BASE);
    for (let i = 0; i < 3; i++) record(t, 200, GRAY);
    assert.equal(tallyOk(t), true);
    const text = formatTally(t, { contentMode: false });
    assert.match(text, /^lane base: 70\.0 % \(7 of 10\)$/m);
    assert.match(text, /^lane gray: 30\.0 % \(3 of 10\)$/m);
    assert.match(text, /^hop 1: A 70\.0 % \(7\), Agray 30\.0 % \(3\)$/m);
    assert.match(text, /^hop 2: B 100\.0 % \(10\)$/m);
    assert.match(text, /^failed: 0 of 10$/m);

    record(t, 502, BASE);
    record(t, null, "");
    assert.equal(t.failed, 2);
    assert.equal(tallyOk(t), false);
  });

  it("content mode: a request in another lane than its header asked for is wrong", () => {
    const t = emptyTally();
    record(t, 200, GRAY, "gray");
    record(t, 200, BASE, null);
    assert.equal(tallyOk(t), true);
    record(t, 200, BASE, "gray");
    assert.equal(t.wrongLane, 1);
    assert.equal(tallyOk(t), false);
    assert.match(formatTally(t, { contentMode: true }), /another lane .*: 1$/m);
  });

  it("lists the gray lane even when nothing took it", () => {
    const t = emptyTally();
    record(t, 200, BASE);
    assert.match(formatTally(t, { contentMode: false }), /^lane gray: 0\.0 % \(0 of 1\)$/m);
  });
});

describe("demo plan", () => {
  const ports = assignPorts(
    { gateway: 8080, grpc: 15010, http: 15014 },
    consecutivePorts(20000) ?? [],
  );
  const plan = demoPlan(ports, { data: "/d", state: "/s", tokens: "/t" });

  it("--base-port: consecutive ports for the gateway's admin and the apps, all distinct, none past 65535", () => {
    assert.equal(consecutivePorts(65535), null);
    assert.equal(consecutivePorts(0), null);
    assert.equal(consecutivePorts(65535 - RANGE_PORTS + 1)?.length, RANGE_PORTS);
    const all = [
      ports.grpc,
      ports.http,
      ports.gateway,
      ports.gatewayAdmin,
      ...Object.values(ports.apps).flatMap((p) => [p.app, p.inbound, p.outbound, p.admin]),
    ];
    assert.equal(new Set(all).size, all.length);
    const range = all.filter((p) => ![8080, 15010, 15014].includes(p));
    assert.equal(Math.min(...range), 20000);
    assert.equal(Math.max(...range), 20000 + RANGE_PORTS - 1);
  });

  it("one process per role: control plane, 5 apps, gateway and 5 sidecars", () => {
    assert.equal(plan.apps.length, DEMO_APPS.length);
    assert.deepEqual(
      plan.proxies.map((p) => p.name),
      ["gateway", "sidecar-a", "sidecar-a-gray", "sidecar-b", "sidecar-c", "sidecar-c-gray"],
    );
    assert.deepEqual(plan.controlPlane.args.slice(0, 1), ["control-plane"]);
    assert.ok(plan.controlPlane.args.includes("/d"));
  });

  it("apps: A and A gray show [config=base], call the next app through their sidecar, forward only traceparent", () => {
    const arg = (args: string[], flag: string) => args[args.indexOf(flag) + 1];
    const a = plan.apps.find((p) => p.name === "app-a-gray")?.args ?? [];
    assert.equal(arg(a, "--name"), "A");
    assert.equal(arg(a, "--tag"), "gray");
    assert.equal(arg(a, "--config-label"), "base");
    assert.equal(arg(a, "--next"), "http://sc-b/");
    assert.equal(arg(a, "--proxy"), `http://127.0.0.1:${ports.apps["a-gray"]?.outbound}`);
    assert.equal(arg(a, "--forward"), "traceparent");
    const c = plan.apps.find((p) => p.name === "app-c")?.args ?? [];
    assert.equal(c.includes("--next"), false);
    assert.equal(c.includes("--config-label"), false);
  });

  it("proxies: control-plane mode, loopback, the demo's state dir, short drain", () => {
    for (const p of plan.proxies) {
      const arg = (flag: string) => p.args[p.args.indexOf(flag) + 1];
      assert.equal(arg("--control-plane"), `127.0.0.1:${ports.grpc}`, p.name);
      assert.equal(arg("--bind"), "127.0.0.1", p.name);
      assert.equal(arg("--state-dir"), "/s", p.name);
      assert.equal(p.args.includes("--rules"), false, p.name);
      assert.equal(arg("--token-file"), `/t/${p.name}.token`, `${p.name}: its own credential`);
    }
    // One token per proxy, covering its own service (or the gateway) only.
    assert.deepEqual(
      demoTokens({ tokens: "/t" }).map(
        (t) => `${t.file} ${t.role} ${[...t.services, ...t.gateways]}`,
      ),
      [
        "/t/gateway.token gateway default",
        "/t/sidecar-a.token sidecar sc-a",
        "/t/sidecar-a-gray.token sidecar sc-a",
        "/t/sidecar-b.token sidecar sc-b",
        "/t/sidecar-c.token sidecar sc-c",
        "/t/sidecar-c-gray.token sidecar sc-c",
      ],
    );
    const sc = plan.proxies.find((p) => p.name === "sidecar-c-gray")?.args ?? [];
    assert.equal(sc[sc.indexOf("--app") + 1], "sc-c");
    assert.equal(sc[sc.indexOf("--tag") + 1], "gray");
    assert.equal(sc[sc.indexOf("--app-port") + 1], String(ports.apps["c-gray"]?.app));
    assert.deepEqual(expectedInstances(ports).slice(-1), [
      `sc-c|gray|127.0.0.1:${ports.apps["c-gray"]?.inbound}`,
    ]);
  });

  const anyPorts = { grpc: { port: 0, given: true }, http: { port: 0, given: true }, base: null };

  it("refuses a busy gateway port before starting anything", async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", r));
    const port = (busy.address() as { port: number }).port;
    try {
      const r = await choosePorts({ ...anyPorts, gateway: port });
      assert.equal(r.ok, false);
      assert.match(r.ok ? "" : r.message, new RegExp(`port ${port} .*--port`));
      const grpc = await choosePorts({ ...anyPorts, gateway: 0, grpc: { port, given: true } });
      assert.match(grpc.ok ? "" : grpc.message, new RegExp(`port ${port} .*--grpc-port`));
    } finally {
      busy.close();
    }
    const free = await choosePorts({ ...anyPorts, gateway: 0 });
    assert.ok(free.ok);
    assert.deepEqual(free.notes, []);
  });

  it("a taken default control-plane port is replaced by a free one, with a note", async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", r));
    const port = (busy.address() as { port: number }).port;
    try {
      const r = await choosePorts({ ...anyPorts, gateway: 0, http: { port, given: false } });
      assert.ok(r.ok, r.ok ? "" : r.message);
      assert.notEqual(r.ports.http, port);
      assert.deepEqual(r.notes, [
        `the control plane's default HTTP port ${port} is taken (EADDRINUSE): using ${r.ports.http} instead`,
      ]);
    } finally {
      busy.close();
    }
  });

  it("refuses --base-port inside the ephemeral range, past 65535, or over a given port; and equal ports", async () => {
    const eph = ephemeralRange();
    const inside = await choosePorts({ ...anyPorts, gateway: 0, base: eph.first + 10 });
    assert.match(
      inside.ok ? "" : inside.message,
      new RegExp(
        `^error: --base-port ${eph.first + 10}: .*inside the kernel's ephemeral port range ${eph.first}\\.\\.${eph.last} .*EADDRINUSE.*--base-port 20000$`,
      ),
    );
    const straddling = await choosePorts({ ...anyPorts, gateway: 0, base: eph.first - 5 });
    assert.equal(straddling.ok, false);
    const high = await choosePorts({ ...anyPorts, gateway: 0, base: 65530 });
    assert.match(high.ok ? "" : high.message, /needs 21 ports .*up to 65535/);
    const overlap = await choosePorts({ ...anyPorts, gateway: 20005, base: 20000 });
    assert.match(
      overlap.ok ? "" : overlap.message,
      /--port 20005 falls in --base-port's range 20000\.\.20020/,
    );
    const same = await choosePorts({
      gateway: 0,
      grpc: { port: 20001, given: true },
      http: { port: 20001, given: true },
      base: null,
    });
    assert.match(same.ok ? "" : same.message, /--grpc-port and --http-port are both 20001/);
  });
});

describe("examples", () => {
  it("each mode's files validate together, and so does the closed lane", () => {
    for (const files of [
      MODE_FILES.content,
      MODE_FILES.ratio,
      ["mall-routes.yaml", "mall-gray-closed.yaml"],
    ]) {
      const r = loadFiles(files.map((f) => `${EXAMPLES_DIR}${f}`));
      assert.ok(r.ok, `${files.join(" + ")}: ${r.ok ? "" : JSON.stringify(r.errors)}`);
      assert.equal(r.rules.routes.length, 1);
      assert.equal(r.rules.lanes.length, 1);
    }
  });

  it("--weight sets the ratio lane's weight; content mode is applied as written", () => {
    const lane = (mode: "content" | "ratio", weight: number | null) => {
      const r = loadScenario(mode, weight);
      assert.ok(r.ok, r.ok ? "" : r.message);
      const doc = r.docs.find((d) => (d.value as { kind: string }).kind === "Lane");
      assert.ok(doc);
      return (doc.value as { spec: Record<string, unknown> }).spec;
    };
    assert.equal(lane("ratio", null).weight, 30);
    assert.equal(lane("ratio", 55).weight, 55);
    assert.equal(lane("content", 55).weight, undefined);
    assert.deepEqual(lane("content", null).apps, ["sc-a", "sc-c"]);
  });
});

describe("in sync", () => {
  const want = { sidecars: 5, gateways: 1, minVersion: 1 };
  const ok: MeshSync = { version: "3", missing: [], sidecars: 5, gateways: 1, acked: 6 };
  const cases: { what: string; s: MeshSync; in: boolean }[] = [
    { what: "all ACKed the served version", s: ok, in: true },
    { what: "one proxy behind", s: { ...ok, acked: 5 }, in: false },
    { what: "an instance not registered yet", s: { ...ok, missing: ["sc-b||x:1"] }, in: false },
    { what: "gateway not connected", s: { ...ok, gateways: 0, acked: 5 }, in: false },
    { what: "older than the apply", s: { ...ok, version: "0" }, in: false },
    { what: "control plane not answering", s: { ...ok, version: null }, in: false },
  ];
  for (const c of cases) it(c.what, () => assert.equal(inSync(c.s, want), c.in));
});

describe("the demo's hints", () => {
  const ports = assignPorts(
    { gateway: 8080, grpc: 15010, http: 15014 },
    consecutivePorts(20000) ?? [],
  );

  it("content mode: the canary header, closing and reopening the lane, no --server with a context", () => {
    const hints = demoHints({ mode: "content", weight: null }, ports, "");
    assert.match(hints, /^ {2}curl -H 'canary: gray' http:\/\/127\.0\.0\.1:8080\/a$/m);
    assert.match(
      hints,
      /^ {2}lanemesh apply -f \S*mall-gray-closed\.yaml {3}# close the gray lane$/m,
    );
    assert.doesNotMatch(hints, /--server/);
  });

  it("ratio mode: no canary header (it does nothing there), draws on each side of the weight", () => {
    const hints = demoHints(
      { mode: "ratio", weight: 40 },
      ports,
      " --server http://127.0.0.1:15014",
    );
    assert.doesNotMatch(hints, /canary/);
    assert.match(
      hints,
      /^ {2}lanemesh explain --server http:\/\/127\.0\.0\.1:15014 --draw 0\.2 \/a {3}# a draw under the weight: gray$/m,
    );
    assert.match(hints, /--draw 0\.7 \/a {3}# over it: base$/m);
    assert.match(hints, /about 40 % of the answers take the gray lane/);
  });
});
