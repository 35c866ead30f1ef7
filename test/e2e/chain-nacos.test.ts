// The seed's chain with `--discovery nacos://…` in real processes: four instances registered as their apps would (tag in Nacos metadata), C gray only by its own sidecar's registration; a lost registry leaves the last set serving.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { chainOf, cpFixture, startCpMesh } from "../helpers/control-plane-procs.js";
import { FakeNacos } from "../helpers/nacos-server.js";
import { APP_KEYS, APPS, type Scenario, startScenario, until } from "../helpers/procs.js";

const GROUP = "MALL";

describe("the chain over Nacos discovery (real processes)", { timeout: 120_000 }, () => {
  let nacos: FakeNacos;
  let s: Scenario;

  before(async () => {
    nacos = await FakeNacos.start();
    s = await startScenario({
      discovery: `nacos://${nacos.addr}?group=${GROUP}`,
      beforeStart(ports) {
        // As Spring Cloud apps register themselves, with the tag in their metadata (MSE's key for
        // A gray: a migrating user's). The address is the sidecar's inbound listener, as an
        // instance reached through interception would be. C gray is left to its sidecar.
        for (const k of APP_KEYS) {
          if (k === "cg") continue;
          const a = APPS[k];
          nacos.putInstance(
            { group: GROUP, service: a.service },
            {
              ip: "127.0.0.1",
              port: ports[k].inbound,
              metadata: a.tag ? { "alicloud.service.tag": a.tag } : {},
            },
          );
        }
      },
    });
  });
  after(async () => {
    await s?.close();
    await nacos?.close();
  });

  it("the base chain, then the gray one once C gray's sidecar has registered itself", async () => {
    const base = await s.get("/a");
    assert.equal(base.status, 200, base.body);
    assert.match(base.body, /^A\[[^\]]+\]\[config=base\] -> B\[[^\]]+\] -> C\[[^\]]+\]$/m);
    const gray = await until(
      "gray chain reaches C gray",
      () => s.get("/a", { canary: "gray" }),
      (r) => r.body.includes("-> Cgray["),
    );
    assert.match(gray.body, /^Agray\[[^\]]+\]\[config=base\] -> B\[[^\]]+\] -> Cgray\[[^\]]+\]$/m);
    const cg = nacos
      .instances({ group: GROUP, service: "sc-c" })
      .find((i) => i.port === s.ports.cg.inbound);
    assert.ok(cg, "C gray's sidecar registered its inbound address");
    assert.equal(cg.metadata["lanemesh.io/tag"], "gray");
    assert.equal(cg.ephemeral, true);
  });

  it("the registry lost: every proxy keeps serving the last endpoint set", async () => {
    await nacos.stop();
    for (let i = 0; i < 10; i++) {
      const r = await s.get("/a", { canary: "gray" });
      assert.equal(r.status, 200, r.body);
      assert.match(r.body, / -> Cgray\[/);
    }
  });
});

describe("control-plane mode with Nacos discovery (real processes)", { timeout: 120_000 }, () => {
  it("rules from the control plane, endpoints from Nacos, every sidecar registered by itself", async (t) => {
    const nacos = await FakeNacos.start();
    // Closed even when the mesh fails to start: a listening fake would hold the process.
    t.after(() => nacos.close());
    const mesh = await startCpMesh({
      initial: [cpFixture("base.yaml"), cpFixture("gray-lane.yaml")],
      discovery: `nacos://${nacos.addr}?group=${GROUP}`,
    });
    try {
      // Nothing was put into Nacos by the test: each instance is there by its sidecar's hello.
      for (const k of APP_KEYS) {
        const a = APPS[k];
        const listed = await until(
          `${k} registered`,
          async () =>
            nacos
              .instances({ group: GROUP, service: a.service })
              .find((i) => i.port === mesh.ports[k].inbound),
          (i) => i !== undefined,
        );
        assert.equal(listed?.metadata["lanemesh.io/tag"], a.tag ?? undefined, k);
      }
      // Each proxy sees the registrations as Nacos pushes them (about 0.5 s): wait for both chains.
      await until(
        "the gray chain",
        () => mesh.get({ canary: "gray" }),
        (r) => chainOf(r.body) === "gray",
      );
      await until(
        "the base chain",
        () => mesh.get(),
        (r) => chainOf(r.body) === "base",
      );
      const ready = await mesh.ready("b");
      assert.equal(ready?.status, 200);
      assert.match(JSON.stringify(ready?.body), /"source":"nacos:\/\//);
    } finally {
      await mesh.close();
    }
  });
});
