// File-mode sources reload on edit and refuse bad edits: rules (sync/files.ts), static endpoints (discovery/static.ts), the watcher (config/watch.ts).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { formatError } from "../../src/config/document.js";
import type { Endpoint } from "../../src/config/types.js";
import { contentVersion, readBatch, watchFiles } from "../../src/config/watch.js";
import { StaticResolver } from "../../src/discovery/static.js";
import type { ResolverError } from "../../src/discovery/types.js";
import { type Compiled, LiveConfig } from "../../src/live/live-config.js";
import { startFileRules } from "../../src/sync/files.js";
import { ProxyMetrics } from "../../src/telemetry/metrics.js";

const FAST = { debounceMs: 20, pollMs: 0 };

function rules(opts: { enabled?: boolean; op?: string } = {}): string {
  return `apiVersion: lanemesh.io/v1alpha1
kind: Route
metadata: { name: a-route }
spec: { gateway: default, match: { prefix: /a }, service: sc-a }
---
apiVersion: lanemesh.io/v1alpha1
kind: LaneGroup
metadata: { name: mall }
spec: { entry: { gateway: default, routes: [a-route] }, apps: [sc-a, sc-b], mode: content }
---
apiVersion: lanemesh.io/v1alpha1
kind: Lane
metadata: { name: gray }
spec:
  group: mall
  tag: gray
  enabled: ${opts.enabled ?? true}
  match: { mode: all, conditions: [{ type: header, name: canary, op: "${opts.op ?? "=="}", value: gray }] }
`;
}

function instances(...specs: string[]): string {
  return specs
    .map(
      (s, i) => `apiVersion: lanemesh.io/v1alpha1
kind: Instance
metadata: { name: i${i} }
spec: { ${s} }
`,
    )
    .join("---\n");
}

/** Resolves with the next config a LiveConfig installs. */
function nextChange(live: LiveConfig, timeoutMs = 5000): Promise<Compiled> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      off();
      reject(new Error("no config change"));
    }, timeoutMs);
    const off = live.onChange((c) => {
      clearTimeout(t);
      off();
      resolve(c);
    });
  });
}

async function waitUntil(what: string, cond: () => Promise<boolean> | boolean, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const rejected = async (m: ProxyMetrics): Promise<number> =>
  (await m.configRejected.get()).values[0]?.value ?? 0;

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "lanemesh-files-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe("readBatch / contentVersion", () => {
  it("version is file: + the first 12 hex of sha256 of the contents, valid or not", () => {
    const f = join(dir, "v.yaml");
    const text = rules();
    writeFileSync(f, text);
    const b = readBatch([f]);
    const want = `file:${createHash("sha256").update(text).digest("hex").slice(0, 12)}`;
    assert.equal(b.version, want);
    assert.equal(contentVersion([text]), want);
    assert.ok(b.ok);
    writeFileSync(f, rules({ op: "=~" }));
    const bad = readBatch([f]);
    assert.equal(bad.ok, false);
    assert.equal(bad.version, contentVersion([rules({ op: "=~" })]));
  });

  it("a missing file is an error naming the file", () => {
    const f = join(dir, "missing.yaml");
    const b = readBatch([f]);
    assert.equal(b.ok, false);
    if (!b.ok) assert.ok(formatError(b.errors[0] ?? assert.fail()).includes(f));
  });
});

describe("file rules (startFileRules)", () => {
  it("refuses invalid files at start and installs nothing", () => {
    const f = join(dir, "bad-start.yaml");
    writeFileSync(f, rules({ op: "=~" }));
    const live = new LiveConfig();
    const r = startFileRules({ paths: [f], live, ...FAST });
    assert.equal(r.ok, false);
    if (!r.ok) assert.ok(r.errors.some((e) => e.file === f && e.path.startsWith("spec.")));
    assert.equal(live.current(), undefined);
  });

  it("picks up an edit, refuses a bad edit keeping the old config, then takes the fix", async () => {
    const f = join(dir, "rules.yaml");
    writeFileSync(f, rules());
    const metrics = new ProxyMetrics();
    const live = new LiveConfig({ metrics });
    const r = startFileRules({ paths: [f], live, metrics, ...FAST });
    assert.ok(r.ok);
    try {
      assert.equal(live.current()?.version, contentVersion([rules()]));
      assert.equal(r.source.version, contentVersion([rules()]));

      // 1. An in-place edit closes the lane.
      let changed = nextChange(live);
      writeFileSync(f, rules({ enabled: false }));
      let c = await changed;
      assert.equal(c.version, contentVersion([rules({ enabled: false })]));
      assert.equal(c.rules.lanes[0]?.spec.enabled, false);

      // 2. A bad edit is refused and counted; the closed-lane config keeps serving.
      writeFileSync(f, rules({ op: "=~" }));
      await waitUntil("edit refused", async () => (await rejected(metrics)) === 1);
      assert.equal(live.current()?.version, c.version);
      assert.equal(r.source.version, c.version);

      // 3. The fix, written the way editors do (new file renamed over the old), is taken.
      changed = nextChange(live);
      writeFileSync(`${f}.swp`, rules());
      renameSync(`${f}.swp`, f);
      c = await changed;
      assert.equal(c.version, contentVersion([rules()]));
      assert.equal(c.rules.lanes[0]?.spec.enabled, true);
      assert.equal(await rejected(metrics), 1);
    } finally {
      r.source.close();
    }
  });

  it("the stat poll catches an edit when no directory event is seen", async () => {
    const f = join(dir, "polled.yaml");
    writeFileSync(f, "a");
    let calls = 0;
    const w = watchFiles([f], () => calls++, { debounceMs: 5, pollMs: 30, events: false });
    try {
      writeFileSync(f, "bb");
      await waitUntil("change noticed", () => calls > 0);
      assert.ok(calls >= 1);
    } finally {
      w.close();
    }
  });
});

describe("static discovery (StaticResolver)", () => {
  it("emits the file's instances, then each valid edit; a bad edit is an error and changes nothing", async () => {
    const f = join(dir, "endpoints.yaml");
    writeFileSync(f, instances("service: sc-a, address: 10.0.0.1, port: 80"));
    const opened = StaticResolver.open(f, FAST);
    assert.ok(opened.ok);
    const sets: Endpoint[][] = [];
    const errors: ResolverError[] = [];
    opened.resolver.start(
      (e) => sets.push(e),
      (err) => errors.push(err),
    );
    try {
      assert.equal(sets.length, 0, "callbacks never run synchronously from start");
      await waitUntil("first set", () => sets.length === 1);
      assert.deepEqual(
        sets[0]?.map((e) => [e.service, e.address, e.port, e.tag]),
        [["sc-a", "10.0.0.1", 80, null]],
      );

      writeFileSync(
        f,
        instances(
          "service: sc-a, address: 10.0.0.1, port: 80",
          "service: sc-a, address: 10.0.0.2, port: 80, tag: gray",
        ),
      );
      await waitUntil("second set", () => sets.length === 2);
      assert.deepEqual(
        sets[1]?.map((e) => e.tag),
        [null, "gray"],
      );

      writeFileSync(f, instances("service: sc-a, address: 10.0.0.1, port: 99999"));
      await waitUntil("error", () => errors.length === 1);
      assert.equal(errors[0]?.code, "LANEMESH_DISCOVERY_REJECTED");
      assert.ok((errors[0]?.errors?.length ?? 0) > 0);
      assert.equal(sets.length, 2);
    } finally {
      await opened.resolver.close();
    }
  });

  it("an invalid file at open is an error, not an empty set", () => {
    const f = join(dir, "bad-endpoints.yaml");
    writeFileSync(f, instances("service: sc-a, address: 10.0.0.1"));
    const opened = StaticResolver.open(f);
    assert.equal(opened.ok, false);
  });
});
