// Issue 10 item 2 with real processes: requests of different lanes that share one traceparent never cross lanes; a gray request that loses its lane is counted.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  type AppKey,
  freePorts,
  type Proc,
  REPO,
  type Scenario,
  scenarioRules,
  startScenario,
  sumMetric,
  waitReady,
} from "../helpers/procs.js";

/*
 * The seed scenario of the demo (gateway, A, A gray, B, C, C gray, each with its sidecar; the apps
 * forward only `traceparent`). Each check reads two witnesses: the chain every response shows (the
 * instance of each hop, at its own port) and the gray instances' own inbound request counts.
 */

const IP = String.raw`127\.0\.0\.1`;

type Lane = "gray" | "base";
interface Outcome {
  sent: Lane | "ratio";
  status: number;
  body: string;
}

function traceparent(): string {
  return `00-${randomBytes(16).toString("hex")}-${randomBytes(8).toString("hex")}-01`;
}

/** The seed's ratio-mode rules (test/fixtures/seed-ratio.yaml) with `weight` % gray. */
function ratioRules(weight: number): string {
  const seed = readFileSync(join(REPO, "test/fixtures/seed-ratio.yaml"), "utf8");
  assert.match(seed, /weight: 30\n/);
  return seed.replace("weight: 30\n", `weight: ${weight}\n`);
}

describe("shared traceparent: lanes never cross", { timeout: 240_000 }, () => {
  let s: Scenario;
  before(async () => {
    s = await startScenario({ forward: "traceparent", rules: scenarioRules() });
  });
  after(async () => {
    await s?.close();
  });

  /** The chain each hop's instance shows: which A and which C answered (B has no gray). */
  function hops(body: string): { a: "a" | "ag"; c: "c" | "cg" } | null {
    const p = s.ports;
    const m = new RegExp(
      `^(A|Agray)\\[${IP}:(\\d+)\\]\\[config=base\\] -> B\\[${IP}:${p.b.app}\\] -> (C|Cgray)\\[${IP}:(\\d+)\\]\\n?$`,
    ).exec(body);
    if (m === null) return null;
    const a = m[1] === "Agray" ? "ag" : "a";
    const c = m[3] === "Cgray" ? "cg" : "c";
    if (Number(m[2]) !== p[a].app || Number(m[4]) !== p[c].app) return null;
    return { a, c };
  }

  /** Inbound requests each gray instance's sidecar served so far. */
  async function grayInbound(): Promise<Record<"ag" | "cg", number>> {
    const m = await s.metrics();
    const n = (k: AppKey) => sumMetric(m[k], "lanemesh_requests_total", { direction: "inbound" });
    return { ag: n("ag"), cg: n("cg") };
  }

  /** Requests counted as having lost their lane, over every sidecar. */
  async function ambiguous(): Promise<Record<AppKey, number>> {
    const m = await s.metrics();
    const n = (k: AppKey) => sumMetric(m[k], "lanemesh_lane_ambiguous_total", { tag: "gray" });
    return { a: n("a"), ag: n("ag"), b: n("b"), c: n("c"), cg: n("cg") };
  }

  const total = (r: Record<string, number>): number => Object.values(r).reduce((x, y) => x + y, 0);

  async function get(port: number, headers: Record<string, string>): Promise<Outcome> {
    const sent: Lane = headers.canary === "gray" ? "gray" : "base";
    try {
      const res = await fetch(`http://127.0.0.1:${port}/a`, { headers });
      return { sent, status: res.status, body: await res.text() };
    } catch (err) {
      return { sent, status: 0, body: String(err) };
    }
  }

  /** `pairs` pairs of one gray and one base request sent together with one traceparent per pair, `batch` pairs at a time. */
  async function sendPairs(
    pairs: number,
    batch: number,
    grayPort: number,
    basePort: number,
  ): Promise<Outcome[]> {
    const out: Outcome[] = [];
    for (let i = 0; i < pairs; i += batch) {
      const sent = Array.from({ length: Math.min(batch, pairs - i) }, () => {
        const tp = traceparent();
        return [
          get(grayPort, { canary: "gray", traceparent: tp }),
          get(basePort, { traceparent: tp }),
        ];
      }).flat();
      out.push(...(await Promise.all(sent)));
    }
    return out;
  }

  interface Figures {
    /** Base requests whose chain touched a gray instance. */
    baseToGray: number;
    /** Gray requests that reached A gray but not C gray. */
    grayLost: number;
    grayAtCg: number;
    grayAtAg: number;
    failed: string[];
  }

  function figures(outcomes: readonly Outcome[]): Figures {
    const f: Figures = { baseToGray: 0, grayLost: 0, grayAtCg: 0, grayAtAg: 0, failed: [] };
    for (const o of outcomes) {
      const h = o.status === 200 ? hops(o.body) : null;
      if (h === null) {
        f.failed.push(`${o.sent} ${o.status} ${o.body.trim()}`);
        continue;
      }
      if (o.sent === "base" && (h.a === "ag" || h.c === "cg")) f.baseToGray++;
      if (o.sent === "gray") {
        if (h.a === "ag") f.grayAtAg++;
        if (h.c === "cg") f.grayAtCg++;
        else f.grayLost++;
      }
    }
    return f;
  }

  it("100 pairs of concurrent gray and base requests, one traceparent per pair, through one gateway", async () => {
    const in0 = await grayInbound();
    const amb0 = await ambiguous();
    const restarted0 = sumMetric((await s.metrics()).gateway, "lanemesh_trace_restarted_total");
    const outcomes = await sendPairs(100, 10, s.gatewayPort, s.gatewayPort);
    const f = figures(outcomes);
    const in1 = await grayInbound();
    const amb1 = total(await ambiguous()) - total(amb0);
    const restarted =
      sumMetric((await s.metrics()).gateway, "lanemesh_trace_restarted_total") - restarted0;
    const report = `figures ${JSON.stringify(f)}, gray instances' inbound +${in1.ag - in0.ag}/+${in1.cg - in0.cg}, ambiguous +${amb1}, restarted ${restarted}`;
    process.stdout.write(`# one gateway, 100 pairs: ${report}\n`);
    assert.deepEqual(f.failed, [], report);
    assert.equal(f.baseToGray, 0, report);
    assert.equal(f.grayAtAg, 100, report);
    // The gray instances served exactly the gray requests, nothing else.
    assert.equal(in1.ag - in0.ag, 100, report);
    assert.equal(in1.cg - in0.cg, f.grayAtCg, report);
    // Every gray request that did not reach C gray is counted; here the gateway gave the second
    // request of each pair a fresh trace, so none lost its lane.
    assert.equal(amb1, f.grayLost, report);
    assert.equal(f.grayLost, 0, report);
    assert.equal(restarted, 100, report);
  });

  it("100 pairs through two gateways (base through one, gray through the other): the sidecars' rule alone keeps base out of gray", async () => {
    const [port, admin] = (await freePorts(2)) as [number, number];
    const gw2: Proc = s.procs.spawn("gateway 2", [
      "gateway",
      "--port",
      String(port),
      "--admin-port",
      String(admin),
      "--bind",
      "127.0.0.1",
      "--drain-seconds",
      "1",
      "--rules",
      s.rulesFile,
      "--discovery",
      `static:${join(s.dir, "endpoints.yaml")}`,
    ]);
    await waitReady(gw2, admin);
    const in0 = await grayInbound();
    const amb0 = await ambiguous();
    const outcomes = await sendPairs(100, 10, port, s.gatewayPort);
    const f = figures(outcomes);
    const in1 = await grayInbound();
    const amb = await ambiguous();
    const counted = total(amb) - total(amb0);
    const report = `figures ${JSON.stringify(f)}, gray instances' inbound +${in1.ag - in0.ag}/+${in1.cg - in0.cg}, ambiguous +${counted} (B +${amb.b - amb0.b})`;
    process.stdout.write(`# two gateways, 100 pairs: ${report}\n`);
    await gw2.kill();
    assert.deepEqual(f.failed, [], report);
    assert.equal(f.baseToGray, 0, report);
    assert.equal(f.grayAtAg, 100, report);
    assert.equal(in1.ag - in0.ag, 100, report);
    assert.equal(in1.cg - in0.cg, f.grayAtCg, report);
    // B is the one sidecar that sees both lanes of every trace: each pair is one count there,
    // whichever request came first, and every gray request that lost its lane is among them.
    assert.equal(amb.b - amb0.b, 100, report);
    assert.equal(counted, 100, report);
    assert.ok(f.grayLost <= counted, report);
  });

  it("ratio mode (weight 50): 200 requests in groups of 8 sharing one traceparent; every chain is consistent", async () => {
    await s.setRules(ratioRules(50));
    const in0 = await grayInbound();
    const amb0 = total(await ambiguous());
    const restarted0 = sumMetric((await s.metrics()).gateway, "lanemesh_trace_restarted_total");
    const outcomes: Outcome[] = [];
    for (let g = 0; g < 25; g += 5) {
      const groups = Array.from({ length: 5 }, () => {
        const tp = traceparent();
        return Array.from({ length: 8 }, () =>
          fetch(`http://127.0.0.1:${s.gatewayPort}/a`, { headers: { traceparent: tp } }).then(
            async (r): Promise<Outcome> => ({
              sent: "ratio",
              status: r.status,
              body: await r.text(),
            }),
            (err): Outcome => ({ sent: "ratio", status: 0, body: String(err) }),
          ),
        );
      });
      outcomes.push(...(await Promise.all(groups.flat())));
    }
    const in1 = await grayInbound();
    const amb = total(await ambiguous()) - amb0;
    const restarted =
      sumMetric((await s.metrics()).gateway, "lanemesh_trace_restarted_total") - restarted0;
    let gray = 0;
    let base = 0;
    const mixed: string[] = [];
    // Per group: the gateway restarts the requests of the lane its first request did not take,
    // so between the smaller and the larger lane's count of the group.
    let fewest = 0;
    let most = 0;
    for (let g = 0; g < outcomes.length; g += 8) {
      let groupGray = 0;
      for (const o of outcomes.slice(g, g + 8)) {
        const h = o.status === 200 ? hops(o.body) : null;
        assert.ok(h !== null, `${o.status} ${o.body}`);
        if (h.a === "ag" && h.c === "cg") {
          gray++;
          groupGray++;
        } else if (h.a === "a" && h.c === "c") base++;
        else mixed.push(o.body.trim());
      }
      if (groupGray > 0 && groupGray < 8) {
        fewest += Math.min(groupGray, 8 - groupGray);
        most += Math.max(groupGray, 8 - groupGray);
      }
    }
    const report = `gray ${gray}, base ${base}, mixed ${mixed.length}, gray instances' inbound +${in1.ag - in0.ag}/+${in1.cg - in0.cg}, ambiguous +${amb}, restarted ${restarted} (expected ${fewest}..${most})`;
    process.stdout.write(`# ratio 50, 200 requests in groups of 8: ${report}\n`);
    assert.deepEqual(mixed, [], report);
    assert.equal(gray + base, 200, report);
    // Both lanes were drawn (p of a one-sided draw over 200 at 50 % is 2^-199).
    assert.ok(gray > 0 && base > 0, report);
    // A gray instance served only gray chains: no base request reached one.
    assert.equal(in1.ag - in0.ag, gray, report);
    assert.equal(in1.cg - in0.cg, gray, report);
    assert.equal(amb, 0, report);
    assert.ok(restarted >= fewest && restarted <= most, report);
  });
});
