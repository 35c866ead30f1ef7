// The trace-id cache's true memory bound (README "Lane context"): 150,000 requests' ids through `remember` in a child process; the cache stays at its 100,000-entry bound and its retained heap per id stays within the documented figures.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const FILL = fileURLToPath(new URL("../../helpers/trace-cache-fill.js", import.meta.url));

interface Fill {
  ids: number;
  stored: number;
  heapBytes: number;
  perEntry: number;
  heapTotalBytes: number;
  rssBytes: number;
}

function fill(n: number, mode: "w3c" | "rid"): Promise<Fill> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ["--expose-gc", FILL, String(n), mode],
      { timeout: 60_000 },
      (err, stdout) => (err ? reject(err) : resolve(JSON.parse(stdout) as Fill)),
    );
  });
}

const MB = 1_000_000;

describe("trace-id cache memory", { timeout: 120_000 }, () => {
  /*
   * Measured on Node 20 x64 (the README's figures): 142 bytes of retained heap per stored W3C
   * trace id (14 MB at 100,000), 237 bytes per 128-character x-request-id, the longest key the
   * reader accepts (24 MB). The bounds below leave about 20 % for other Node builds.
   */
  for (const [mode, perEntry] of [
    ["w3c", 175],
    ["rid", 290],
  ] as const) {
    it(`${mode}: 150,000 requests keep 100,000 ids, at most ${perEntry} bytes each`, async (t) => {
      const r = await fill(150_000, mode);
      t.diagnostic(
        `${mode}: ${r.stored} ids stored, ${(r.heapBytes / MB).toFixed(1)} MB heap (${r.perEntry} B/id), ` +
          `heap committed +${(r.heapTotalBytes / MB).toFixed(1)} MB, RSS +${(r.rssBytes / MB).toFixed(1)} MB`,
      );
      assert.equal(r.stored, 100_000);
      assert.ok(r.perEntry <= perEntry, `${r.perEntry} bytes per id`);
    });
  }
});
