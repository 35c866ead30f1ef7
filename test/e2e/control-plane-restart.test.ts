// End-to-end tests of the control plane's lifetime on 127.0.0.1: store across restarts, registrations leaving with their stream, restored registrations.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { callServer } from "../../src/control-plane/api-client.js";
import { type ControlMessage, meshDefinition } from "../../src/protocol/wire.js";
import {
  admin,
  bearer,
  docs,
  proxyToken,
  rawSidecar,
  type SubscribedProxy,
  startCp,
  statusOf,
  subscribe,
} from "../helpers/control-plane.js";
import { mallRules, route, tempDir, when } from "../helpers/sync-fixtures.js";

test("the store survives a restart: same resources, a version at least as high", async (t) => {
  const dir = tempDir("cp-restart");
  const first = await startCp(dir.path);
  assert.ok((await admin(first, "POST", "v1/resources", docs(mallRules()))).ok);
  assert.ok(
    (await admin(first, "POST", "v1/resources", docs([route("b-route", "/b", "sc-b")]))).ok,
  );
  const lanesBefore = await callServer(first.url, "GET", "v1/resources/lanes");
  const routesBefore = await callServer(first.url, "GET", "v1/resources/routes");
  const version = first.controlPlane.version();
  await first.close();

  const second = await startCp(dir.path);
  const proxy = subscribe(second.grpcTarget, `${dir.path}/proxy-state.json`, "gw-1", second);
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

test("registry: a sidecar's hello adds its instance; a stream that ends takes it within a second", async (t) => {
  const dir = tempDir("cp-registry");
  const cp = await startCp(dir.path);
  const observer = subscribe(cp.grpcTarget, `${dir.path}/observer.json`, "gw-1", cp);
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

  const call = client.Stream(bearer(proxyToken(cp, "sidecar", "sc-b")));
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

  // The proxy ends its stream: its instance leaves the control plane's snapshot at once (no
  // grace), and the observing proxy has it within a second.
  const endedAt = performance.now();
  call.cancel();
  await when(
    (cb) => observer.live.onChange(cb),
    () => !hasB(),
    "sc-b to leave",
    5000,
  );
  const goneMs = performance.now() - endedAt;
  t.diagnostic(
    `instance gone from the observing proxy ${goneMs.toFixed(0)} ms after its stream ended`,
  );
  assert.ok(goneMs < 1000, `gone after ${goneMs.toFixed(0)} ms`);

  // A hello whose instance would poison every snapshot is refused.
  const badCall = client.Stream(bearer(proxyToken(cp, "sidecar", "sc-b")));
  const status = statusOf(badCall);
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
  const observer1 = subscribe(first.grpcTarget, `${dir.path}/o1.json`, "gw-1", first);
  const b1 = proxyToken(first, "sidecar", "sc-b");
  rawSidecar(c1, "b-1", 7001, b1);
  rawSidecar(c1, "b-2", 7002, proxyToken(first, "sidecar", "sc-b"));
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
  const observer2 = subscribe(second.grpcTarget, `${dir.path}/o2.json`, "gw-2", second);
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
  rawSidecar(c2, "b-1", 7001, b1); // the same data dir: its token is still good; b-2 never comes back
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
