// Tests the proxy's subscription against a fake control plane on 127.0.0.1: NACK keeps the last good, reconnects, boots from the persisted snapshot.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { LiveConfig } from "../../src/live/live-config.js";
import { type Subscription, startSync } from "../../src/sync/client.js";
import type { Logger } from "../../src/telemetry/logger.js";
import { ProxyMetrics } from "../../src/telemetry/metrics.js";
import { freePorts } from "../helpers/procs.js";
import {
  captureLog,
  FakeControlPlane,
  instance,
  mallRules,
  regexLane,
  silentLog,
  snapshotOf,
  tempDir,
  when,
} from "../helpers/sync-fixtures.js";

interface SubscribedProxy {
  live: LiveConfig;
  metrics: ProxyMetrics;
  sub: Subscription;
  at(version: string): Promise<void>;
}

function subscribe(
  target: string,
  stateFile: string,
  bootTimeoutMs = 1500,
  log: Logger = silentLog,
): SubscribedProxy {
  const metrics = new ProxyMetrics();
  const live = new LiveConfig({ metrics });
  const sub = startSync({
    target,
    hello: {
      nodeId: "sc-a-1",
      role: "sidecar",
      app: "sc-a",
      tag: "gray",
      address: "127.0.0.1:15006",
    },
    live,
    metrics,
    stateFile,
    log,
    bootTimeoutMs,
    backoff: { initialMs: 50, maxMs: 200 },
  });
  const at = (version: string) =>
    when(
      (cb) => live.onChange(cb),
      () => live.current()?.version === version,
      `proxy at version ${version}`,
    );
  return { live, metrics, sub, at };
}

async function value(m: { get(): Promise<{ values: { value: number }[] }> }): Promise<number> {
  return (await m.get()).values[0]?.value ?? 0;
}

const GOOD = [...mallRules(), instance("a-base", "sc-a", 7001)];

test("a snapshot the proxy cannot accept is NACKed with its reason; the last good stays in force", async (t) => {
  const dir = tempDir("sync-nack");
  const cp = new FakeControlPlane();
  await cp.listen();
  cp.onHello = () => snapshotOf("1", "n1", GOOD);
  const proxy = subscribe(cp.target, join(dir.path, "state.json"));
  t.after(async () => {
    await proxy.sub.close();
    cp.stop();
    dir.remove();
  });
  const hello = await cp.hello();
  assert.deepEqual(
    [hello.nodeId, hello.role, hello.app, hello.tag, hello.address],
    ["sc-a-1", "sidecar", "sc-a", "gray", "127.0.0.1:15006"],
  );
  assert.deepEqual(await cp.answer("n1"), { kind: "ack", ack: { version: "1", nonce: "n1" } });
  await proxy.at("1");

  // A lane with a backtracking regex, pushed by a server that skips validation.
  cp.push(snapshotOf("2", "n2", [...GOOD, regexLane("evil", "mall", "evil", "^(a+)\\1$")]));
  const nack = await cp.answer("n2");
  assert.equal(nack.kind, "nack");
  assert.equal(nack.kind === "nack" && nack.nack.version, "1", "names the last good version");
  assert.match(
    nack.kind === "nack" ? nack.nack.error : "",
    /Lane\/evil.*unsafe regex: backreference/,
  );
  assert.equal(proxy.live.current()?.version, "1");
  assert.deepEqual(
    proxy.live.current()?.rules.lanes.map((l) => l.metadata.name),
    ["gray"],
  );
  assert.equal(await value(proxy.metrics.configRejected), 1);
  assert.match(proxy.sub.status().detail.lastError ?? "", /unsafe regex/);

  // Other ways a snapshot can be unacceptable, each counted.
  const broken = snapshotOf("3", "n3", GOOD);
  broken.lanes.push("{not json");
  cp.push(broken);
  assert.match((await cp.answer("n3")).kind === "nack" ? "nack" : "ack", /nack/);
  const misplaced = snapshotOf("4", "n4", GOOD);
  misplaced.routes.push(misplaced.endpoints[0] as string);
  cp.push(misplaced);
  const a4 = await cp.answer("n4");
  assert.match(
    a4.kind === "nack" ? a4.nack.error : "",
    /routes\[1\] is kind Instance, expected Route/,
  );
  assert.equal(await value(proxy.metrics.configRejected), 3);
  assert.equal(proxy.live.current()?.version, "1");

  // The next good snapshot is applied and ACKed again.
  cp.push(snapshotOf("5", "n5", GOOD.slice(0, 2)));
  assert.deepEqual(await cp.answer("n5"), { kind: "ack", ack: { version: "5", nonce: "n5" } });
  await proxy.at("5");
  assert.equal(proxy.sub.status().detail.lastError, null);
});

test("the proxy reconnects after the control plane restarts, serving its last good meanwhile", async (t) => {
  const dir = tempDir("sync-reconnect");
  const cp = new FakeControlPlane();
  const port = await cp.listen();
  let version = 1;
  cp.onHello = () => snapshotOf(String(version), `n${version}`, GOOD);
  const proxy = subscribe(cp.target, join(dir.path, "state.json"));
  t.after(async () => {
    await proxy.sub.close();
    cp.stop();
    dir.remove();
  });
  await proxy.at("1");
  assert.equal(await value(proxy.metrics.controlPlaneConnected), 1);

  cp.stop();
  version = 2;
  assert.equal(proxy.live.current()?.version, "1", "still serving while the control plane is away");
  await cp.listen(port);
  const hello = await cp.hello(2);
  assert.equal(hello.lastVersion, "1", "the hello says what the proxy serves");
  await proxy.at("2");
  assert.equal(await value(proxy.metrics.controlPlaneConnected), 1);
  assert.deepEqual(
    { ...proxy.sub.status().detail, lastError: null },
    {
      connected: true,
      version: "2",
      epoch: "e1",
      source: "control-plane",
      ageSeconds: 0,
      lastError: null,
    },
  );
});

test("at boot without a control plane, the proxy serves its persisted snapshot and keeps trying", async (t) => {
  const dir = tempDir("sync-persisted");
  const stateFile = join(dir.path, "state.json");
  const cp = new FakeControlPlane();
  await cp.listen();
  cp.onHello = () => snapshotOf("7", "n7", GOOD);
  const first = subscribe(cp.target, stateFile);
  await first.at("7");
  await first.sub.close(); // waits for the state file
  cp.stop();

  // Nothing listens on this port: the first attempt is refused at once.
  const [port] = await freePorts(1);
  const target = `127.0.0.1:${port}`;
  const second = subscribe(target, stateFile, 60_000);
  const later = new FakeControlPlane();
  t.after(async () => {
    await second.sub.close();
    later.stop();
    dir.remove();
  });
  await second.at("7");
  const st = second.sub.status();
  assert.equal(st.ready, true);
  assert.equal(st.detail.source, "persisted");
  assert.equal(st.detail.connected, false);
  assert.ok(
    (st.detail.ageSeconds ?? -1) >= 0 && (st.detail.ageSeconds ?? 99) < 60,
    `age ${st.detail.ageSeconds}`,
  );
  assert.match(st.detail.lastError ?? "", /UNAVAILABLE/);
  assert.deepEqual(
    second.live.current()?.rules.lanes.map((l) => l.metadata.name),
    ["gray"],
  );
  assert.equal(await value(second.metrics.controlPlaneConnected), 0);

  // The control plane comes up: the proxy connects and takes its snapshot.
  later.onHello = () => snapshotOf("8", "n8", GOOD);
  await later.listen(port as number);
  await second.at("8");
  assert.equal(second.sub.status().detail.source, "control-plane");
});

test("a control plane that accepts but never answers: the persisted snapshot is used after the boot timeout", async (t) => {
  const dir = tempDir("sync-silent");
  const stateFile = join(dir.path, "state.json");
  writeFileSync(
    stateFile,
    JSON.stringify({
      format: 1,
      confirmedAt: Date.now() - 90_000,
      ...snapshotOf("3", "", GOOD),
      nonce: undefined,
    }),
  );
  const silent = new FakeControlPlane();
  await silent.listen(); // no onHello: it never sends a snapshot
  const proxy = subscribe(silent.target, stateFile, 200);
  t.after(async () => {
    await proxy.sub.close();
    silent.stop();
    dir.remove();
  });
  await silent.hello();
  await proxy.at("3");
  const st = proxy.sub.status();
  assert.equal(st.detail.source, "persisted");
  assert.ok(
    (st.detail.ageSeconds ?? 0) >= 90,
    "the age counts from when it was last known current",
  );
  assert.ok((await value(proxy.metrics.configAge)) >= 90);
});

test("with no persisted snapshot and no control plane the proxy is not ready", async (t) => {
  const dir = tempDir("sync-none");
  const stateFile = join(dir.path, "state.json");
  writeFileSync(stateFile, "{ torn");
  const [port] = await freePorts(1);
  const logs = captureLog();
  const proxy = subscribe(`127.0.0.1:${port}`, stateFile, 60_000, logs.log);
  t.after(async () => {
    await proxy.sub.close();
    dir.remove();
  });
  const cp = new FakeControlPlane();
  const record = await logs.seen(/no persisted snapshot/);
  assert.match(String(record.detail), /not JSON|Unexpected|JSON/);
  assert.equal(proxy.sub.status().ready, false);
  assert.equal(proxy.live.ready(), false);
  cp.onHello = () => snapshotOf("1", "n1", GOOD);
  await cp.listen(port as number);
  t.after(() => cp.stop());
  await proxy.at("1");
  assert.equal(proxy.sub.status().ready, true);
});

test("endpoints: false takes only the rules and leaves endpoints to another discovery source", async (t) => {
  const dir = tempDir("sync-rules-only");
  const cp = new FakeControlPlane();
  await cp.listen();
  cp.onHello = () => snapshotOf("1", "n1", GOOD);
  const metrics = new ProxyMetrics();
  const live = new LiveConfig({ metrics });
  const staticEndpoint = {
    service: "sc-b",
    address: "10.0.0.9",
    port: 9,
    tag: null,
    weight: 100,
    healthy: true,
    metadata: {},
  };
  live.setEndpoints([staticEndpoint]);
  const sub = startSync({
    target: cp.target,
    hello: { nodeId: "gw", role: "gateway" },
    live,
    metrics,
    stateFile: join(dir.path, "state.json"),
    log: silentLog,
    endpoints: false,
  });
  t.after(async () => {
    await sub.close();
    cp.stop();
    dir.remove();
  });
  await when(
    (cb) => live.onChange(cb),
    () => live.current()?.version === "1",
    "version 1",
  );
  assert.deepEqual(live.current()?.endpoints, [staticEndpoint]);
  assert.deepEqual(
    live.current()?.rules.lanes.map((l) => l.metadata.name),
    ["gray"],
  );
});
