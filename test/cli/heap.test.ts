// The sidecar's old-generation growth flag: set unless node was given its own, and a flag this Node's V8 knows (V8 ignores unknown flags silently).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { describe, it } from "node:test";
import { limitOldSpaceGrowth, OLD_SPACE_GROWTH_PERCENT } from "../../src/cli/heap.js";

describe("limitOldSpaceGrowth", () => {
  it("sets --heap-growing-percent unless node was started with its own value", () => {
    assert.equal(limitOldSpaceGrowth([]), `--heap-growing-percent=${OLD_SPACE_GROWTH_PERCENT}`);
    assert.equal(limitOldSpaceGrowth(["--max-semi-space-size=2"]), "--heap-growing-percent=20");
    assert.equal(limitOldSpaceGrowth(["--heap-growing-percent=50"]), null);
    assert.equal(limitOldSpaceGrowth(["--heap_growing_percent=5"]), null);
  });

  it("names a flag of this Node's V8, one it reads at run time", () => {
    const options = spawnSync(process.execPath, ["--v8-options"], { encoding: "utf8" }).stdout;
    assert.match(options, /^\s+--heap-growing-percent \(/m);
    // Accepted on the command line (a misspelt flag makes node exit 9).
    const r = spawnSync(process.execPath, ["--heap-growing-percent=20", "-e", "0"]);
    assert.equal(r.status, 0);
  });
});
