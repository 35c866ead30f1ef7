// Versions never go backwards for a proxy, over real gRPC on 127.0.0.1: a control plane with another (empty) store or an older copy of the same store is refused with a log line and a metric, shown as diverged or refused, and `lanemesh adopt` hands proxies over on purpose.
import assert from "node:assert/strict";
import { copyFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { admin, docs, startCp, subscribe } from "../helpers/control-plane.js";
import { runCli } from "../helpers/procs.js";
import { captureLog, mallRules, route, tempDir, when } from "../helpers/sync-fixtures.js";

const counter = async (
  p: { metrics: { registry: { metrics(): Promise<string> } } },
  reason: string,
) =>
  Number(
    new RegExp(`^lanemesh_config_out_of_order_total\\{reason="${reason}"\\} (\\d+)$`, "m").exec(
      await p.metrics.registry.metrics(),
    )?.[1] ?? 0,
  );

test("a control plane with another, empty store meets a proxy at version 2: refused (diverged), logged on both sides, shown by get proxies; `lanemesh adopt` hands it over", async (t) => {
  const dir = tempDir("cp-diverged");
  const first = await startCp(join(dir.path, "one"));
  const stateFile = join(dir.path, "gw.json");
  const proxyLog = captureLog();
  const proxy = subscribe(first.grpcTarget, stateFile, "gw-1", first, { log: proxyLog.log });
  assert.ok((await admin(first, "POST", "v1/resources", docs(mallRules()))).ok);
  assert.ok((await admin(first, "POST", "v1/resources", docs([route("b", "/b", "sc-b")]))).ok);
  await proxy.at("2");
  const epochOne = first.controlPlane.current().epoch;
  const port = first.grpcPort;
  await first.close();
  await proxy.sub.close(); // its state file now holds version 2 of epoch one
  copyFileSync(stateFile, join(dir.path, "gw-restarted.json"));

  // The data dir is lost (or the control plane started elsewhere): a new, empty store.
  const cpLog = captureLog();
  const second = await startCp(join(dir.path, "two"), 1, 35, { grpcPort: port, log: cpLog.log });
  // The proxy restarts with its persisted config and meets it.
  const restarted = subscribe(
    second.grpcTarget,
    join(dir.path, "gw-restarted.json"),
    "gw-1",
    second,
    {
      log: proxyLog.log,
      bootTimeoutMs: 60_000,
    },
  );
  t.after(async () => {
    await restarted.sub.close();
    await second.close();
    dir.remove();
  });
  const refused = await proxyLog.seen(/comes from another store/);
  assert.equal(refused.level, 50, "an error line");
  await restarted.at("2"); // serving its persisted config (fail-static), not the empty one
  assert.deepEqual(
    restarted.live.current()?.rules.routes.map((r) => r.metadata.name),
    ["a-route", "b"],
  );
  assert.equal(await counter(restarted, "diverged"), 1);
  const warned = await cpLog.seen(/holds version 2 of another store/);
  assert.match(
    String(warned.msg),
    new RegExp(`epoch ${epochOne}.*EMPTY.*lanemesh adopt ${epochOne}`),
  );
  const cpi = second.controlPlane;
  await when(
    (cb) => cpi.onProxyChange(cb),
    () => cpi.proxies()[0]?.status === "diverged",
    "diverged",
  );
  const table = await runCli(["get", "proxies", "--server", second.url]);
  assert.match(table.stdout, /^gw-1\s+gateway\s+-\s+-\s+-\s+diverged\s+2\s+\S+\s+v0 DIVERGED: /m);

  // On purpose: this store replaces the other one.
  const adopted = await runCli([
    "adopt",
    epochOne,
    "--server",
    second.url,
    "--token",
    second.adminToken,
  ]);
  assert.equal(adopted.code, 0, adopted.stderr);
  assert.match(adopted.stdout, new RegExp(`adopts ${epochOne}`));
  await restarted.at("1");
  assert.deepEqual(restarted.live.current()?.rules.routes, []);
  await when(
    (cb) => cpi.onProxyChange(cb),
    () => cpi.proxies()[0]?.status === "in-sync",
    "in sync",
  );
});

test("a store restored from an older copy: a lower version of the same epoch is refused (downgrade) with a log line, until a change passes it", async (t) => {
  const dir = tempDir("cp-downgrade");
  const data = join(dir.path, "data");
  const first = await startCp(data);
  const logs = captureLog();
  const proxy = subscribe(first.grpcTarget, join(dir.path, "gw.json"), "gw-1", first, {
    log: logs.log,
  });
  assert.ok((await admin(first, "POST", "v1/resources", docs(mallRules()))).ok);
  copyFileSync(join(data, "resources.json"), join(dir.path, "backup-v1.json"));
  assert.ok((await admin(first, "POST", "v1/resources", docs([route("b", "/b", "sc-b")]))).ok);
  assert.ok((await admin(first, "POST", "v1/resources", docs([route("c", "/c", "sc-c")]))).ok);
  await proxy.at("3");
  const port = first.grpcPort;
  await first.close();
  copyFileSync(join(dir.path, "backup-v1.json"), join(data, "resources.json"));

  const second = await startCp(data, 1, 35, { grpcPort: port });
  t.after(async () => {
    await proxy.sub.close();
    await second.close();
    dir.remove();
  });
  const line = await logs.seen(/older than version 3 in force/);
  assert.equal(line.level, 40, "a warning line");
  assert.equal(await counter(proxy, "downgrade"), 1);
  assert.equal(proxy.live.current()?.version, "3");
  const cpi = second.controlPlane;
  await when(
    (cb) => cpi.onProxyChange(cb),
    () => cpi.proxies()[0]?.lastNack?.code === "DOWNGRADE",
    "the NACK",
  );
  assert.equal(cpi.proxies()[0]?.status, "refused");
  // Changes on the restored store: version 2 is still behind (refused too), version 3 is taken.
  assert.ok((await admin(second, "POST", "v1/resources", docs([route("d", "/d", "sc-d")]))).ok);
  await when(
    (cb) => cpi.onProxyChange(cb),
    () => cpi.proxies()[0]?.lastNack?.version === "2",
    "version 2 refused",
  );
  assert.equal(await counter(proxy, "downgrade"), 2);
  assert.ok((await admin(second, "POST", "v1/resources", docs([route("e", "/e", "sc-e")]))).ok);
  await when(
    (cb) => proxy.live.onChange(cb),
    () => (proxy.live.current()?.rules.routes ?? []).some((r) => r.metadata.name === "e"),
    "version 3 of the restored store",
  );
  assert.equal(proxy.live.current()?.version, "3");
});
