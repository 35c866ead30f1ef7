// Table test of what a proxy accepts from a snapshot: the file validator's rules, field placement, endpoints.
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkSnapshot } from "../../src/protocol/snapshot-check.js";
import {
  headerLane,
  instance,
  mallRules,
  regexLane,
  snapshotOf,
} from "../helpers/sync-fixtures.js";

test("checkSnapshot accepts what validate accepts and explains every refusal", () => {
  const good = [...mallRules(), instance("a", "sc-a", 7001, "gray")];
  const cases: [string, ReturnType<typeof snapshotOf>, RegExp | null][] = [
    ["valid", snapshotOf("3", "n", good), null],
    ["empty", snapshotOf("0", "n", []), null],
    ["non-numeric version", snapshotOf("v3", "n", good), /bad snapshot version/],
    [
      "unsafe regex",
      snapshotOf("3", "n", [...good, regexLane("x", "mall", "x", "(a|a)*\\1")]),
      /Lane\/x.*unsafe regex/,
    ],
    [
      "unknown group",
      snapshotOf("3", "n", [...good, headerLane("y", "nope", "y")]),
      /no LaneGroup named "nope"/,
    ],
    [
      "bad endpoint port",
      snapshotOf("3", "n", [...good, instance("b", "sc-b", 70000)]),
      /spec\.port/,
    ],
  ];
  for (const [name, s, want] of cases) {
    const r = checkSnapshot(s);
    if (want === null) assert.equal(r.ok, true, `${name}: ${r.ok ? "" : r.error}`);
    else assert.match(r.ok ? "accepted" : r.error, want, name);
  }
  const r = checkSnapshot(snapshotOf("3", "n", good));
  assert.ok(r.ok);
  assert.deepEqual(r.endpoints, [
    {
      service: "sc-a",
      address: "127.0.0.1",
      port: 7001,
      tag: "gray",
      weight: 100,
      healthy: true,
      metadata: {},
    },
  ]);
});

test("checkSnapshot refuses documents in the wrong field and text that is not JSON", () => {
  const s = snapshotOf("1", "n", mallRules());
  s.groups.push(s.routes[0] as string);
  assert.match(
    checkSnapshot(s).ok ? "" : (checkSnapshot(s) as { error: string }).error,
    /groups\[1\] is kind Route/,
  );
  const t = snapshotOf("1", "n", []);
  t.endpoints.push("]");
  assert.match(
    checkSnapshot(t).ok ? "" : (checkSnapshot(t) as { error: string }).error,
    /not JSON/,
  );
});
