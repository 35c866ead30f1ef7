// Runs the built `lanemesh apply|get|delete` against a control plane on 127.0.0.1 and checks what users see and the exit codes.
import assert from "node:assert/strict";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { stringify } from "yaml";
import { startControlPlane } from "../../src/control-plane/start.js";
import { freePorts, ProcGroup, runCli, waitListening } from "../helpers/procs.js";
import { headerLane, instance, mallRules, silentLog, tempDir } from "../helpers/sync-fixtures.js";

const yaml = (docs: unknown[]) => docs.map((d) => stringify(d)).join("---\n");

test("apply, get and delete through the CLI", async (t) => {
  const dir = tempDir("cp-cli");
  const cp = await startControlPlane({
    dataDir: join(dir.path, "data"),
    grpcPort: 0,
    httpPort: 0,
    log: silentLog,
  });
  t.after(async () => {
    await cp.close();
    dir.remove();
  });
  const rules = join(dir.path, "rules.yaml");
  const instances = join(dir.path, "instances.yaml");
  writeFileSync(rules, yaml(mallRules()));
  writeFileSync(instances, yaml([instance("a-base", "sc-a", 7001)]));
  const server = ["--server", cp.url, "--token", cp.adminToken];

  const applied = await runCli(["apply", "-f", rules, instances, ...server]);
  assert.equal(applied.code, 0, applied.stderr);
  assert.equal(
    applied.stdout,
    "route.lanemesh.io/a-route created\nlanegroup.lanemesh.io/mall created\nlane.lanemesh.io/gray created\ninstance.lanemesh.io/a-base created\n",
  );

  writeFileSync(
    rules,
    yaml([...mallRules().slice(0, 2), headerLane("gray", "mall", "gray", false)]),
  );
  const again = await runCli(["apply", "-f", rules], {
    LANEMESH_SERVER: cp.url,
    LANEMESH_API_TOKEN: cp.adminToken,
  });
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /^route\.lanemesh\.io\/a-route unchanged$/m);
  assert.match(again.stdout, /^lane\.lanemesh\.io\/gray configured$/m);

  const lanes = await runCli(["get", "lanes", ...server]);
  assert.equal(lanes.code, 0, lanes.stderr);
  assert.equal(
    lanes.stdout,
    "NAME   GROUP   TAG    ENABLED   APPS      RULE\ngray   mall    gray   false     (group)   header canary == gray\n",
  );
  const json = await runCli(["get", "lane", "gray", "-o", "json", ...server]);
  assert.equal((JSON.parse(json.stdout) as { spec: { enabled: boolean } }).spec.enabled, false);
  const insts = await runCli(["get", "instances", "-o", "yaml", ...server]);
  assert.match(insts.stdout, /^kind: Instance$/m);

  const bad = join(dir.path, "bad.yaml");
  writeFileSync(bad, yaml([headerLane("blue", "nope", "blue")]));
  const refused = await runCli(["apply", "-f", bad, ...server]);
  assert.equal(refused.code, 1);
  assert.equal(refused.stdout, "");
  assert.match(
    refused.stderr,
    new RegExp(`^${bad.replaceAll("/", "\\/")}: document 1 \\(Lane/blue\\): spec\\.group: `, "m"),
  );

  const delGroup = await runCli(["delete", "lanegroups", "mall", ...server]);
  assert.equal(delGroup.code, 1);
  assert.match(
    delGroup.stderr,
    /would leave the config invalid:\ncontrol-plane store: document \d \(Lane\/gray\): spec\.group/,
  );
  const delLane = await runCli(["delete", "lane", "gray", ...server]);
  assert.equal(delLane.code, 0, delLane.stderr);
  assert.equal(delLane.stdout, "lane.lanemesh.io/gray deleted\n");
  const none = await runCli(["get", "lanes", ...server]);
  assert.equal(none.stdout, "No lanes found.\n");
  const missing = await runCli(["get", "lanes", "gray", ...server]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /not found: lanes\/gray \(LANEMESH_NOT_FOUND\)/);
});

test("an unreachable control plane is one clear line and exit 1", async () => {
  const [port] = await freePorts(1);
  const r = await runCli(["get", "proxies", "--server", `http://127.0.0.1:${port}`]);
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    `error: cannot reach the control plane at http://127.0.0.1:${port}: connection refused (is \`lanemesh control-plane\` running? set --server or LANEMESH_SERVER)\n`,
  );
});

test("`lanemesh control-plane` reads its flags from the environment, stores in its data dir, stops on SIGTERM", async (t) => {
  const dir = tempDir("cp-proc");
  const procs = new ProcGroup();
  t.after(async () => {
    await procs.killAll();
    dir.remove();
  });
  const [grpcPort, httpPort] = (await freePorts(2)) as [number, number];
  const env = {
    LANEMESH_GRPC_PORT: String(grpcPort),
    LANEMESH_HTTP_PORT: String(httpPort),
    LANEMESH_DATA_DIR: join(dir.path, "data"),
  };
  const server = [
    "--server",
    `http://127.0.0.1:${httpPort}`,
    "--api-token-file",
    join(dir.path, "data", "admin.token"),
  ];
  const rules = join(dir.path, "rules.yaml");
  writeFileSync(rules, yaml(mallRules()));

  const first = procs.spawn("control-plane", ["control-plane"], env);
  await waitListening(first, httpPort);
  await waitListening(first, grpcPort);
  const applied = await runCli(["apply", "-f", rules, ...server]);
  assert.equal(applied.code, 0, applied.stderr + procs.dump());
  assert.equal(await first.kill("SIGTERM"), 0, "a clean exit on SIGTERM");
  assert.ok(existsSync(join(dir.path, "data", "resources.json")));

  const second = procs.spawn("control-plane-2", ["control-plane"], env);
  await waitListening(second, httpPort);
  const lanes = await runCli(["get", "lanes", "-o", "json", ...server]);
  assert.deepEqual(
    (JSON.parse(lanes.stdout) as { items: { metadata: { name: string } }[] }).items.map(
      (l) => l.metadata.name,
    ),
    ["gray"],
  );
  assert.match(
    second.output(),
    new RegExp(
      `control plane: gRPC 127\\.0\\.0\\.1:${grpcPort}, HTTP http://127\\.0\\.0\\.1:${httpPort}`,
    ),
  );
});
