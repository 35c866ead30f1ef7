// The context file on its own: written whole and private, read back with its token, dropped only by the process that wrote it, stale once that process is gone, a broken file named.
import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import {
  contextPath,
  currentContext,
  dropContext,
  readContexts,
  useContext,
} from "../../src/cli/context.js";
import { tempDir } from "../helpers/sync-fixtures.js";

const dir = tempDir("context");
after(() => dir.remove());
const GONE = 2 ** 22 + 1;

describe("the context file", () => {
  it("$LANEMESH_CONFIG names it, else ~/.lanemesh/config", () => {
    assert.equal(contextPath({ LANEMESH_CONFIG: "/x/c" }), "/x/c");
    assert.match(contextPath({}), /\/\.lanemesh\/config$/);
  });

  it("useContext writes it (owner-only), makes the context current, keeps the others", () => {
    const file = join(dir.path, "a", "config");
    assert.deepEqual(currentContext(file), { kind: "none" });
    useContext(file, { name: "one", server: "http://127.0.0.1:1", pid: process.pid });
    useContext(file, {
      name: "demo",
      server: "http://127.0.0.1:15014",
      controlPlane: "127.0.0.1:15010",
      token: "s3cret",
      pid: process.pid,
    });
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.match(readFileSync(file, "utf8"), /^current-context: demo$/m);
    const c = currentContext(file);
    assert.equal(c.kind, "live");
    assert.deepEqual(c.kind === "live" && c.context, {
      name: "demo",
      server: "http://127.0.0.1:15014",
      controlPlane: "127.0.0.1:15010",
      token: "s3cret",
      pid: process.pid,
    });
    const all = readContexts(file);
    assert.deepEqual(all.ok && all.file.contexts.map((x) => x.name), ["one", "demo"]);
  });

  it("dropContext: only by the pid that wrote it; the previous context becomes current; the last one removes the file", () => {
    const file = join(dir.path, "b", "config");
    useContext(file, { name: "one", server: "http://127.0.0.1:1" });
    useContext(file, { name: "demo", server: "http://127.0.0.1:2", pid: process.pid });
    dropContext(file, "demo", process.pid + 1);
    assert.equal(currentContext(file).kind, "live", "another process's context stays");
    dropContext(file, "demo", process.pid);
    const c = currentContext(file);
    assert.equal(c.kind === "live" && c.context.name, "one");
    const solo = join(dir.path, "c", "config");
    useContext(solo, { name: "demo", server: "http://127.0.0.1:2", pid: process.pid });
    dropContext(solo, "demo", process.pid);
    assert.equal(existsSync(solo), false);
  });

  it("a context whose process is gone is stale; a broken file is named, never thrown", () => {
    const file = join(dir.path, "d", "config");
    useContext(file, { name: "demo", server: "http://127.0.0.1:2", pid: GONE });
    assert.equal(currentContext(file).kind, "stale");
    writeFileSync(file, "contexts: {a: 1}\n");
    const broken = currentContext(file);
    assert.equal(broken.kind, "broken");
    assert.match(broken.kind === "broken" ? broken.message : "", /contexts must be a list/);
    writeFileSync(file, "contexts: [{name: x}]\n");
    assert.equal(currentContext(file).kind, "broken");
    dropContext(file, "x", process.pid);
  });
});
