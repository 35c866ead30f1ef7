// `lanemesh demo --check`: sends N requests through the gateway and tallies each lane's share and each hop's versions from the chain answers; tallying is pure, sending is the only I/O.
import { Pool } from "undici";
import { DEMO_APPS } from "./topology.js";

/** One hop of an answer: `Agray[127.0.0.1:41237]…` → app A, tag gray. */
export interface HopVersion {
  /** The app's name as it answers (`A`). */
  app: string;
  /** null = base. */
  tag: string | null;
}

const APP_NAMES = [...new Set(DEMO_APPS.map((a) => a.name))].sort((x, y) => y.length - x.length);
/** The tags each app has a version for (A: gray; B: none). */
const TAGS_OF = new Map<string, Set<string>>();
for (const a of DEMO_APPS) {
  const tags = TAGS_OF.get(a.name) ?? new Set<string>();
  if (a.tag !== null) tags.add(a.tag);
  TAGS_OF.set(a.name, tags);
}

/** The hops of a chain answer, or null when it is not one (an error text, a cut chain). */
export function parseChain(body: string): HopVersion[] | null {
  const hops: HopVersion[] = [];
  for (const part of body.trim().split(" -> ")) {
    const bracket = part.indexOf("[");
    if (bracket <= 0 || !part.endsWith("]")) return null;
    const label = part.slice(0, bracket);
    const app = APP_NAMES.find((n) => label.startsWith(n));
    if (app === undefined) return null;
    const tag = label.slice(app.length);
    hops.push({ app, tag: tag === "" ? null : tag });
  }
  return hops.length > 0 ? hops : null;
}

/**
 * The lane a chain took (its first hop's tag) and whether every hop agrees with it: the lane's
 * version where the app has one, base where it has none (B serves gray traffic from base).
 */
export function chainLane(hops: readonly HopVersion[]): {
  lane: string | null;
  consistent: boolean;
} {
  const lane = hops[0]?.tag ?? null;
  const consistent = hops.every((h) => {
    const want = lane !== null && (TAGS_OF.get(h.app)?.has(lane) ?? false) ? lane : null;
    return h.tag === want;
  });
  return { lane, consistent };
}

export interface Tally {
  sent: number;
  /** Non-2xx answers, transport errors and answers that are not a chain. */
  failed: number;
  /** Chains by lane (`base` for none). */
  lanes: Map<string, number>;
  /** Per hop position: counts by version label (`A`, `Agray`). */
  hops: Map<string, number>[];
  /** Chains whose hops disagree with their lane (a gray A calling a base C, …). */
  inconsistent: number;
  /** Content mode: chains whose lane is not the one the request asked for. */
  wrongLane: number;
}

export function emptyTally(): Tally {
  return { sent: 0, failed: 0, lanes: new Map(), hops: [], inconsistent: 0, wrongLane: 0 };
}

/** Count one answer; `expectedLane` (content mode) is the lane the request's header asks for. */
export function record(
  t: Tally,
  status: number | null,
  body: string,
  expectedLane?: string | null,
): void {
  t.sent++;
  const hops = status !== null && status >= 200 && status < 300 ? parseChain(body) : null;
  if (hops === null) {
    t.failed++;
    return;
  }
  const { lane, consistent } = chainLane(hops);
  const key = lane ?? "base";
  t.lanes.set(key, (t.lanes.get(key) ?? 0) + 1);
  hops.forEach((h, i) => {
    const m = t.hops[i] ?? new Map<string, number>();
    t.hops[i] = m;
    const label = `${h.app}${h.tag ?? ""}`;
    m.set(label, (m.get(label) ?? 0) + 1);
  });
  if (!consistent) t.inconsistent++;
  if (expectedLane !== undefined && lane !== expectedLane) t.wrongLane++;
}

function pct(n: number, of: number): string {
  return `${of === 0 ? "0.0" : ((100 * n) / of).toFixed(1)} %`;
}

/** The report, one fact per line: `lane gray: 30.2 % (604 of 2000)`. */
export function formatTally(t: Tally, opts: { contentMode: boolean }): string {
  const answered = t.sent - t.failed;
  const lines: string[] = [];
  const lanes = [...t.lanes.entries()].sort((a, b) => b[1] - a[1]);
  if (!lanes.some(([l]) => l === "gray")) lanes.push(["gray", 0]);
  for (const [lane, n] of lanes)
    lines.push(`lane ${lane}: ${pct(n, answered)} (${n} of ${answered})`);
  t.hops.forEach((m, i) => {
    const parts = [...m.entries()]
      .sort((a, b) => a[0].localeCompare(b[0]))
      .map(([label, n]) => `${label} ${pct(n, answered)} (${n})`);
    lines.push(`hop ${i + 1}: ${parts.join(", ")}`);
  });
  lines.push(`failed: ${t.failed} of ${t.sent}`);
  lines.push(`chains whose hops disagree with their lane: ${t.inconsistent}`);
  if (opts.contentMode)
    lines.push(`chains in another lane than the header asked for: ${t.wrongLane}`);
  return `${lines.join("\n")}\n`;
}

/** True when the run found nothing wrong (the share itself is for the reader to judge). */
export function tallyOk(t: Tally): boolean {
  return t.sent > 0 && t.failed === 0 && t.inconsistent === 0 && t.wrongLane === 0;
}

export interface CheckOptions {
  /** `http://127.0.0.1:8080` */
  origin: string;
  path: string;
  requests: number;
  concurrency: number;
  /** Content mode: every other request carries this header and must take its lane. */
  header?: { name: string; value: string; lane: string };
  signal?: AbortSignal;
}

/** Send the requests, `concurrency` at a time over kept-alive connections, and tally them. */
export async function runCheck(opts: CheckOptions): Promise<Tally> {
  const pool = new Pool(opts.origin, { connections: opts.concurrency });
  const t = emptyTally();
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < opts.requests && !opts.signal?.aborted) {
      const i = next++;
      const marked = opts.header !== undefined && i % 2 === 1;
      const headers: Record<string, string> =
        marked && opts.header ? { [opts.header.name]: opts.header.value } : {};
      const expected = opts.header === undefined ? undefined : marked ? opts.header.lane : null;
      try {
        const res = await pool.request({ method: "GET", path: opts.path, headers });
        record(t, res.statusCode, await res.body.text(), expected);
      } catch {
        record(t, null, "", expected);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, opts.concurrency) }, worker));
  } finally {
    await pool.close();
  }
  return t;
}
