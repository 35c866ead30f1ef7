// A sidecar taking the fan-out's 10,000-lane config from its control plane, in one process: the first whole snapshot, then toggles of one lane (as deltas when the build has them), each made whole, checked and compiled; it prints ms per step and never asserts.
// Run: node dist/bench/sidecar-apply.bench.js [--root DIR] [--lanes 10000] [--toggles 7]
//      (--root: another build's checkout, e.g. main's, whose dist/ is timed instead; it must have
//      dist/src; the snapshots are built with this checkout's bench resources)
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { largeLane, largeSetBatches } from "./macro/fanout-resources.js";

const { values } = parseArgs({
  options: {
    root: { type: "string" },
    lanes: { type: "string", default: "10000" },
    toggles: { type: "string", default: "7" },
  },
});
const here = fileURLToPath(new URL("../../", import.meta.url));
const root = resolve(values.root ?? here);
const load = (path: string) =>
  import(join(root, "dist/src", path)) as Promise<Record<string, never>>;

type Docs = { version: string; epoch: string; routes: string[]; lanes: string[] } & Record<
  string,
  unknown
>;
type Checked =
  | { ok: true; rules: unknown; endpoints: unknown[]; version: string }
  | { ok: false; error: string };

const { buildSnapshot } = (await load("control-plane/snapshot.js")) as unknown as {
  buildSnapshot: (st: object, resources: unknown[], reg: unknown[]) => Docs & { names?: unknown };
};
const { checkSnapshot } = (await load("protocol/snapshot-check.js")) as unknown as {
  checkSnapshot: (s: Docs) => Checked;
};
const { LiveConfig } = (await load("live/live-config.js")) as unknown as {
  LiveConfig: new () => { setAll(r: unknown, e: unknown[], v: string, at: number): void };
};
/** This build's delta and incremental check, when it has them. */
const delta = await load("protocol/delta.js").catch(() => undefined);
const incoming = await load("sync/incoming.js").catch(() => undefined);
type Inc = {
  whole(
    s: object,
    held: object | undefined,
  ): { ok: true; snapshot: Docs } | { ok: false; error: string };
  check(s: Docs): Checked;
  taken(ok: boolean): void;
};
const Incoming = (incoming as unknown as { Incoming?: new () => Inc } | undefined)?.Incoming;
const diffDocs = (
  delta as unknown as { diffDocs?: (a: object, b: object) => object | null } | undefined
)?.diffDocs;

const live = new LiveConfig();
const inc = Incoming ? new Incoming() : undefined;
let resources = largeSetBatches(Number(values.lanes)).flat();
const st = (v: number) => ({ version: v, epoch: "e", adopts: [] });
let prev = buildSnapshot(st(1), resources, []);
let held: Docs | undefined;
const ms = (d: number, digits = 0) => d.toFixed(digits).padStart(6);
process.stdout.write(
  `${root}: ${Number(values.lanes)} lanes, ${Incoming ? "deltas" : "whole snapshots"}\n`,
);
for (let v = 1; v <= 1 + Number(values.toggles); v++) {
  let message: object = prev;
  if (v > 1) {
    resources = resources.map((d) =>
      (d as { metadata?: { name?: string } }).metadata?.name === "lane-0"
        ? largeLane(0, v % 2 === 1)
        : d,
    );
    const next = buildSnapshot(st(v), resources, []);
    const d =
      diffDocs && inc
        ? diffDocs({ docs: prev, names: prev.names }, { docs: next, names: next.names })
        : null;
    message = d ? { ...next, ...d, baseVersion: prev.version } : next;
    prev = next;
  }
  const t0 = performance.now();
  const whole = inc ? inc.whole(message, held) : { ok: true as const, snapshot: message as Docs };
  if (!whole.ok) throw new Error(whole.error);
  const t1 = performance.now();
  const c = inc ? inc.check(whole.snapshot) : checkSnapshot(whole.snapshot);
  if (!c.ok) throw new Error(c.error);
  const t2 = performance.now();
  live.setAll(c.rules, c.endpoints, c.version, Date.now());
  inc?.taken(true);
  const t3 = performance.now();
  held = whole.snapshot;
  process.stdout.write(
    `${v === 1 ? "whole " : "toggle"} v${v}: make whole ${ms(t1 - t0, 1)} ms, check ${ms(t2 - t1)} ms, compile ${ms(t3 - t2)} ms\n`,
  );
}
process.stdout.write(`RSS ${(process.memoryUsage().rss / 1e6).toFixed(0)} MB\n`);
