// The order rule of snapshots as a table: versions only grow within a store epoch; another store's config is taken only when that store adopted the epoch held.
import assert from "node:assert/strict";
import { test } from "node:test";
import { type Held, type Offered, orderOf } from "../../src/sync/ordering.js";

test("orderOf: downgrade and diverged are refused, everything else is taken", () => {
  const held: Held = { epoch: "e1", version: "7" };
  const offer = (epoch: string, version: string, adopts: string[] = []): Offered => ({
    epoch,
    version,
    adopts,
  });
  const cases: [string, Held | undefined, Offered, string][] = [
    ["nothing held", undefined, offer("e2", "0"), "ok"],
    ["the same version again (a reconnect)", held, offer("e1", "7"), "ok"],
    ["a newer version", held, offer("e1", "8"), "ok"],
    ["an older version of the same store", held, offer("e1", "6"), "DOWNGRADE"],
    ["another store at version 0 (a new, empty data dir)", held, offer("e2", "0"), "DIVERGED"],
    ["another store at a higher version", held, offer("e2", "12"), "DIVERGED"],
    ["another store that adopted ours", held, offer("e2", "1", ["e0", "e1"]), "ok"],
    [
      "a config persisted before epochs, older",
      { epoch: "", version: "7" },
      offer("e2", "3"),
      "DOWNGRADE",
    ],
    [
      "a config persisted before epochs, newer",
      { epoch: "", version: "7" },
      offer("e2", "7"),
      "ok",
    ],
    ["a control plane from before epochs, older", held, offer("", "3"), "DOWNGRADE"],
  ];
  for (const [what, h, o, want] of cases) {
    const r = orderOf(h, o);
    assert.equal(r.ok ? "ok" : r.code, want, what);
  }
  const d = orderOf(held, offer("e2", "0"));
  assert.match(
    d.ok ? "" : d.error,
    /another store \(epoch e2\).*version 7 of epoch e1.*lanemesh adopt/,
  );
});
