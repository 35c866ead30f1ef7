// Tests the registry of sidecar instances on virtual time: grace after the last stream, reconnect within grace.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseHostPort, Registry } from "../../src/control-plane/registry.js";
import { VirtualClock } from "../helpers/clock.js";

const reg = { nodeId: "a-1", service: "sc-a", tag: null, address: "127.0.0.1", port: 7001 };

function setup() {
  const clock = new VirtualClock();
  let changes = 0;
  const r = new Registry({ graceMs: 5000, clock, onChange: () => void changes++ });
  return { clock, r, changes: () => changes };
}

test("an instance stays for the grace after its stream ends, then leaves", () => {
  const { clock, r, changes } = setup();
  const detach = r.attach(reg);
  assert.equal(r.list().length, 1);
  assert.equal(changes(), 1);
  detach();
  detach(); // idempotent
  clock.advance(4999);
  assert.equal(r.list().length, 1, "still there within grace");
  clock.advance(1);
  assert.equal(r.list().length, 0);
  assert.equal(changes(), 2);
});

test("a reconnect within grace keeps the instance without a change", () => {
  const { clock, r, changes } = setup();
  r.attach(reg)();
  clock.advance(3000);
  const detach2 = r.attach(reg);
  clock.advance(10_000);
  assert.equal(r.list().length, 1);
  assert.equal(changes(), 1, "no leave, no re-join");
  detach2();
  clock.advance(5000);
  assert.equal(r.list().length, 0);
});

test("two streams of one node: the instance leaves only after both end", () => {
  const { clock, r } = setup();
  const d1 = r.attach(reg);
  const d2 = r.attach(reg);
  d1();
  clock.advance(6000);
  assert.equal(r.list().length, 1);
  d2();
  clock.advance(5000);
  assert.equal(r.list().length, 0);
});

test("a reconnect from a new address replaces the instance and counts as a change", () => {
  const { r, changes } = setup();
  r.attach(reg);
  r.attach({ ...reg, port: 7002 });
  assert.deepEqual(
    r.list().map((x) => x.port),
    [7002],
  );
  assert.equal(changes(), 2);
});

test("parseHostPort reads host:port and [v6]:port", () => {
  const cases: [string, { address: string; port: number } | null][] = [
    ["127.0.0.1:15006", { address: "127.0.0.1", port: 15006 }],
    ["[::1]:80", { address: "::1", port: 80 }],
    ["pod-a.ns.svc:8080", { address: "pod-a.ns.svc", port: 8080 }],
    ["127.0.0.1", null],
    ["127.0.0.1:0", null],
    ["127.0.0.1:70000", null],
    ["::1:80", null],
    ["", null],
  ];
  for (const [s, want] of cases) assert.deepEqual(parseHostPort(s), want, s);
});
