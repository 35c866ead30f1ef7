// Batches the API must not take silently, over real HTTP on 127.0.0.1: empty documents never stored nor a version bump, 500,000 of them refused without a crash, the per-request caps, and the default data dir.
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { stringify } from "yaml";
import { defaultDataDir } from "../../src/cli/data-dir.js";
import { planApply } from "../../src/control-plane/apply.js";
import { MAX_DOCUMENTS } from "../../src/control-plane/http-guard.js";
import { admin, docs, startCp } from "../helpers/control-plane.js";
import { runCli } from "../helpers/procs.js";
import { mallRules, route, tempDir } from "../helpers/sync-fixtures.js";

test("empty documents (a file ending in ---, JSON nulls) are ignored: never stored, no version bump", async (t) => {
  const dir = tempDir("cp-nulls");
  const cp = await startCp(join(dir.path, "data"));
  t.after(async () => {
    await cp.close();
    dir.remove();
  });
  const post = (type: string, body: string) =>
    fetch(`${cp.url}/v1/resources`, {
      method: "POST",
      headers: { "content-type": type, authorization: `Bearer ${cp.adminToken}` },
      body,
    }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));
  assert.ok((await admin(cp, "POST", "v1/resources", docs(mallRules()))).ok);
  const version = cp.controlPlane.version();
  const stored = () => readFileSync(join(dir.path, "data", "resources.json"), "utf8");
  const before = stored();

  for (const [type, body] of [
    ["application/yaml", "---\n---\n"],
    ["application/yaml", "# only a comment\n---\n"],
    ["application/json", "[null, null]"],
    ["application/json", JSON.stringify({ documents: [{ file: "x.yaml", doc: 0, value: null }] })],
  ] as const) {
    const r = await post(type, body);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.version, version, `${body}: no version bump`);
    assert.deepEqual(r.body.results, [], body);
  }
  assert.equal(stored(), before, "nothing stored");

  // Through the CLI: a file ending in `---` applies its resources, and again changes nothing.
  const file = join(dir.path, "rules.yaml");
  writeFileSync(file, `${stringify(route("b-route", "/b", "sc-b"))}---\n`);
  const cli = ["apply", "-f", file, "--server", cp.url, "--token", cp.adminToken];
  const first = await runCli(cli);
  assert.equal(first.stdout, "route.lanemesh.io/b-route created\n", first.stderr);
  assert.equal(cp.controlPlane.version(), version + 1);
  const again = await runCli(cli);
  assert.equal(again.stdout, "route.lanemesh.io/b-route unchanged\n", again.stderr);
  assert.equal(cp.controlPlane.version(), version + 1, "unchanged means no new version");
  assert.ok(!stored().includes("null"), "no null document in the store");
});

test("500,000 empty documents are refused (413) without a crash; so is any batch over the caps", async (t) => {
  const dir = tempDir("cp-caps");
  const cp = await startCp(dir.path);
  t.after(async () => {
    await cp.close();
    dir.remove();
  });
  const post = async (type: string, body: string) => {
    const r = await fetch(`${cp.url}/v1/resources`, {
      method: "POST",
      headers: { "content-type": type, authorization: `Bearer ${cp.adminToken}` },
      body,
    });
    return {
      status: r.status,
      body: (await r.json()) as { error?: { code: string; message: string } },
    };
  };
  const cases: [string, string, string, RegExp][] = [
    [
      "500,000 YAML nulls",
      "application/yaml",
      "---\n".repeat(500_000),
      /up to 500001 documents in one request: at most 10000; apply them in parts/,
    ],
    [
      "500,000 JSON nulls",
      "application/json",
      JSON.stringify(new Array(500_000).fill(null)),
      /500000 documents in one request: at most 10000/,
    ],
    [
      "10,001 routes",
      "application/json",
      JSON.stringify(
        Array.from({ length: MAX_DOCUMENTS + 1 }, (_, i) => route(`r${i}`, `/r${i}`, "sc")),
      ),
      /10001 documents/,
    ],
    [
      "5 MiB of YAML",
      "application/yaml",
      `# ${"x".repeat(5 * 1024 * 1024)}\n`,
      /request body over 4194304 bytes: apply the files in parts/,
    ],
  ];
  for (const [what, type, body, message] of cases) {
    const r = await post(type, body);
    assert.equal(r.status, 413, `${what}: ${JSON.stringify(r.body).slice(0, 300)}`);
    assert.match(r.body.error?.message ?? "", message, what);
  }
  assert.equal(cp.controlPlane.version(), 0);
  assert.equal((await fetch(`${cp.url}/healthz`)).status, 200, "still serving");
});

test("planApply takes a batch of 300,000 documents without exhausting the stack", () => {
  const batch = Array.from({ length: 300_000 }, (_, doc) => ({
    origin: { file: "big", doc },
    value: doc % 2 === 0 ? null : route(`r${doc}`, "/", "s"),
  }));
  const plan = planApply([], batch);
  assert.equal(plan.merged.length, 150_000);
  assert.equal(plan.ignored, 150_000);
});

test("the default data dir is absolute: /var/lib/lanemesh when writable, else under $HOME", () => {
  const fs = (exists: boolean, writable: string[]) => ({
    exists: () => exists,
    writable: (p: string) => writable.includes(p),
    home: () => "/home/op",
  });
  assert.equal(defaultDataDir(fs(true, ["/var/lib/lanemesh"])), "/var/lib/lanemesh");
  assert.equal(defaultDataDir(fs(false, ["/var/lib"])), "/var/lib/lanemesh");
  assert.equal(defaultDataDir(fs(true, ["/var/lib"])), "/home/op/.lanemesh/control-plane");
  assert.equal(defaultDataDir(fs(false, [])), "/home/op/.lanemesh/control-plane");
});
