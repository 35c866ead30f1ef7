// The kubectl-style verbs against a control plane on 127.0.0.1: get all, -o wide, describe, delete -f, version, and the context file that lets them run without --server; the built CLI as a child process.
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Command } from "commander";
import { useContext } from "../../src/cli/context.js";
import { describe as describeResource, type ProxyView } from "../../src/cli/describe.js";
import { serverOption, serverTarget } from "../../src/cli/server-client.js";
import type { ServedConfig } from "../../src/control-plane/api-client.js";
import { DEFAULT_SERVER } from "../../src/control-plane/api-client.js";
import { type RunningControlPlane, startControlPlane } from "../../src/control-plane/start.js";
import { freePorts, REPO, runCli } from "../helpers/procs.js";
import { silentLog, tempDir } from "../helpers/sync-fixtures.js";

const example = (name: string): string => join(REPO, "examples", name);
const SCENARIO = ["-f", example("mall-routes.yaml"), example("mall-content.yaml")];

describe("verbs against a control plane", () => {
  let cp: RunningControlPlane;
  let dir: { path: string; remove: () => void };
  let server: string[];

  before(async () => {
    dir = tempDir("verbs");
    cp = await startControlPlane({ dataDir: dir.path, grpcPort: 0, httpPort: 0, log: silentLog });
    server = ["--server", cp.url, "--token", cp.adminToken];
    const applied = await runCli(["apply", ...SCENARIO, ...server]);
    assert.equal(applied.code, 0, applied.stderr);
  });
  after(async () => {
    await cp?.close();
    dir?.remove();
  });

  it("get all: one table per kind with kubectl-style names; -o yaml is what apply reads back", async () => {
    const table = await runCli(["get", "all", ...server]);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^route\.lanemesh\.io\/a-route\s+default\s+prefix \/a\s+sc-a$/m);
    assert.match(table.stdout, /^lanegroup\.lanemesh\.io\/mall\s+content/m);
    assert.match(table.stdout, /^lane\.lanemesh\.io\/gray\s+mall\s+gray\s+true/m);
    assert.doesNotMatch(table.stdout, /instance\.lanemesh|NODE/, "no instances, no proxies");
    const yaml = await runCli(["get", "all", "-o", "yaml", ...server]);
    const file = join(dir.path, "all.yaml");
    writeFileSync(file, yaml.stdout);
    const back = await runCli(["apply", "-f", file, ...server]);
    assert.equal(
      back.stdout,
      "route.lanemesh.io/a-route unchanged\nlanegroup.lanemesh.io/mall unchanged\nlane.lanemesh.io/gray unchanged\n",
    );
    const json = JSON.parse((await runCli(["get", "all", "-o", "json", ...server])).stdout) as {
      items: { kind: string }[];
    };
    assert.deepEqual(
      json.items.map((i) => i.kind),
      ["Route", "LaneGroup", "Lane"],
    );
  });

  it("-o wide adds columns; the narrow table stays as it was", async () => {
    const [narrow, wide] = await Promise.all([
      runCli(["get", "lanes", ...server]),
      runCli(["get", "lanes", "-o", "wide", ...server]),
    ]);
    assert.equal(narrow.stdout.split("\n")[0], "NAME   GROUP   TAG    ENABLED   APPS        RULE");
    assert.match(wide.stdout, /^NAME\s+GROUP\s+TAG\s+ENABLED\s+APPS\s+RULE\s+GUARD\s+LABELS$/m);
    assert.match(wide.stdout, /header canary == gray\s+-\s+<none>$/m);
  });

  it("describe lane: fields, status, the lane's instances, the served config, the spec", async () => {
    const r = await runCli(["describe", "lane", "gray", ...server]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Name:\s+gray$/m);
    assert.match(r.stdout, /^Group:\s+mall \(mode content; gateway default, routes a-route\)$/m);
    assert.match(r.stdout, /^Status:\s+enabled: matching requests take the lane$/m);
    assert.match(r.stdout, /^ {2}sc-a\s+-\s+none: gray traffic falls back to base$/m);
    assert.match(r.stdout, /not in the lane \(base for its traffic\): sc-b/);
    assert.match(r.stdout, /^Served:\s+yes, in config version \d+$/m);
    assert.match(r.stdout, /^Proxies: none connected$/m);
    assert.match(r.stdout, /^Spec:\n {2}group: mall$/m);
    const missing = await runCli(["describe", "lane", "nope", ...server]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /not found: lanes\/nope \(LANEMESH_NOT_FOUND\)/);
    const route = await runCli(["describe", "routes", "a-route", ...server]);
    assert.match(route.stdout, /^Lane groups:\s+mall \(content\)$/m);
  });

  it("delete -f: every resource the files name, lanes before their group; then --ignore-not-found", async () => {
    const r = await runCli(["delete", "-f", example("mall-content.yaml"), ...server]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "lane.lanemesh.io/gray deleted\nlanegroup.lanemesh.io/mall deleted\n");
    const again = await runCli(["delete", "-f", example("mall-content.yaml"), ...server]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /not found/);
    const quiet = await runCli([
      "delete",
      "--ignore-not-found",
      "-f",
      example("mall-content.yaml"),
      ...server,
    ]);
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.equal(quiet.stdout, "");
    const both = await runCli([
      "delete",
      "lane",
      "gray",
      "-f",
      example("mall-content.yaml"),
      ...server,
    ]);
    assert.match(both.stderr, /either -f FILE… or KIND NAME, not both/);
    const restored = await runCli(["apply", ...SCENARIO, ...server]);
    assert.equal(restored.code, 0, restored.stderr);
  });

  it("version: the client's and the control plane's; --client asks nobody; unreachable is exit 1", async () => {
    const pkg = (await import(join(REPO, "package.json"), { with: { type: "json" } })) as {
      default: { version: string };
    };
    const v = pkg.default.version;
    const both = await runCli(["version", ...server]);
    assert.equal(both.code, 0, both.stderr);
    assert.equal(both.stdout, `client: ${v}\nserver: ${v} (${cp.url}, API v1)\n`);
    const json = JSON.parse((await runCli(["version", "-o", "json", ...server])).stdout);
    assert.deepEqual(json, {
      client: { version: v },
      server: { version: v, api: "v1", url: cp.url },
    });
    const [port] = await freePorts(1);
    const none = await runCli(["version", "--server", `http://127.0.0.1:${port}`]);
    assert.equal(none.code, 1);
    assert.equal(none.stdout, `client: ${v}\n`);
    assert.match(none.stderr, /cannot reach the control plane/);
    const client = await runCli(["version", "--client", "--server", `http://127.0.0.1:${port}`]);
    assert.equal(client.code, 0);
    assert.equal(client.stdout, `client: ${v}\n`);
  });

  it("the context file: used without --server; --server and LANEMESH_SERVER win; a stale one is named and skipped", async () => {
    const file = join(dir.path, "ctx", "config");
    mkdirSync(join(dir.path, "ctx"));
    useContext(file, { name: "here", server: cp.url, token: cp.adminToken, pid: process.pid });
    const ctx = { LANEMESH_CONFIG: file };
    const viaContext = await runCli(["get", "lanes"], ctx);
    assert.equal(viaContext.code, 0, viaContext.stderr);
    assert.match(viaContext.stdout, /^gray\s+mall/m);
    // A change needs the admin token: the context's is sent (a demo writes its own there).
    const change = await runCli(["apply", ...SCENARIO], ctx);
    assert.equal(change.code, 0, change.stderr);
    useContext(file, { name: "here", server: cp.url, pid: process.pid });
    const noToken = await runCli(["apply", ...SCENARIO], {
      ...ctx,
      LANEMESH_DATA_DIR: join(dir.path, "no-such-data-dir"),
    });
    assert.match(noToken.stderr, /LANEMESH_UNAUTHORIZED/);
    const [port] = await freePorts(1);
    const dead = `http://127.0.0.1:${port}`;
    const flag = await runCli(["get", "lanes", "--server", dead], ctx);
    assert.match(flag.stderr, new RegExp(`cannot reach the control plane at ${dead}`));
    const env = await runCli(["get", "lanes"], { ...ctx, LANEMESH_SERVER: dead });
    assert.match(env.stderr, new RegExp(`cannot reach the control plane at ${dead}`));
    // A pid no process has: the demo that wrote it was killed.
    useContext(file, { name: "gone", server: cp.url, pid: 2 ** 22 + 1 });
    const stale = await runCli(["version", "--client"], ctx);
    assert.equal(stale.code, 0);
    const staleGet = await runCli(["get", "lanes", "--server", cp.url], ctx);
    assert.equal(staleGet.stderr, "", "a flag never reads the context");
    // In-process, so that the default it falls back to is never dialed (a developer's demo may be there).
    const noted = withStderr(() => {
      const saved = process.env.LANEMESH_CONFIG;
      process.env.LANEMESH_CONFIG = file;
      try {
        const cmd = new Command("get").addOption(serverOption()).exitOverride();
        cmd.parse([], { from: "user" });
        return serverTarget(cmd);
      } finally {
        if (saved === undefined) delete process.env.LANEMESH_CONFIG;
        else process.env.LANEMESH_CONFIG = saved;
      }
    });
    assert.deepEqual(noted.value, { server: DEFAULT_SERVER, token: null, from: "default" });
    assert.equal(
      noted.stderr,
      `note: ignoring context "gone" of ${file}: the process that wrote it (pid ${2 ** 22 + 1}) is gone; using ${DEFAULT_SERVER}\n`,
    );
  });
});

/** Run `fn` with process.stderr.write captured. */
function withStderr<T>(fn: () => T): { value: T; stderr: string } {
  let stderr = "";
  const write = process.stderr.write;
  process.stderr.write = ((chunk: string) => {
    stderr += chunk;
    return true;
  }) as typeof process.stderr.write;
  try {
    return { value: fn(), stderr };
  } finally {
    process.stderr.write = write;
  }
}

describe("describe (pure)", () => {
  const live: ServedConfig = {
    version: "7",
    rules: { routes: [], groups: [], lanes: [] },
    endpoints: [],
  };
  const proxy = (nodeId: string, acked: string | null, nack: string | null = null): ProxyView => ({
    nodeId,
    role: "sidecar",
    app: "sc-a",
    tag: null,
    ackedVersion: acked,
    pendingVersion: null,
    lastNack: nack === null ? null : { version: nack, error: "spec.tag: bad\nmore" },
  });

  it("which proxies have it: ACKed the served version, not yet, refused it", () => {
    const out = describeResource(
      "instances",
      {
        kind: "Instance",
        metadata: { name: "i" },
        spec: { service: "sc-a", address: "10.0.0.1", port: 80 },
      },
      {
        ...live,
        endpoints: [
          {
            service: "sc-a",
            address: "10.0.0.1",
            port: 80,
            tag: null,
            weight: 100,
            healthy: true,
            metadata: {},
          },
        ],
      },
      [proxy("a", "7"), proxy("b", "6"), proxy("c", "6", "7")],
    );
    assert.match(out, /^Proxies: 1 of 3 have it$/m);
    assert.match(out, /^ {2}a\s+sidecar\s+7\s+yes$/m);
    assert.match(out, /^ {2}b\s+sidecar\s+6\s+not yet$/m);
    assert.match(out, /^ {2}c\s+sidecar\s+6\s+refused: spec\.tag: bad$/m);
    assert.match(out, /^Tag:\s+\(base\): serves untagged traffic/m);
  });
});
