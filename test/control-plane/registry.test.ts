// Tests the registry of sidecar instances on virtual time: removal when a stream ends, grace after a failed one, node ids bound to an identity.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseHostPort, Registry, type StreamEnd } from "../../src/control-plane/registry.js";
import { VirtualClock } from "../helpers/clock.js";

const reg = {
  nodeId: "a-1",
  service: "sc-a",
  tag: null,
  address: "127.0.0.1",
  port: 7001,
  owner: "token:aaa",
};

function setup() {
  const clock = new VirtualClock();
  let changes = 0;
  const r = new Registry({ graceMs: 5000, clock, onChange: () => void changes++ });
  /** attach, failing the test when the node id is taken. */
  const attach = (x: typeof reg) => {
    const d = r.attach(x);
    assert.equal(typeof d, "function", `refused: ${JSON.stringify(d)}`);
    return d as (end: StreamEnd) => void;
  };
  return { clock, r, attach, changes: () => changes };
}

test("a stream the proxy closed (or whose connection is gone) takes its instance at once", () => {
  const { r, attach, changes } = setup();
  const detach = attach(reg);
  assert.equal(r.list().length, 1);
  assert.equal(changes(), 1);
  detach("closed");
  detach("closed"); // idempotent
  assert.equal(r.list().length, 0, "no grace");
  assert.equal(changes(), 2);
});

test("a stream that failed on our side keeps the instance for the grace, then it leaves", () => {
  const { clock, r, attach, changes } = setup();
  attach(reg)("failed");
  clock.advance(4999);
  assert.equal(r.list().length, 1, "still there within grace");
  clock.advance(1);
  assert.equal(r.list().length, 0);
  assert.equal(changes(), 2);
});

test("a reconnect within the grace keeps the instance without a change", () => {
  const { clock, r, attach, changes } = setup();
  attach(reg)("failed");
  clock.advance(3000);
  const detach2 = attach(reg);
  clock.advance(10_000);
  assert.equal(r.list().length, 1);
  assert.equal(changes(), 1, "no leave, no re-join");
  detach2("closed");
  assert.equal(r.list().length, 0);
});

test("two streams of one identity: the instance leaves only after both end", () => {
  const { clock, r, attach } = setup();
  const d1 = attach(reg);
  const d2 = attach(reg);
  d1("closed");
  clock.advance(6000);
  assert.equal(r.list().length, 1);
  d2("closed");
  assert.equal(r.list().length, 0);
});

test("a live stream of another identity holds its node id; once gone, the node id is free", () => {
  const { clock, r, attach, changes } = setup();
  const d1 = attach(reg);
  const thief = r.attach({ ...reg, port: 6666, owner: "token:bbb" });
  assert.equal(typeof thief, "object");
  assert.deepEqual(
    (thief as { taken: { owner: string; port: number } }).taken,
    { ...reg, since: 0 },
    "names who holds it",
  );
  assert.deepEqual(
    r.list().map((x) => x.port),
    [7001],
    "the real instance is untouched",
  );
  assert.equal(changes(), 1);
  d1("failed");
  clock.advance(1000);
  // In its grace no live stream holds it: another identity may take it (its own credential
  // was checked for this service and address).
  attach({ ...reg, port: 7002, owner: "token:ccc" });
  assert.deepEqual(
    r.list().map((x) => `${x.port} ${x.owner}`),
    ["7002 token:ccc"],
  );
});

test("a reconnect from a new address replaces the instance and counts as a change", () => {
  const { r, attach, changes } = setup();
  attach(reg);
  attach({ ...reg, port: 7002 });
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
