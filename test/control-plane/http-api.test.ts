// End-to-end tests of the control plane's API over real HTTP and gRPC on 127.0.0.1: apply → subscribed proxy ACKs, refusals.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { callServer } from "../../src/control-plane/api-client.js";
import { startControlPlane } from "../../src/control-plane/start.js";
import { requestViewFromMaps } from "../../src/lane/rules/view.js";
import {
  type ControlMessage,
  meshDefinition,
  type SnapshotMessage,
} from "../../src/protocol/wire.js";
import { VirtualClock } from "../helpers/clock.js";
import { admin, bearer, docs, gauge, startCp, subscribe } from "../helpers/control-plane.js";
import {
  headerLane,
  instance,
  mallRules,
  route,
  silentLog,
  tempDir,
  when,
} from "../helpers/sync-fixtures.js";

test("apply: a subscribed proxy receives the snapshot and ACKs it; /v1/proxies shows the version", async (t) => {
  const dir = tempDir("cp-api");
  const cp = await startCp(dir.path);
  const proxy = subscribe(cp.grpcTarget, `${dir.path}/proxy-state.json`, "gw-1", cp);
  t.after(async () => {
    await proxy.sub.close();
    await cp.close();
    dir.remove();
  });
  await proxy.at("0");
  assert.equal(proxy.sub.status().ready, true, "an empty snapshot is a config too");

  const r = await admin(
    cp,
    "POST",
    "v1/resources",
    docs([...mallRules(), instance("a-base", "sc-a", 7001)]),
  );
  assert.ok(r.ok, r.ok ? "" : r.message);
  const body = r.body as {
    version: number;
    results: { kind: string; name: string; action: string }[];
  };
  assert.equal(body.version, 1);
  assert.deepEqual(
    body.results.map((x) => `${x.kind}/${x.name} ${x.action}`),
    [
      "Route/a-route created",
      "LaneGroup/mall created",
      "Lane/gray created",
      "Instance/a-base created",
    ],
  );

  await proxy.at("1");
  const c = proxy.live.current();
  assert.deepEqual(
    c?.rules.lanes.map((l) => l.metadata.name),
    ["gray"],
  );
  assert.deepEqual(
    c?.endpoints.map((e) => `${e.service}@${e.port}`),
    ["sc-a@7001"],
  );
  const decision = c?.matcher.match(
    requestViewFromMaps({ path: "/a/x", headers: { canary: "gray" } }),
  );
  assert.equal(decision?.tag, "gray", "the live matcher routes by the applied lane");

  const cpi = cp.controlPlane;
  await when(
    (cb) => cpi.onProxyChange(cb),
    () => cpi.proxies()[0]?.ackedVersion === "1",
    "the control plane to record the ACK",
  );
  const proxies = await callServer(cp.url, "GET", "v1/proxies");
  assert.ok(proxies.ok);
  const items = (
    proxies.body as {
      items: { nodeId: string; role: string; ackedVersion: string; lastNack: unknown }[];
    }
  ).items;
  assert.equal(items.length, 1);
  assert.equal(items[0]?.nodeId, "gw-1");
  assert.equal(items[0]?.role, "gateway");
  assert.equal(items[0]?.ackedVersion, "1");
  assert.equal(items[0]?.lastNack, null);

  assert.equal(await gauge(proxy.metrics.controlPlaneConnected), 1);
  assert.equal(await gauge(proxy.metrics.configVersion), 1);
  const st = proxy.sub.status();
  assert.deepEqual(
    { ...st.detail, lastError: null },
    {
      connected: true,
      version: "1",
      epoch: cp.controlPlane.current().epoch,
      source: "control-plane",
      ageSeconds: 0,
      lastError: null,
    },
  );

  // The same batch again changes nothing and bumps no version.
  const again = await admin(
    cp,
    "PUT",
    "v1/resources",
    docs([...mallRules(), instance("a-base", "sc-a", 7001)]),
  );
  assert.ok(again.ok);
  assert.equal((again.body as { version: number }).version, 1);
  assert.ok(
    (again.body as { results: { action: string }[] }).results.every(
      (x) => x.action === "unchanged",
    ),
  );

  // Closing the lane reaches the proxy too.
  const closed = await admin(
    cp,
    "POST",
    "v1/resources",
    docs([headerLane("gray", "mall", "gray", false)]),
  );
  assert.ok(closed.ok);
  assert.deepEqual((closed.body as { results: unknown }).results, [
    { kind: "Lane", name: "gray", action: "configured" },
  ]);
  await proxy.at("2");
  assert.equal(proxy.live.current()?.rules.lanes[0]?.spec.enabled, false);

  const metrics = await fetch(`${cp.url}/metrics`).then((res) => res.text());
  assert.match(metrics, /^lanemesh_cp_connected_proxies 1$/m);
  assert.match(metrics, /^lanemesh_cp_pushes_total [3-9]$/m);
  assert.match(metrics, /^lanemesh_cp_push_duration_seconds_count [3-9]$/m);
  assert.match(metrics, /^lanemesh_cp_nacks_total 0$/m);
});

test("a bad batch is refused with 422 and changes nothing; deletes that break the set are refused", async (t) => {
  const dir = tempDir("cp-refuse");
  const cp = await startCp(dir.path);
  t.after(async () => {
    await cp.close();
    dir.remove();
  });
  assert.ok((await admin(cp, "POST", "v1/resources", docs(mallRules()))).ok);
  const before = await callServer(cp.url, "GET", "v1/resources/routes");
  const snapshotBefore = cp.controlPlane.current();

  const bad = await admin(
    cp,
    "POST",
    "v1/resources",
    docs([route("b-route", "/b", "sc-b"), headerLane("blue", "no-such-group", "blue")], "bad.yaml"),
  );
  assert.equal(bad.ok, false);
  assert.equal(bad.status, 422);
  assert.match(
    bad.ok ? "" : bad.message,
    /^bad\.yaml: document 2 \(Lane\/blue\): spec\.group: .*no-such-group/m,
  );
  assert.equal(cp.controlPlane.version(), 1);
  assert.deepEqual(
    await callServer(cp.url, "GET", "v1/resources/routes"),
    before,
    "b-route was not applied",
  );
  assert.equal(cp.controlPlane.current(), snapshotBefore, "no new snapshot");

  // YAML bodies are parsed server side; syntax errors are 422 with the file name given.
  const yaml = await fetch(`${cp.url}/v1/resources?file=x.yaml`, {
    method: "POST",
    headers: { "content-type": "application/yaml", authorization: `Bearer ${cp.adminToken}` },
    body: "kind: Route\nmetadata: {name: [\n",
  });
  assert.equal(yaml.status, 422);
  const yamlErrors = (await yaml.json()) as { errors: { file: string }[] };
  assert.equal(yamlErrors.errors[0]?.file, "x.yaml");

  const del = await admin(cp, "DELETE", "v1/resources/lanegroups/mall");
  assert.equal(del.status, 422);
  assert.match(del.ok ? "" : del.message, /Lane\/gray\): spec\.group/);
  assert.equal(
    (await callServer(cp.url, "GET", "v1/resources/lanegroups/mall")).ok,
    true,
    "still there",
  );

  const missing = await admin(cp, "DELETE", "v1/resources/lanes/nope");
  assert.equal(missing.status, 404);
  assert.match(missing.ok ? "" : missing.message, /LANEMESH_NOT_FOUND/);
  assert.equal((await callServer(cp.url, "GET", "v1/resources/gateways")).status, 404);

  const ok = await admin(cp, "DELETE", "v1/resources/lanes/gray");
  assert.ok(ok.ok);
  assert.equal(cp.controlPlane.version(), 2);
  const lanes = await callServer(cp.url, "GET", "v1/resources/lanes");
  assert.deepEqual((lanes.ok && (lanes.body as { items: unknown[] }).items) || null, []);
});

test("pushes are coalesced per stream: one in flight, then only the latest version", async (t) => {
  const dir = tempDir("cp-coalesce");
  const clock = new VirtualClock();
  const cp = await startControlPlane({
    dataDir: dir.path,
    grpcPort: 0,
    httpPort: 0,
    clock,
    log: silentLog,
  });
  const { Client } = meshDefinition();
  const client = new Client(cp.grpcTarget, grpc.credentials.createInsecure());
  t.after(async () => {
    client.close();
    await cp.close();
    dir.remove();
  });
  const received: SnapshotMessage[] = [];
  let wake = () => {};
  const call = client.Stream(
    bearer(
      cp.controlPlane.issueToken({
        role: "gateway",
        services: [],
        gateways: ["default"],
        ttlSeconds: 60,
      }).token,
    ),
  );
  call.on("error", () => {});
  call.on("data", (m: ControlMessage) => {
    if (m.snapshot) received.push(m.snapshot);
    wake();
  });
  const nth = (n: number) =>
    new Promise<void>((resolve) => {
      const check = (): void => {
        if (received.length >= n) resolve();
        else wake = check;
      };
      check();
    });
  call.write({ hello: { nodeId: "slow", role: "gateway", gateway: "default" } });
  await nth(1);
  assert.equal(received[0]?.version, "0", "the snapshot right after the hello");

  // Three changes while the first push is unanswered.
  const rules = mallRules();
  for (const doc of rules) assert.ok((await admin(cp, "POST", "v1/resources", docs([doc]))).ok);
  clock.advance(5000); // past the debounce: the push is offered but must wait for the answer
  const pushes = async () =>
    Number(
      /^lanemesh_cp_pushes_total (\d+)$/m.exec(
        await cp.controlPlane.metrics.registry.metrics(),
      )?.[1],
    );
  assert.equal(await pushes(), 1, "nothing sent while one push is in flight");

  const first = received[0] as SnapshotMessage;
  call.write({ ack: { version: first.version, nonce: first.nonce } });
  await nth(2);
  assert.equal(received[1]?.version, "3", "versions 1 and 2 were coalesced away");
  assert.equal(received[1]?.lanes.length, 1);
  assert.equal(await pushes(), 2);
});
