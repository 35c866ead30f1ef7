// The seed's chain with `--discovery kubernetes` in real processes: every proxy follows EndpointSlices and Pods of a fake API server (real wire protocol, official client), tags from pod labels; a relabel moves the lane, a lost API server leaves the last set serving.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { FakeKubeApiServer, pod } from "../helpers/kube-api-server.js";
import { applySeedPods, seedPodName } from "../helpers/kube-seed.js";
import { type Scenario, startScenario, until } from "../helpers/procs.js";

const NS = "mall";
const podName = seedPodName;

describe("the chain over Kubernetes discovery (real processes)", { timeout: 120_000 }, () => {
  let api: FakeKubeApiServer;
  let dir: string;
  let s: Scenario;

  before(async () => {
    api = await FakeKubeApiServer.start();
    dir = mkdtempSync(join(tmpdir(), "lanemesh-kube-"));
    const kubeconfig = join(dir, "kubeconfig.yaml");
    writeFileSync(kubeconfig, api.kubeConfigYaml());
    s = await startScenario({
      discovery: `kubernetes?namespace=${NS}`,
      proxyEnv: { KUBECONFIG: kubeconfig },
      beforeStart(ports) {
        // One pod per instance, all on 127.0.0.1: the Service's port is the app's, and the
        // pod's lanemesh.io/inbound-port annotation makes peers dial its sidecar instead.
        applySeedPods(api, NS, ports);
      },
    });
  });
  after(async () => {
    await s?.close();
    await api?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("base and gray chains as in the README, tags from pod labels", async () => {
    const base = await s.get("/a");
    assert.equal(base.status, 200, base.body);
    assert.match(base.body, /^A\[[^\]]+\]\[config=base\] -> B\[[^\]]+\] -> C\[[^\]]+\]$/m);
    const gray = await s.get("/a", { canary: "gray" });
    assert.match(gray.body, /^Agray\[[^\]]+\]\[config=base\] -> B\[[^\]]+\] -> Cgray\[[^\]]+\]$/m);
    assert.ok(gray.body.includes(`Cgray[127.0.0.1:${s.ports.cg.app}]`), gray.body);
  });

  it("a relabelled pod moves the lane: C gray without its label takes base traffic, gray falls back", async () => {
    const cg = pod({
      namespace: NS,
      name: podName("cg"),
      ip: "127.0.0.1",
      annotations: { "lanemesh.io/inbound-port": String(s.ports.cg.inbound) },
    });
    api.apply("pods", cg);
    await until(
      "gray chain ends on base C",
      () => s.get("/a", { canary: "gray" }),
      (r) => /-> C\[/.test(r.body),
    );
    // Both C pods are base now: base traffic reaches the relabelled one too.
    const seen = new Set<string>();
    for (let i = 0; i < 20; i++)
      seen.add(/-> C(gray)?\[([^\]]+)\]/.exec((await s.get("/a")).body)?.[2] ?? "");
    assert.ok(seen.has(`127.0.0.1:${s.ports.cg.app}`), [...seen].join(", "));
  });

  it("the API server lost: every proxy keeps serving the last endpoint set", async () => {
    await api.stop();
    for (let i = 0; i < 10; i++) {
      const r = await s.get("/a", { canary: "gray" });
      assert.equal(r.status, 200, r.body);
      assert.match(r.body, /^Agray\[[^\]]+\]\[config=base\] -> B\[[^\]]+\] -> C/);
    }
  });
});
