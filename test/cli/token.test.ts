// `lanemesh token create` (from the data dir's key, or through the API with the admin token), a proxy process without a credential, and `--proxy-auth none`'s warning, as real processes on 127.0.0.1.
import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { readSigningKey } from "../../src/control-plane/secrets.js";
import { verifyToken } from "../../src/control-plane/tokens.js";
import { startCp, subscribe } from "../helpers/control-plane.js";
import { freePorts, ProcGroup, runCli, waitListening, waitReady } from "../helpers/procs.js";
import { tempDir } from "../helpers/sync-fixtures.js";

test("token create: signed with the data dir's key, or by the control plane with the admin token; without it, refused", async (t) => {
  const dir = tempDir("cli-token");
  const data = join(dir.path, "data");
  const cp = await startCp(data);
  t.after(async () => {
    await cp.close();
    dir.remove();
  });
  const key = await readSigningKey(data);
  assert.equal(statSync(join(data, "token-signing.key")).mode & 0o777, 0o600);
  assert.equal(statSync(join(data, "admin.token")).mode & 0o777, 0o600);

  const local = await runCli([
    "token",
    "create",
    "--service",
    "sc-a",
    "--ttl",
    "2h",
    "--data-dir",
    data,
  ]);
  assert.equal(local.code, 0, local.stderr);
  const claims = verifyToken(key, local.stdout.trim());
  assert.deepEqual([claims.role, claims.services], ["sidecar", ["sc-a"]]);
  assert.equal(claims.expiresAt - claims.issuedAt, 7200);

  const out = join(dir.path, "gw.token");
  const remote = await runCli([
    "token",
    "create",
    "--role",
    "gateway",
    "--server",
    cp.url,
    "--token",
    cp.adminToken,
    "-o",
    out,
  ]);
  assert.equal(remote.code, 0, remote.stderr);
  assert.equal(remote.stdout, "");
  assert.equal(statSync(out).mode & 0o777, 0o600);
  const gw = verifyToken(key, readFileSync(out, "utf8").trim());
  assert.deepEqual([gw.role, gw.gateways], ["gateway", ["default"]]);
  // The token lets a gateway in.
  const proxy = subscribe(cp.grpcTarget, join(dir.path, "gw-state.json"), "gw-1", out);
  t.after(() => proxy.sub.close());
  await proxy.at("0");

  const empty = join(dir.path, "elsewhere");
  const refused = await runCli(["token", "create", "--service", "sc-a", "--server", cp.url], {
    LANEMESH_DATA_DIR: empty,
  });
  assert.equal(refused.code, 1);
  assert.match(
    refused.stderr,
    /no admin token: changes need Authorization: Bearer .*LANEMESH_UNAUTHORIZED/,
  );
  const noService = await runCli(["token", "create", "--data-dir", data]);
  assert.equal(noService.code, 1);
  assert.match(noService.stderr, /a sidecar token needs --service NAME/);
  // On this machine, the CLI finds the admin token in the control plane's data dir.
  const found = await runCli(["token", "create", "--service", "sc-b", "--server", cp.url], {
    LANEMESH_DATA_DIR: data,
  });
  assert.equal(found.code, 0, found.stderr);
});

test("a proxy process without a credential logs why and stays not ready; --proxy-auth none warns loudly and lets it in", async (t) => {
  const dir = tempDir("cli-no-token");
  const procs = new ProcGroup();
  t.after(async () => {
    await procs.killAll();
    dir.remove();
  });
  const [grpcPort, httpPort, port, admin, grpc2, http2] = (await freePorts(6)) as number[] as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const cpArgs = (g: number, h: number, d: string) => [
    "control-plane",
    "--grpc-port",
    String(g),
    "--http-port",
    String(h),
    "--data-dir",
    join(dir.path, d),
  ];
  const cp = procs.spawn("control-plane", cpArgs(grpcPort, httpPort, "data"));
  await waitListening(cp, grpcPort);
  const gwArgs = (g: number) => [
    "gateway",
    "--bind",
    "127.0.0.1",
    "--port",
    String(port),
    "--admin-port",
    String(admin),
    "--control-plane",
    `127.0.0.1:${g}`,
    "--state-dir",
    join(dir.path, "state"),
  ];
  const gw = procs.spawn("gateway", gwArgs(grpcPort), { LANEMESH_LOG_LEVEL: "info" });
  const deadline = Date.now() + 30_000;
  while (!/not accepted by the control plane/.test(gw.output()) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
  assert.match(gw.output(), /UNAUTHENTICATED no credential: start the proxy with --token-file/);
  const ready = await fetch(`http://127.0.0.1:${admin}/ready`);
  assert.equal(ready.status, 503, "not ready without a config");
  await gw.kill("SIGKILL");

  const open = procs.spawn("control-plane-none", [
    ...cpArgs(grpc2, http2, "data-none"),
    "--proxy-auth",
    "none",
  ]);
  await waitListening(open, grpc2);
  assert.match(open.output(), /WARNING: PROXY AUTHENTICATION IS OFF \(--proxy-auth none\)/);
  const gw2 = procs.spawn("gateway-2", gwArgs(grpc2));
  await waitReady(gw2, admin, 30_000);
});
