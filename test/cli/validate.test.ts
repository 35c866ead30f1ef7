// `lanemesh validate` as a user runs it: the built CLI as a child process against fixture files.
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import { REPO, runCli } from "../helpers/procs.js";

const fixture = (name: string): string => join(REPO, "test/fixtures/cli", name);

describe("lanemesh validate", () => {
  it("exits 0 with a one-line count when the files are valid", async () => {
    const r = await runCli([
      "validate",
      "-f",
      fixture("mall.yaml"),
      fixture("lane-canary.yaml"),
      fixture("endpoints.yaml"),
    ]);
    assert.equal(r.code, 0, r.stderr);
    // 1 route + 1 group + 1 lane + 5 instances
    assert.equal(r.stdout, "8 resources valid\n");
  });

  it("accepts files as -f flags and as arguments alike", async () => {
    const r = await runCli(["validate", fixture("mall.yaml"), "-f", fixture("lane-eq.yaml")]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "3 resources valid\n");
  });

  it("lists every mistake with file, document and field, and exits 1", async () => {
    const file = fixture("invalid.yaml");
    const r = await runCli(["validate", "-f", file]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    const lines = r.stderr.trimEnd().split("\n");
    // Documents 4..12 each hold one mistake (9 and 10 share one: weights over 100 on b-route).
    const mistakes: [string, string][] = [
      ["bad-op", "bad op"],
      ["empty-in", "empty in"],
      ["pct-150", "percentage 150"],
      ["orphan", "lane of a missing group"],
      ["mode-mismatch", "mode mismatch"],
      ["bad-regex", "uncompilable regex"],
      ["unknown-field", "unknown field"],
    ];
    for (const [name, what] of mistakes) {
      const line = lines.find((l) => l.includes(`Lane/${name}`));
      assert.ok(line, `${what}: no error names Lane/${name}:\n${r.stderr}`);
      assert.ok(line.startsWith(`${file}: `), `${what}: does not start with the file: ${line}`);
      assert.match(line, /document \d+/, `${what}: no document index: ${line}`);
      assert.match(line, /: spec\.\S*/, `${what}: no field path: ${line}`);
    }
    assert.ok(
      lines.some((l) => l.includes("Lane/sixty") || l.includes("Lane/fifty")),
      `weights over 100: not reported:\n${r.stderr}`,
    );
    assert.ok(lines.length >= 8, r.stderr);
    // Documents 0-3 are valid and must not be blamed.
    for (const ok of ["Route/a-route", "Route/b-route", "LaneGroup/mall", "LaneGroup/shop"])
      assert.ok(!lines.some((l) => l.includes(`(${ok})`)), `${ok} blamed:\n${r.stderr}`);
  });

  it("reports a missing file and exits 1", async () => {
    const missing = fixture("no-such-file.yaml");
    const r = await runCli(["validate", "-f", missing]);
    assert.equal(r.code, 1);
    assert.ok(r.stderr.includes(missing), r.stderr);
  });

  it("exits 1 when no file is given", async () => {
    const r = await runCli(["validate"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no files given/);
  });
});
