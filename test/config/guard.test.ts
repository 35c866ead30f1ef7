// A Lane's guard as the validator takes it: defaults applied, each limit's range, the window's form, and a guard with nothing to judge by refused, each error naming the field.
import assert from "node:assert/strict";
import { test } from "node:test";
import { formatError } from "../../src/config/document.js";
import { parseDocuments, validateResources } from "../../src/config/load.js";

const HEAD = "apiVersion: lanemesh.io/v1alpha1\n";
const BATCH = (guard: string) =>
  `${HEAD}kind: Route\nmetadata: { name: a-route }\nspec: { gateway: default, match: { prefix: /a }, service: sc-a }\n---\n` +
  `${HEAD}kind: LaneGroup\nmetadata: { name: mall }\nspec: { entry: { gateway: default, routes: [a-route] }, apps: [sc-a], mode: content }\n---\n` +
  `${HEAD}kind: Lane\nmetadata: { name: gray }\nspec: { group: mall, tag: gray, match: { conditions: [ { type: header, name: canary, op: "==", value: gray } ] }, guard: ${guard} }\n`;

function check(guard: string) {
  const parsed = parseDocuments(BATCH(guard), "t.yaml");
  assert.deepEqual(parsed.errors, []);
  return validateResources(parsed.docs);
}

test("a guard takes its defaults: minRequests 20, window 30s", () => {
  const v = check("{ maxErrorRate: 0.05 }");
  assert.ok(v.ok, JSON.stringify(!v.ok && v.errors.map(formatError)));
  assert.deepEqual(v.rules.lanes[0]?.spec.guard, {
    maxErrorRate: 0.05,
    minRequests: 20,
    window: "30s",
  });
  const full = check("{ maxErrorRate: 0, maxP99Ms: 250, minRequests: 1, window: 10m }");
  assert.ok(full.ok);
});

const BAD: [string, string, RegExp][] = [
  ["{ minRequests: 5 }", "spec.guard", /needs maxErrorRate, maxP99Ms or both/],
  ["{ maxErrorRate: 1.5 }", "spec.guard.maxErrorRate", /0\.\.1|between 0 and 1|at most 1/],
  ["{ maxErrorRate: '5%' }", "spec.guard.maxErrorRate", /number/],
  ["{ maxP99Ms: 0 }", "spec.guard.maxP99Ms", /1/],
  ["{ maxErrorRate: 0.1, minRequests: 2.5 }", "spec.guard.minRequests", /integer|whole/],
  ["{ maxErrorRate: 0.1, window: 11m }", "spec.guard.window", /from 1s to 10m/],
  ["{ maxErrorRate: 0.1, window: 30 }", "spec.guard.window", /string|from 1s to 10m/],
  [
    "{ maxErrorRate: 0.1, windows: 30s }",
    "spec.guard.windows",
    /unknown field.*did you mean "window"/,
  ],
  ["yes", "spec.guard", /mapping/],
];

for (const [guard, path, message] of BAD)
  test(`guard ${guard} is refused at ${path}`, () => {
    const v = check(guard);
    assert.ok(!v.ok, `${guard} accepted`);
    const e = v.errors.find((x) => x.path === path);
    assert.ok(e, `no error at ${path}: ${v.errors.map(formatError).join("\n")}`);
    assert.match(e.message, message);
    assert.equal(e.doc, 2, "the error names the Lane's document");
  });
