// Proxy identity on a real control plane over real gRPC (127.0.0.1): no credential, a forged or foreign token, a stolen node id, the peer-address rule, and a proxy's token file read at every reconnect.
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { helloRefusal, type ProxyIdentity, peerHost } from "../../src/control-plane/identity.js";
import { signToken, verifyToken } from "../../src/control-plane/tokens.js";
import type { Hello } from "../../src/protocol/wire.js";
import {
  proxyToken,
  rawSidecar,
  startCp,
  statusOf,
  subscribe,
  tokenFile,
} from "../helpers/control-plane.js";
import { captureLog, tempDir, when } from "../helpers/sync-fixtures.js";

const KEY = Buffer.alloc(32, 7);

test("tokens: what is signed verifies; a tampered, foreign, expired or garbled one does not", () => {
  const { token, claims } = signToken(
    KEY,
    { role: "sidecar", services: ["sc-a"], ttlSeconds: 60 },
    1000,
  );
  assert.deepEqual(verifyToken(KEY, token, 1001), claims);
  assert.deepEqual([claims.role, claims.services, claims.gateways], ["sidecar", ["sc-a"], []]);
  const [h, p, sig] = token.split(".") as [string, string, string];
  const forged = Buffer.from(
    JSON.stringify({ ...JSON.parse(Buffer.from(p, "base64url").toString()), services: ["sc-b"] }),
  ).toString("base64url");
  const cases: [string, string, number, RegExp][] = [
    ["another service, same signature", `${h}.${forged}.${sig}`, 1001, /BAD_SIGNATURE/],
    [
      "another key",
      signToken(Buffer.alloc(32, 8), { role: "sidecar", services: ["sc-a"], ttlSeconds: 60 }, 1000)
        .token,
      1001,
      /BAD_SIGNATURE/,
    ],
    [
      "alg none",
      `${Buffer.from('{"alg":"none"}').toString("base64url")}.${p}.`,
      1001,
      /BAD_SIGNATURE/,
    ],
    ["expired", token, 1060, /EXPIRED/],
    ["garbage", "not-a-token", 1001, /MALFORMED/],
  ];
  for (const [what, t, now, want] of cases)
    assert.throws(
      () => verifyToken(KEY, t, now),
      (e: Error & { code: string }) => {
        assert.match(e.code, want, what);
        return true;
      },
    );
});

const hello = (h: Partial<Hello>): Hello => ({
  nodeId: "n",
  role: "sidecar",
  app: "sc-a",
  tag: "",
  address: "10.0.0.5:15006",
  gateway: "",
  lastVersion: "",
  proxyVersion: "",
  lastEpoch: "",
  previousError: "",
  ...h,
});

test("helloRefusal: role, service, gateway and address are the credential's; loopback peers may register any address", () => {
  const sidecarA: ProxyIdentity = {
    key: "token:1",
    subject: "token 1",
    role: "sidecar",
    services: ["sc-a"],
    gateways: [],
  };
  const gw: ProxyIdentity = { ...sidecarA, role: "gateway", services: [], gateways: ["default"] };
  const pod: ProxyIdentity = {
    ...sidecarA,
    pod: { namespace: "ns", name: "a-1", ip: "10.0.0.5", app: "sc-a", tag: "gray", gateway: null },
  };
  const cases: [string, ProxyIdentity, Partial<Hello>, string, RegExp | null][] = [
    ["its own service from its own address", sidecarA, {}, "10.0.0.5:4000", null],
    [
      "another service",
      sidecarA,
      { app: "sc-b" },
      "10.0.0.5:4000",
      /covers service\(s\) sc-a, not sc-b/,
    ],
    [
      "a gateway hello with a sidecar token",
      sidecarA,
      { role: "gateway", app: "", address: "" },
      "10.0.0.5:1",
      /for a sidecar, not a gateway/,
    ],
    [
      "another address than its peer",
      sidecarA,
      {},
      "10.0.0.9:4000",
      /not this stream's peer address 10\.0\.0\.9/,
    ],
    ["IPv4-mapped peer", sidecarA, {}, "::ffff:10.0.0.5:4000", null],
    ["any address from loopback", sidecarA, { address: "10.9.9.9:1" }, "127.0.0.1:4000", null],
    [
      "the gateway it covers",
      gw,
      { role: "gateway", app: "", address: "", gateway: "default" },
      "10.0.0.7:1",
      null,
    ],
    [
      "another gateway",
      gw,
      { role: "gateway", app: "", address: "", gateway: "edge" },
      "10.0.0.7:1",
      /not edge/,
    ],
    ["its pod's IP, app and tag", pod, { tag: "gray" }, "10.0.0.5:1", null],
    ["another lane tag than its pod's", pod, {}, "10.0.0.5:1", /lane tag gray, not \(base\)/],
    [
      "not its pod's IP",
      pod,
      { tag: "gray", address: "10.0.0.6:15006" },
      "127.0.0.1:1",
      /not the IP of pod ns\/a-1/,
    ],
  ];
  for (const [what, id, h, peer, want] of cases) {
    const r = helloRefusal(id, hello(h), peer);
    if (want === null) assert.equal(r, null, `${what}: ${r?.message}`);
    else {
      assert.match(r?.message ?? "(accepted)", want, what);
      assert.equal(r?.status, grpc.status.PERMISSION_DENIED, what);
    }
  }
  assert.equal(peerHost("::1:5000"), "::1");
  assert.equal(peerHost("[::1]:5000"), "::1");
  assert.equal(peerHost("nonsense"), null);
});

test("a stream without a valid credential is refused (UNAUTHENTICATED) and registers nothing; a foreign service's token too (PERMISSION_DENIED); both counted", async (t) => {
  const dir = tempDir("cp-identity");
  const cp = await startCp(dir.path);
  const { Client } = (await import("../../src/protocol/wire.js")).meshDefinition();
  const client = new Client(cp.grpcTarget, grpc.credentials.createInsecure());
  t.after(async () => {
    client.close();
    await cp.close();
    dir.remove();
  });
  const other = signToken(Buffer.alloc(32, 1), {
    role: "sidecar",
    services: ["sc-b"],
    ttlSeconds: 60,
  });
  const attempts: [string, string | undefined, grpc.status, RegExp][] = [
    ["no credential", undefined, grpc.status.UNAUTHENTICATED, /no credential.*--token-file/],
    [
      "another control plane's token",
      other.token,
      grpc.status.UNAUTHENTICATED,
      /not signed by this control plane/,
    ],
    [
      "a token for sc-c",
      proxyToken(cp, "sidecar", "sc-c"),
      grpc.status.PERMISSION_DENIED,
      /covers service\(s\) sc-c, not sc-b/,
    ],
    [
      "a gateway's token",
      proxyToken(cp, "gateway", "default"),
      grpc.status.PERMISSION_DENIED,
      /for a gateway, not a sidecar/,
    ],
  ];
  for (const [what, token, code, details] of attempts) {
    const st = await statusOf(rawSidecar(client, "sc-b~base~127.0.0.1:7001", 7001, token));
    assert.equal(st.code, code, `${what}: ${st.details}`);
    assert.match(st.details, details, what);
  }
  assert.deepEqual(cp.controlPlane.list("instances"), [], "nothing registered");
  assert.deepEqual(cp.controlPlane.proxies(), [], "no proxy accepted");
  const metrics = await cp.controlPlane.metrics.registry.metrics();
  assert.match(metrics, /^lanemesh_cp_streams_refused_total\{reason="unauthenticated"\} 2$/m);
  assert.match(metrics, /^lanemesh_cp_streams_refused_total\{reason="permission_denied"\} 2$/m);
});

test("a stolen node id: a live stream of another identity cannot evict the registered instance; refused, logged, counted", async (t) => {
  const dir = tempDir("cp-stolen");
  const logs = captureLog();
  const cp = await startCp(dir.path, 1, 35, { log: logs.log });
  const { Client } = (await import("../../src/protocol/wire.js")).meshDefinition();
  const client = new Client(cp.grpcTarget, grpc.credentials.createInsecure());
  const observer = subscribe(cp.grpcTarget, join(dir.path, "observer.json"), "gw-1", cp);
  t.after(async () => {
    client.close();
    await observer.sub.close();
    await cp.close();
    dir.remove();
  });
  const nodeId = "sc-b~base~127.0.0.1:7001";
  const real = rawSidecar(client, nodeId, 7001, proxyToken(cp, "sidecar", "sc-b"));
  const ports = () => (observer.live.current()?.endpoints ?? []).map((e) => e.port);
  await when(
    (cb) => observer.live.onChange(cb),
    () => ports().includes(7001),
    "the real instance",
  );

  // Another sc-b token (a valid credential for this very service) from another identity.
  const thief = await statusOf(rawSidecar(client, nodeId, 6666, proxyToken(cp, "sidecar", "sc-b")));
  assert.equal(thief.code, grpc.status.ALREADY_EXISTS, thief.details);
  assert.match(
    thief.details,
    /node id sc-b~base~127\.0\.0\.1:7001 is held by a live stream of another identity/,
  );
  const record = await logs.seen(/stream refused/);
  assert.equal(record.reason, "node_id_taken");
  assert.match(
    await cp.controlPlane.metrics.registry.metrics(),
    /^lanemesh_cp_streams_refused_total\{reason="node_id_taken"\} 1$/m,
  );
  assert.deepEqual(ports(), [7001], "the real instance stays, alone");
  assert.deepEqual(
    cp.controlPlane
      .proxies()
      .map((p) => p.nodeId)
      .sort(),
    ["gw-1", nodeId].sort(),
  );
  real.cancel();
});

test("a proxy reads its token file at every connect: a missing file is a clear error and no readiness; a file written later lets it in", async (t) => {
  const dir = tempDir("cp-token-file");
  const cp = await startCp(dir.path);
  const logs = captureLog();
  const file = join(dir.path, "gw.token");
  const proxy = subscribe(cp.grpcTarget, join(dir.path, "state.json"), "gw-1", file, {
    log: logs.log,
  });
  t.after(async () => {
    await proxy.sub.close();
    await cp.close();
    dir.remove();
  });
  const record = await logs.seen(/not accepted by the control plane/);
  assert.match(String(record.error), /cannot read the token file .*gw\.token: no such file/);
  assert.equal(proxy.sub.status().ready, false);
  writeFileSync(file, "garbage\n");
  await when(
    (cb) => {
      const timer = setInterval(cb, 20);
      return () => clearInterval(timer);
    },
    () => /UNAUTHENTICATED.*not a lanemesh token/.test(proxy.sub.status().detail.lastError ?? ""),
    "the control plane to refuse the garbage token",
  );
  assert.equal(proxy.sub.status().ready, false);
  tokenFile(dir.path, "gw", proxyToken(cp, "gateway", "default"));
  await proxy.at("0");
  assert.equal(proxy.sub.status().ready, true);
});
