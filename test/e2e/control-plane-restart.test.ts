// End-to-end tests of the control plane's lifetime on 127.0.0.1: store across restarts, registry grace, restored registrations.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { callServer } from "../../src/control-plane/api-client.js";
import { type ControlMessage, meshDefinition } from "../../src/protocol/wire.js";
import {
  docs,
  rawSidecar,
  type SubscribedProxy,
  startCp,
  subscribe,
} from "../helpers/control-plane.js";
import { mallRules, route, tempDir, when } from "../helpers/sync-fixtures.js";

test("the store survives a restart: same resources, a version at least as high", async (t) => {
  const dir = tempDir("cp-restart");
  const first = await startCp(dir.path);
  assert.ok((await callServer(first.url, "POST", "v1/resources", docs(mallRules()))).ok);
  assert.ok(
    (await callServer(first.url, "POST", "v1/resources", docs([route("b-route", "/b", "sc-b")])))
      .ok,
  );
  const lanesBefore = await callServer(first.url, "GET", "v1/resources/lanes");
  const routesBefore = await callServer(first.url, "GET", "v1/resources/routes");
  const version = first.controlPlane.version();
  await first.close();

  const second = await startCp(dir.path);
  const proxy = subscribe(second.grpcTarget, `${dir.path}/proxy-state.json`);
  t.after(async () => {
    await proxy.sub.close();
    await second.close();
    dir.remove();
  });
  assert.ok(second.controlPlane.version() >= version);
  assert.deepEqual(await callServer(second.url, "GET", "v1/resources/lanes"), lanesBefore);
  assert.deepEqual(await callServer(second.url, "GET", "v1/resources/routes"), routesBefore);
  await proxy.at(String(second.controlPlane.version()));
  assert.deepEqual(
    proxy.live.current()?.rules.routes.map((r) => r.metadata.name),
    ["a-route", "b-route"],
  );
});

test("registry: a sidecar's hello adds its instance; it leaves after the grace once the stream ends", async (t) => {
  const dir = tempDir("cp-registry");
  const graceSeconds = 0.3;
  const cp = await startCp(dir.path, graceSeconds);
  const observer = subscribe(cp.grpcTarget, `${dir.path}/observer.json`);
  const { Client } = meshDefinition();
  const client = new Client(cp.grpcTarget, grpc.credentials.createInsecure());
  t.after(async () => {
    client.close();
    await observer.sub.close();
    await cp.close();
    dir.remove();
  });
  const hasB = () =>
    observer.live.current()?.endpoints.some((e) => e.service === "sc-b" && e.port === 7777) ??
    false;

  const call = client.Stream();
  call.on("error", () => {});
  call.on("data", (m: ControlMessage) => {
    if (m.snapshot) call.write({ ack: { version: m.snapshot.version, nonce: m.snapshot.nonce } });
  });
  call.write({
    hello: {
      nodeId: "sc-b-1",
      role: "sidecar",
      app: "sc-b",
      tag: "gray",
      address: "127.0.0.1:7777",
    },
  });
  await when((cb) => observer.live.onChange(cb), hasB, "the observer to see sc-b");
  const b = observer.live.current()?.endpoints.find((e) => e.service === "sc-b");
  assert.equal(b?.tag, "gray");
  assert.equal(b?.address, "127.0.0.1");

  const listed = await callServer(cp.url, "GET", "v1/resources/instances");
  const items = listed.ok
    ? (listed.body as { items: { metadata: { name: string; labels?: Record<string, string> } }[] })
        .items
    : [];
  assert.deepEqual(
    items.map((i) => [i.metadata.name, i.metadata.labels?.["lanemesh.io/source"]]),
    [["sc-b-1", "registry"]],
  );

  const endedAt = Date.now();
  call.cancel();
  await when(
    (cb) => observer.live.onChange(cb),
    () => !hasB(),
    "sc-b to leave",
  );
  assert.ok(Date.now() - endedAt >= graceSeconds * 1000 - 20, "not before the grace");

  // A hello whose instance would poison every snapshot is refused.
  const badCall = client.Stream();
  const status = new Promise<grpc.StatusObject>((resolve) => badCall.on("status", resolve));
  badCall.on("error", () => {});
  badCall.on("data", () => {});
  badCall.write({
    hello: {
      nodeId: "bad",
      role: "sidecar",
      app: "sc-b",
      tag: "no spaces allowed",
      address: "127.0.0.1:7778",
    },
  });
  const st = await status;
  assert.equal(st.code, grpc.status.INVALID_ARGUMENT);
  assert.match(st.details, /spec\.tag/);
});

test("a restarted control plane serves the sidecars registered before, until they reconnect or the restore grace ends", async (t) => {
  const dir = tempDir("cp-restore");
  const { Client } = meshDefinition();
  const first = await startCp(dir.path);
  const c1 = new Client(first.grpcTarget, grpc.credentials.createInsecure());
  const observer1 = subscribe(first.grpcTarget, `${dir.path}/o1.json`);
  rawSidecar(c1, "b-1", 7001);
  rawSidecar(c1, "b-2", 7002);
  const ports = (o: SubscribedProxy) =>
    (o.live.current()?.endpoints ?? []).map((e) => e.port).sort((a, b) => a - b);
  await when(
    (cb) => observer1.live.onChange(cb),
    () => ports(observer1).length === 2,
    "both sidecars registered",
  );
  await observer1.sub.close();
  c1.close();
  await first.close();

  const second = await startCp(dir.path, 5, 0.3);
  const c2 = new Client(second.grpcTarget, grpc.credentials.createInsecure());
  const observer2 = subscribe(second.grpcTarget, `${dir.path}/o2.json`);
  t.after(async () => {
    c2.close();
    await observer2.sub.close();
    await second.close();
    dir.remove();
  });
  await when(
    (cb) => observer2.live.onChange(cb),
    () => observer2.live.ready(),
    "the first snapshot after restart",
  );
  assert.deepEqual(ports(observer2), [7001, 7002], "the first snapshot already has both endpoints");
  rawSidecar(c2, "b-1", 7001); // b-2 never comes back
  await when(
    (cb) => observer2.live.onChange(cb),
    () => ports(observer2).length === 1,
    "b-2 to leave after the restore grace",
  );
  assert.deepEqual(ports(observer2), [7001]);
});

test("a store file that cannot be read stops the control plane from starting instead of starting empty", async (t) => {
  const dir = tempDir("cp-corrupt");
  t.after(() => dir.remove());
  writeFileSync(join(dir.path, "resources.json"), '{"format": 1, "version": 3, "resou');
  await assert.rejects(startCp(dir.path), (err: Error & { code?: string }) => {
    assert.equal(err.code, "LANEMESH_STORE_UNREADABLE");
    assert.match(err.message, /resources\.json: not JSON/);
    return true;
  });
});
