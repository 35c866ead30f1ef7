// The file store: a committed state reads back the same after a reopen, one document per line, each serialized once per object.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { FileStore } from "../../src/control-plane/store.js";
import { headerLane, mallRules, tempDir } from "../helpers/sync-fixtures.js";

test("commits read back the same after a reopen, whatever was changed between them", async (t) => {
  const dir = tempDir("store");
  t.after(() => dir.remove());
  const store = await FileStore.open(dir.path);
  const st = store.state();
  const reg = {
    nodeId: "n",
    service: "s",
    tag: null,
    address: "10.0.0.1",
    port: 80,
    since: 5,
    owner: "",
  };
  const first = [...mallRules(), headerLane("blue", "mall", "blue")];
  await store.commit({ ...st, version: 1, resources: first, registrations: [reg] });
  const second = [...first.slice(0, 3), headerLane("blue", "mall", "cyan"), { odd: '\u2028"x"' }];
  await store.commit({ ...st, version: 2, adopts: ["e0"], resources: second, registrations: [] });
  const text = readFileSync(join(dir.path, "resources.json"), "utf8");
  assert.equal(text.split("\n").filter((l) => l.startsWith('{"apiVersion"')).length, 4);
  const again = await FileStore.open(dir.path);
  assert.deepEqual(again.state(), {
    version: 2,
    epoch: st.epoch,
    adopts: ["e0"],
    resources: second,
    registrations: [],
  });
});
