// Snapshot size over real gRPC on 127.0.0.1: a config too large for proxies is refused at apply; 20,000 lanes (over grpc-js's 4 MiB default) reach a proxy; a proxy that cannot take a snapshot says so and `get proxies` shows it.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { encodedSnapshotSize } from "../../src/protocol/wire.js";
import { admin, docs, startCp, subscribe } from "../helpers/control-plane.js";
import { runCli } from "../helpers/procs.js";
import { captureLog, group, headerLane, route, tempDir, when } from "../helpers/sync-fixtures.js";

/** A route, a group and `n` header lanes of it. */
function manyLanes(n: number): unknown[] {
  const out = [route("a-route", "/a", "sc-a"), group("mall", ["a-route"], ["sc-a"])];
  for (let i = 0; i < n; i++) out.push(headerLane(`lane-${i}`, "mall", `t${i}`));
  return out;
}

test("a config whose snapshot would be over --max-snapshot-bytes is refused at apply (413, naming the size); nothing changes", async (t) => {
  const dir = tempDir("cp-size");
  const cp = await startCp(dir.path, 1, 35, { maxSnapshotBytes: 200_000 });
  t.after(async () => {
    await cp.close();
    dir.remove();
  });
  assert.ok((await admin(cp, "POST", "v1/resources", docs(manyLanes(10)))).ok);
  const version = cp.controlPlane.version();
  const r = await admin(cp, "POST", "v1/resources", docs(manyLanes(2000)));
  assert.equal(r.status, 413);
  assert.match(
    r.ok ? "" : r.message,
    /^error: nothing applied: the config would make a snapshot of 0\.\d MiB \(\d+ bytes\), over the 0\.2 MiB \(200000 bytes\) a proxy is sent \(--max-snapshot-bytes\) \(LANEMESH_SNAPSHOT_TOO_LARGE\)$/,
  );
  assert.equal(cp.controlPlane.version(), version);
  assert.equal(cp.controlPlane.list("lanes").length, 10);
  const size = Number(
    /^lanemesh_cp_snapshot_bytes (\d+)$/m.exec(
      await cp.controlPlane.metrics.registry.metrics(),
    )?.[1],
  );
  assert.equal(
    size,
    encodedSnapshotSize(cp.controlPlane.current()),
    "the gauge shows the size served",
  );
});

test("20,000 lanes, a snapshot over grpc-js's 4 MiB default, reach a subscribed proxy", {
  timeout: 120_000,
}, async (t) => {
  const dir = tempDir("cp-20k");
  const cp = await startCp(dir.path);
  const proxy = subscribe(cp.grpcTarget, join(dir.path, "state.json"), "gw-1", cp);
  t.after(async () => {
    await proxy.sub.close();
    await cp.close();
    dir.remove();
  });
  const all = manyLanes(20_000);
  // Three requests: at most 10,000 documents each.
  for (const part of [all.slice(0, 8000), all.slice(8000, 16_000), all.slice(16_000)]) {
    const r = await admin(cp, "POST", "v1/resources", docs(part));
    assert.ok(r.ok, r.ok ? "" : r.message);
  }
  const size = encodedSnapshotSize(cp.controlPlane.current());
  assert.ok(size > 4 * 1024 * 1024, `${size} bytes`);
  await proxy.at(String(cp.controlPlane.version()));
  assert.equal(proxy.live.current()?.rules.lanes.length, 20_000);
  t.diagnostic(`snapshot of ${(size / 1024 / 1024).toFixed(1)} MiB delivered and ACKed`);
});

test("a proxy that cannot take a snapshot (over its receive limit) reports it: `get proxies` shows the refusal, lanemesh_cp_nacks_total counts it, the stream stays up", async (t) => {
  const dir = tempDir("cp-exhausted");
  const cp = await startCp(dir.path);
  const logs = captureLog();
  const proxy = subscribe(cp.grpcTarget, join(dir.path, "state.json"), "small-gw", cp, {
    maxReceiveBytes: 50_000,
    log: logs.log,
  });
  t.after(async () => {
    await proxy.sub.close();
    await cp.close();
    dir.remove();
  });
  await proxy.at("0");
  const r = await admin(cp, "POST", "v1/resources", docs(manyLanes(400)));
  assert.ok(r.ok);
  const version = String(cp.controlPlane.version());
  const cpi = cp.controlPlane;
  await when(
    (cb) => cpi.onProxyChange(cb),
    () => cpi.proxies()[0]?.status === "refused",
    "the control plane to record the refusal",
  );
  const logged = await logs.seen(/snapshot refused: too large/);
  assert.match(String(logged.error), /RESOURCE_EXHAUSTED/);
  const [p] = cpi.proxies();
  assert.equal(p?.lastNack?.version, version);
  assert.equal(p?.lastNack?.code, "TOO_LARGE");
  assert.match(p?.lastNack?.error ?? "", /^RESOURCE_EXHAUSTED: .*larger than max/);
  assert.equal(p?.ackedVersion, "0", "it keeps its last good");
  assert.equal(proxy.live.current()?.version, "0");
  assert.match(await cpi.metrics.registry.metrics(), /^lanemesh_cp_nacks_total 1$/m);

  const get = await runCli(["get", "proxies", "--server", cp.url]);
  assert.equal(get.code, 0, get.stderr);
  assert.match(get.stdout, /STATUS/);
  assert.match(
    get.stdout,
    new RegExp(
      `^small-gw\\s+gateway\\s+-\\s+-\\s+-\\s+refused\\s+0\\s+\\S+\\s+v${version} TOO_LARGE: RESOURCE_EXHAUSTED`,
      "m",
    ),
  );
  // The same version is not pushed again: the proxy stays connected and listed.
  await new Promise((res) => setTimeout(res, 300));
  assert.equal(cpi.proxies().length, 1);
  assert.match(proxy.sub.status().detail.lastError ?? "", /larger than this proxy takes/);
});
