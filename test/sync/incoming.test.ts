// A proxy taking deltas: it says so in its hello, makes each delta whole from the config it holds (in force, ACKed, persisted whole), NACKs one whose base it does not hold, and checks unchanged documents without parsing them again.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { LiveConfig } from "../../src/live/live-config.js";
import { checkSnapshot } from "../../src/protocol/snapshot-check.js";
import { FEATURE_DELTA, type SnapshotMessage } from "../../src/protocol/wire.js";
import { startSync } from "../../src/sync/client.js";
import { Incoming } from "../../src/sync/incoming.js";
import { ProxyMetrics } from "../../src/telemetry/metrics.js";
import {
  FakeControlPlane,
  headerLane,
  instance,
  mallRules,
  silentLog,
  snapshotOf,
  tempDir,
  when,
} from "../helpers/sync-fixtures.js";

const GOOD = [...mallRules(), instance("a-base", "sc-a", 7001)];

/** `s` as a delta from `base`: the given documents (by kind) and removed names. */
function deltaOf(
  version: string,
  nonce: string,
  base: string,
  docs: unknown[],
  removed: string[] = [],
): SnapshotMessage {
  return { ...snapshotOf(version, nonce, docs), baseVersion: base, removed };
}

/** A gateway synced from the fake control plane; closed, with `cp` and `cleanup`, after the test. */
function gateway(
  t: { after: (fn: () => Promise<void>) => void },
  cp: FakeControlPlane,
  stateFile: string,
  cleanup: () => void,
) {
  const metrics = new ProxyMetrics();
  const live = new LiveConfig({ metrics });
  const sub = startSync({
    target: cp.target,
    hello: { nodeId: "gw", role: "gateway", gateway: "default" },
    live,
    metrics,
    stateFile,
    log: silentLog,
    backoff: { initialMs: 50, maxMs: 200 },
  });
  t.after(async () => {
    await sub.close();
    cp.stop();
    cleanup();
  });
  return { live, sub };
}

test("a delta is made whole from the config held, put in force, ACKed and persisted whole", async (t) => {
  const dir = tempDir("sync-delta");
  const cp = new FakeControlPlane();
  await cp.listen();
  cp.onHello = () => snapshotOf("1", "n1", GOOD);
  const stateFile = join(dir.path, "state.json");
  const { live, sub } = gateway(t, cp, stateFile, dir.remove);
  const at = (version: string) =>
    when(
      (cb) => live.onChange(cb),
      () => live.current()?.version === version,
      `at ${version}`,
    );
  assert.deepEqual((await cp.hello()).features, [FEATURE_DELTA], "the hello says it takes deltas");
  await at("1");

  // The gray lane changed, a blue lane added, the instance removed.
  const gray = headerLane("gray", "mall", "gray2");
  cp.push(deltaOf("2", "n2", "1", [gray, headerLane("blue", "mall", "blue")], ["Instance/a-base"]));
  assert.deepEqual(await cp.answer("n2"), { kind: "ack", ack: { version: "2", nonce: "n2" } });
  await at("2");
  const c = live.current();
  assert.deepEqual(
    c?.rules.lanes.map((l) => [l.metadata.name, l.spec.tag]),
    [
      ["gray", "gray2"],
      ["blue", "blue"],
    ],
  );
  assert.equal(c?.endpoints.length, 0);
  await sub.close();
  const saved = JSON.parse(readFileSync(stateFile, "utf8")) as SnapshotMessage;
  assert.deepEqual(
    [saved.version, saved.routes.length, saved.groups.length, saved.lanes.length, saved.endpoints],
    ["2", 1, 1, 2, []],
    "the whole config is persisted, not the delta",
  );
  assert.equal("baseVersion" in saved, false);
});

test("a delta from a version the proxy does not hold is NACKed and changes nothing; the whole one after it is taken", async (t) => {
  const dir = tempDir("sync-delta-base");
  const cp = new FakeControlPlane();
  await cp.listen();
  cp.onHello = () => snapshotOf("3", "n3", GOOD);
  const { live } = gateway(t, cp, join(dir.path, "state.json"), dir.remove);
  await cp.answer("n3");
  cp.push(deltaOf("4", "n4", "2", [headerLane("blue", "mall", "blue")]));
  const nack = await cp.answer("n4");
  assert.equal(nack.kind, "nack");
  assert.equal(nack.kind === "nack" && nack.nack.version, "3");
  assert.match(
    nack.kind === "nack" ? nack.nack.error : "",
    /delta from version 2.*holds version 3/,
  );
  cp.push(deltaOf("5", "n5", "3", [], ["Lane/nope"]));
  const nack5 = await cp.answer("n5");
  assert.match(nack5.kind === "nack" ? nack5.nack.error : "", /Lane\/nope, which is not held/);
  assert.equal(live.current()?.version, "3");
  cp.push(snapshotOf("5", "n5w", [...GOOD, headerLane("blue", "mall", "blue")]));
  assert.equal((await cp.answer("n5w")).kind, "ack");
  assert.equal(live.current()?.rules.lanes.length, 2);
});

test("Incoming checks a snapshot as checkSnapshot does, reusing the documents of the one taken before", () => {
  const inc = new Incoming();
  const one = snapshotOf("1", "n", GOOD);
  const first = inc.check(one);
  inc.taken(first.ok);
  assert.deepEqual(first, checkSnapshot(one));
  const two = snapshotOf("2", "n", [...GOOD, headerLane("blue", "mall", "blue")]);
  const second = inc.check(two);
  inc.taken(second.ok);
  assert.deepEqual(second, checkSnapshot(two), "same result with the unchanged documents reused");
  // A batch rule still sees reused documents: a second lane with gray's tag in mall is refused.
  const clash = snapshotOf("3", "n", [...GOOD, headerLane("gray-2", "mall", "gray")]);
  const third = inc.check(clash);
  inc.taken(third.ok);
  assert.deepEqual(third, checkSnapshot(clash));
  assert.ok(!third.ok && /already has tag gray/.test(third.error));
  // Refused: the documents kept are still the last taken ones; the next check is as good.
  const fourth = inc.check(two);
  assert.deepEqual(fourth, checkSnapshot(two));
});

test("Incoming.whole takes a delta only on the version and epoch held; a whole snapshot needs none", () => {
  const inc = new Incoming();
  const held = snapshotOf("3", "n3", GOOD, "e1");
  const blue = headerLane("blue", "mall", "blue");
  const ok = inc.whole(deltaOf("4", "n4", "3", [blue]), held);
  assert.ok(ok.ok && ok.snapshot.lanes.length === 2 && ok.snapshot.version === "4");
  const otherEpoch = inc.whole({ ...deltaOf("4", "n4", "3", [blue]), epoch: "e2" }, held);
  assert.ok(!otherEpoch.ok && /epoch e2.*holds version 3 \(epoch e1\)/.test(otherEpoch.error));
  const nothing = inc.whole(deltaOf("4", "n4", "3", [blue]), undefined);
  assert.ok(!nothing.ok && /holds none/.test(nothing.error));
  const whole = inc.whole(snapshotOf("9", "n9", GOOD, "e2", ["e1"]), undefined);
  assert.ok(whole.ok && whole.snapshot.epoch === "e2");
  assert.deepEqual(whole.snapshot.adopts, ["e1"]);
  // Adopts travel with a delta as with a whole snapshot.
  const adopting = inc.whole({ ...deltaOf("4", "n4", "3", []), adopts: ["e0"] }, held);
  assert.ok(adopting.ok);
  assert.deepEqual(adopting.snapshot.adopts, ["e0"]);
});
