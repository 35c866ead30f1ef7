// End-to-end (issue 4, must-show 4): real processes keep serving with the control plane killed, re-sync when it returns, and a restarted proxy starts from its persisted snapshot.
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { test } from "node:test";
import {
  cpFixture,
  failures,
  type Load,
  pollFor,
  type Sample,
  startCpMesh,
  startLoad,
  waitSynced,
} from "../helpers/control-plane-procs.js";
import { APP_KEYS, sumMetric, waitReady } from "../helpers/procs.js";

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `detail.rules` of a proxy's /ready body: where its config comes from and how fresh it is. */
function rulesOf(body: Record<string, unknown> | undefined): Record<string, unknown> {
  return (body?.detail as { rules?: Record<string, unknown> } | undefined)?.rules ?? {};
}

/** Every request of the run: a 200 with the chain its lane asks for (the config never changes). */
function wrong(samples: readonly Sample[]): string[] {
  return samples
    .filter((s) => s.status !== 200 || s.chain !== (s.gray ? "gray" : "base"))
    .map((s) => `${s.gray ? "gray" : "base"} request: ${s.status} ${s.detail}`);
}

test("control plane killed under load, restarted, killed again; a proxy restarted meanwhile starts from its persisted snapshot", {
  timeout: 180_000,
}, async (t) => {
  const mesh = await startCpMesh({
    initial: [cpFixture("base.yaml"), cpFixture("gray-lane.yaml")],
  });
  let load: Load | undefined;
  t.after(async () => {
    try {
      await load?.stop();
    } finally {
      await mesh.close();
    }
  });
  const versionBefore = await mesh.latestVersion();
  assert.notEqual(versionBefore, null);

  // 1. Steady load, then SIGKILL the control plane and keep the load on for 2 s.
  load = startLoad(mesh.gatewayPort, 6, 20);
  const loadStart = performance.now();
  await wait(700);
  const killedAt = performance.now();
  const killedAtWall = Date.now();
  await mesh.killControlPlane();
  // The proxies notice, and stay ready on their last good config (fail-static).
  for (const k of ["gateway", ...APP_KEYS] as const) {
    const r = await pollFor(`${k} to see the control plane gone`, 5000, async () => {
      const got = await mesh.ready(k);
      return rulesOf(got?.body).connected === false ? got : undefined;
    });
    assert.equal(r?.status, 200, `${k} /ready while the control plane is dead`);
    assert.equal(rulesOf(r?.body).source, "control-plane");
  }
  await wait(2000 - (performance.now() - killedAt));
  // Requests of both kinds sent after the kill have been answered (waited for, not assumed: on a
  // loaded machine one request through three hops can take longer than the 2 s above).
  const sentWhileDead = (gray: boolean) =>
    load?.samples.some((s) => s.start >= killedAt && s.gray === gray) ? true : undefined;
  await pollFor(
    "gray and base requests answered while the control plane is dead",
    30_000,
    async () => sentWhileDead(true) && sentWhileDead(false),
  );
  const deadSamples = load.samples.filter((s) => s.start >= killedAt);

  // 2. Restart it on the same ports and data dir, under the same load: every proxy re-syncs.
  const restartedAt = performance.now();
  await mesh.startControlPlane();
  const listeningAt = performance.now();
  const version = await waitSynced(mesh, 35_000, 200);
  const syncedAt = performance.now();
  await load.stop();
  const { samples } = load;
  const listed = await mesh.proxies();
  assert.ok(listed);
  assert.deepEqual(
    listed.map((p) => `${p.role} ${p.app || "-"} ${p.tag || "base"} @${p.ackedVersion}`).sort(),
    [
      `gateway - base @${version}`,
      ...APP_KEYS.map((k) => `sidecar sc-${k[0]} ${k.length > 1 ? "gray" : "base"} @${version}`),
    ].sort(),
  );
  assert.ok(Number(version) >= Number(versionBefore), `version ${version} < ${versionBefore}`);

  const deadFor = restartedAt - killedAt;
  t.diagnostic(
    `${samples.length} requests over ${((syncedAt - loadStart) / 1000).toFixed(1)} s (${deadSamples.length} of them in the ${(deadFor / 1000).toFixed(1)} s the control plane was dead before its restart), ${failures(samples).length} failed`,
  );
  t.diagnostic(
    `re-sync: every proxy listed at version ${version} (was ${versionBefore}) ${((syncedAt - restartedAt) / 1000).toFixed(2)} s after the restart (${((syncedAt - listeningAt) / 1000).toFixed(2)} s after its HTTP API answered; control plane down ${(deadFor / 1000).toFixed(1)} s before that)`,
  );
  t.diagnostic(
    `reconnects after the kill, per proxy: ${listed
      .map(
        (p) =>
          `${p.app || p.role}${p.tag ? `/${p.tag}` : ""} ${((Date.parse(p.connectedSince) - killedAtWall) / 1000).toFixed(1)} s`,
      )
      .join(", ")}`,
  );
  const bad = wrong(samples);
  assert.deepEqual(bad.slice(0, 5), [], `${bad.length} bad responses\n${mesh.procs.dump()}`);

  // 3. Control plane down again; restart the C-gray sidecar (the gray hop's own proxy) and the B
  // sidecar (whose outbound must route gray to Cgray from its persisted lanes and endpoints) with
  // the same flags and state dir.
  await mesh.killControlPlane();
  const restarted = ["cg", "b"] as const;
  await Promise.all(restarted.map((k) => mesh.killSidecar(k)));
  const bootAt = performance.now();
  await Promise.all(
    restarted.map((k) => waitReady(mesh.startSidecar(k), mesh.ports[k].admin, 15_000)),
  );
  const readyMs = performance.now() - bootAt;
  for (const k of restarted) {
    const ready = await mesh.ready(k);
    assert.equal(ready?.status, 200);
    const rules = rulesOf(ready?.body);
    assert.equal(rules.source, "persisted", `${k}: ${JSON.stringify(ready?.body)}`);
    assert.equal(rules.version, version);
    assert.equal(rules.connected, false);
    assert.equal(typeof rules.ageSeconds, "number");
    t.diagnostic(
      `restarted ${k === "cg" ? "C-gray" : "B"} sidecar ready from its persisted snapshot (version ${rules.version}, ${Number(rules.ageSeconds).toFixed(1)} s old), both ready ${readyMs.toFixed(0)} ms after their start`,
    );
  }

  // Gray traffic reaches Cgray through the restarted sidecars; base traffic still avoids it.
  const cgray = `Cgray[127.0.0.1:${mesh.ports.cg.app}]`;
  const rounds = 10;
  for (let i = 0; i < rounds; i++) {
    const gray = await mesh.get({ canary: "gray" });
    assert.equal(gray.status, 200, gray.body);
    assert.match(
      gray.body,
      /^Agray\[[^\]]+\]\[config=base\] -> B\[[^\]]+\] -> Cgray\[[^\]]+\]\n?$/,
    );
    assert.ok(gray.body.includes(cgray), gray.body);
    const base = await mesh.get();
    assert.equal(base.status, 200, base.body);
    assert.match(base.body, /^A\[[^\]]+\]\[config=base\] -> B\[[^\]]+\] -> C\[[^\]]+\]\n?$/);
  }
  // The restarted sidecars served those requests themselves (their own counters since restart).
  const text = (k: "b" | "cg") =>
    fetch(`http://127.0.0.1:${mesh.ports[k].admin}/metrics`).then((r) => r.text());
  const [cgMetrics, bMetrics] = await Promise.all([text("cg"), text("b")]);
  const inbound = { direction: "inbound" };
  assert.equal(sumMetric(cgMetrics, "lanemesh_requests_total", inbound), rounds, cgMetrics);
  assert.equal(sumMetric(bMetrics, "lanemesh_requests_total", inbound), 2 * rounds, bMetrics);
  assert.equal(
    sumMetric(bMetrics, "lanemesh_requests_total", { direction: "outbound", tag: "gray" }),
    rounds,
    bMetrics,
  );
});
