// The macro benchmark's result shapes, their per-peer summaries (medians over repetitions) and the
// markdown tables; pure functions, no I/O and no measuring.
import type { FanoutResult } from "./fanout.js";
import type { Background } from "./procs.js";
import { type LoadResult, median, range } from "./stats.js";
import type { MachineFacts } from "./tools.js";
import type { WrkResult } from "./wrk.js";

/** One visit of one peer in one repetition. */
export interface RepResult {
  rep: number;
  /** Position of the peer in this repetition's round-robin order (0 = first). */
  position: number;
  c1: LoadResult | null;
  open: LoadResult | null;
  /** CPU seconds of each measured process during the open-loop run, and its wall time. */
  openCpuS: number[];
  openWallS: number;
  /** Requests the proxy served during the open-loop run (measured + connection warm-up). */
  openServed: number;
  /** Maximum VmRSS (MB) of each measured process sampled during the open-loop run. */
  openRssMB: number[];
  wrk: WrkResult | null;
  /** CPU seconds of each measured process during the wrk run. */
  wrkCpuS: number[];
  /** CPU that processes outside the benchmark used during this visit (shared machine). */
  background: Background | null;
  errors: string[];
}

/** A value for the whole path and for each measured process (full hop: outbound, inbound). */
export interface PerProcess {
  total: number;
  each: number[];
}

export interface PeerSummary {
  rps: number;
  rpsRange: [number, number];
  ratioToDirect: number;
  ratioToNginx: number;
  /** Median over repetitions of this peer's req/s over http-proxy's in the same repetition. */
  ratioToHttpProxy: number;
  c1: { p50: number; p99: number };
  c1Added: { p50: number; p99: number };
  open: { p50: number; p90: number; p99: number };
  openAdded: { p50: number; p90: number; p99: number };
  cpuPer1kSaturationS: PerProcess | null;
  cpuPer1kAt1kS: PerProcess | null;
  vcpuAt1k: PerProcess | null;
  rssAt1kMB: PerProcess | null;
  peakRssMB: PerProcess | null;
  /** wrk socket errors + non-2xx + generator errors, summed over every repetition. */
  failedRequests: number;
}

export interface PeerResult {
  name: string;
  proxies: number;
  description: string;
  status: "ok" | "failed";
  error?: string;
  warnings: string[];
  /** Roles of the measured processes, in the order of every per-process array. */
  processes: string[];
  reps: RepResult[];
  /** VmHWM of each measured process just before it was stopped. */
  peakRssMB: number[] | null;
  summary: PeerSummary | null;
}

export interface Settings {
  reps: number;
  warmupS: number;
  wrk: { threads: number; connections: number; seconds: number };
  c1: { connections: number; seconds: number };
  open: { rate: number; connections: number; seconds: number };
  requestHeaders: Record<string, string>;
}

export interface BenchResult {
  schema: 1;
  date: string;
  mode: "quick" | "full";
  command: string;
  machine: MachineFacts & { loadAverageEnd: number[] };
  settings: Settings;
  durationS: number;
  peers: PeerResult[];
  fanout: FanoutResult;
}

function perProcess(rows: number[][]): PerProcess | null {
  if (rows.length === 0 || rows[0]?.length === 0) return null;
  const width = rows[0]?.length ?? 0;
  const each = Array.from({ length: width }, (_, i) => median(rows.map((r) => r[i])));
  const total = median(rows.map((r) => r.reduce((a, b) => a + b, 0)));
  return { total, each };
}

/** Fills `summary` of every peer; ratios and added latency pair each rep with the same rep's peers. */
export function summarize(peers: PeerResult[]): void {
  const byName = new Map(peers.map((p) => [p.name, p]));
  const repOf = (name: string, rep: number) => byName.get(name)?.reps.find((r) => r.rep === rep);
  for (const peer of peers) {
    if (peer.reps.length === 0) continue;
    const reps = peer.reps;
    const ratio = (other: string) =>
      median(
        reps.map((r) => (r.wrk?.rps ?? Number.NaN) / (repOf(other, r.rep)?.wrk?.rps ?? Number.NaN)),
      );
    const added = (pick: (r: RepResult) => number | undefined) =>
      median(
        reps.map((r) => {
          const d = repOf("direct", r.rep);
          return (pick(r) ?? Number.NaN) - (d === undefined ? Number.NaN : (pick(d) ?? Number.NaN));
        }),
      );
    const c1p50 = (r: RepResult) => r.c1?.latencyUs.p50;
    const c1p99 = (r: RepResult) => r.c1?.latencyUs.p99;
    const op50 = (r: RepResult) => r.open?.latencyUs.p50;
    const op90 = (r: RepResult) => r.open?.latencyUs.p90;
    const op99 = (r: RepResult) => r.open?.latencyUs.p99;
    const measured = peer.processes.length > 0;
    const satRows = reps
      .filter((r) => r.wrk !== null && r.wrk.requests > 0)
      .map((r) => r.wrkCpuS.map((c) => (c / (r.wrk?.requests ?? 1)) * 1000));
    const at1kRows = reps
      .filter((r) => r.openServed > 0)
      .map((r) => r.openCpuS.map((c) => (c / r.openServed) * 1000));
    const vcpuRows = reps
      .filter((r) => r.openWallS > 0)
      .map((r) => r.openCpuS.map((c) => c / r.openWallS));
    const first = reps.find((r) => r.rep === 0) ?? reps[0];
    peer.summary = {
      rps: median(reps.map((r) => r.wrk?.rps)),
      rpsRange: range(reps.map((r) => r.wrk?.rps)),
      ratioToDirect: ratio("direct"),
      ratioToNginx: ratio("nginx"),
      ratioToHttpProxy: ratio("http-proxy"),
      c1: { p50: median(reps.map(c1p50)), p99: median(reps.map(c1p99)) },
      c1Added: { p50: added(c1p50), p99: added(c1p99) },
      open: {
        p50: median(reps.map(op50)),
        p90: median(reps.map(op90)),
        p99: median(reps.map(op99)),
      },
      openAdded: { p50: added(op50), p90: added(op90), p99: added(op99) },
      cpuPer1kSaturationS: measured ? perProcess(satRows) : null,
      cpuPer1kAt1kS: measured ? perProcess(at1kRows) : null,
      vcpuAt1k: measured ? perProcess(vcpuRows) : null,
      rssAt1kMB: measured && first !== undefined ? perProcess([first.openRssMB]) : null,
      peakRssMB: peer.peakRssMB === null ? null : perProcess([peer.peakRssMB]),
      failedRequests: reps.reduce(
        (n, r) =>
          n +
          (r.wrk ? r.wrk.socketErrors + r.wrk.non2xx : 0) +
          (r.c1 ? r.c1.errors + r.c1.non2xx : 0) +
          (r.open ? r.open.errors + r.open.non2xx : 0),
        0,
      ),
    };
  }
}

const fmt = (v: number, digits = 0) => (Number.isFinite(v) ? v.toFixed(digits) : "—");
const signed = (v: number) => (Number.isFinite(v) ? `${v >= 0 ? "+" : ""}${v.toFixed(0)}` : "—");

function fmtPer(p: PerProcess | null, digits: number): string {
  if (p === null) return "—";
  const total = fmt(p.total, digits);
  return p.each.length > 1 ? `${total} (${p.each.map((v) => fmt(v, digits)).join(" + ")})` : total;
}

function row(cells: string[]): string {
  return `| ${cells.map((c) => c.replaceAll("|", "/")).join(" | ")} |`;
}

/**
 * Pads every markdown table of `lines` to aligned columns, the way the project's formatter (Biome)
 * writes them, so a table pasted into a README passes `biome check` as it is.
 */
export function alignTables(lines: string[]): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < lines.length) {
    if (!(lines[i] as string).startsWith("| ")) {
      out.push(lines[i] as string);
      i++;
      continue;
    }
    const block: string[][] = [];
    while (i < lines.length && (lines[i] as string).startsWith("| ")) {
      block.push((lines[i] as string).slice(2, -2).split(" | "));
      i++;
    }
    const sep = block[1] ?? [];
    const right = sep.map((c) => c.endsWith(":"));
    const width = sep.map((_, col) =>
      Math.max(3, ...block.map((r, n) => (n === 1 ? 0 : (r[col] ?? "").length))),
    );
    for (const [n, r] of block.entries()) {
      const cells = width.map((w, col) => {
        if (n === 1) return right[col] ? `${"-".repeat(w - 1)}:` : "-".repeat(w);
        const c = r[col] ?? "";
        return right[col] ? c.padStart(w) : c.padEnd(w);
      });
      out.push(`| ${cells.join(" | ")} |`);
    }
  }
  return out;
}

/** The three tables (throughput, added latency, resources), plus fan-out, as markdown. */
export function markdown(result: BenchResult): string {
  const out: string[] = [];
  const s = result.settings;
  const m = result.machine;
  out.push(
    `Run ${result.date} (${result.mode}, ${s.reps} repetitions, peers interleaved round-robin; medians): \`${result.command}\``,
    "",
    `Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryMB} MB, ${m.os}, ${m.kernel}; Node ${m.node}, ${m.nginx}, ${m.haproxy}, ${m.wrk}. ` +
      `Load average at start ${m.loadAverageStart.join(" ")}, at end ${m.loadAverageEnd.join(" ")}. Nothing pinned: upstream, proxies and load generator share the cores.`,
    "",
  );
  const ok = result.peers;
  if (ok.length === 0) {
    // --fanout-only
    out.push(...fanoutMarkdown(result.fanout));
    return `${alignTables(out).join("\n")}\n`;
  }
  out.push(
    `**Throughput** (wrk -t${s.wrk.threads} -c${s.wrk.connections} -d${s.wrk.seconds}s, closed loop):`,
    "",
    row([
      "peer",
      "proxies",
      "req/s",
      "min–max",
      "× direct",
      "× nginx",
      "× http-proxy",
      "failed req.",
    ]),
    row(["---", "--:", "--:", "--:", "--:", "--:", "--:", "--:"]),
  );
  for (const p of ok) {
    const x = p.summary;
    if (p.status === "failed" || x === null) {
      out.push(
        row([p.name, String(p.proxies), `failed: ${firstLine(p.error)}`, "", "", "", "", ""]),
      );
      continue;
    }
    out.push(
      row([
        p.name,
        String(p.proxies),
        fmt(x.rps),
        `${fmt(x.rpsRange[0])}–${fmt(x.rpsRange[1])}`,
        fmt(x.ratioToDirect, 2),
        fmt(x.ratioToNginx, 2),
        fmt(x.ratioToHttpProxy, 2),
        String(x.failedRequests),
      ]),
    );
  }
  out.push(
    "",
    `**Latency added over direct**, µs (peer minus direct in the same repetition; the direct row is absolute). ` +
      `c=1: closed loop on one connection, ${s.c1.seconds}s; 1k rps: open loop at ${s.open.rate} req/s over ${s.open.connections} connections, ${s.open.seconds}s, from the scheduled send time:`,
    "",
    row(["peer", "c=1 p50", "c=1 p99", "1k rps p50", "1k rps p90", "1k rps p99"]),
    row(["---", "--:", "--:", "--:", "--:", "--:"]),
  );
  for (const p of ok) {
    const x = p.summary;
    if (x === null) continue;
    if (p.name === "direct") {
      out.push(
        row([
          "direct (absolute)",
          fmt(x.c1.p50),
          fmt(x.c1.p99),
          fmt(x.open.p50),
          fmt(x.open.p90),
          fmt(x.open.p99),
        ]),
      );
    } else {
      out.push(
        row([
          p.name,
          signed(x.c1Added.p50),
          signed(x.c1Added.p99),
          signed(x.openAdded.p50),
          signed(x.openAdded.p90),
          signed(x.openAdded.p99),
        ]),
      );
    }
  }
  const costed = ok.filter((p) => p.summary !== null && p.processes.length > 0);
  if (costed.length > 0)
    out.push(
      "",
      "**Cost of the proxy processes** (from /proc; nginx: the worker; rows with two proxies: total (first + second: outbound + inbound for lanemesh, outer + inner for nginx-full and floor-full)). " +
        "CPU s per 1,000 requests under saturation (wrk) and at 1k rps; vCPU at 1k rps; RSS: max VmRSS sampled during the first 1k rps run, and VmHWM at the end of the run:",
      "",
      row([
        "peer",
        "CPU s/1k req (sat.)",
        "CPU s/1k req (1k rps)",
        "vCPU (1k rps)",
        "RSS MB (1k rps)",
        "peak RSS MB",
      ]),
      row(["---", "--:", "--:", "--:", "--:", "--:"]),
    );
  for (const p of costed) {
    const x = p.summary as PeerSummary;
    out.push(
      row([
        p.name,
        fmtPer(x.cpuPer1kSaturationS, 4),
        fmtPer(x.cpuPer1kAt1kS, 4),
        fmtPer(x.vcpuAt1k, 3),
        fmtPer(x.rssAt1kMB, 1),
        fmtPer(x.peakRssMB, 1),
      ]),
    );
  }
  const lag = ok.flatMap((p) => p.reps.map((r) => r.open?.sendLagUs));
  out.push(
    "",
    `Open-loop generator send lag (scheduled → sent, median over runs): p50 ${fmt(median(lag.map((l) => l?.p50)))} µs, ` +
      `p99 ${fmt(median(lag.map((l) => l?.p99)))} µs (included in every row's latency, direct's too).`,
  );
  const bg = ok.flatMap((p) => p.reps.map((r) => r.background));
  const [, bgMax] = range(bg.map((b) => b?.otherCores));
  out.push(
    "",
    `Background load (CPU of processes outside the benchmark, averaged over each visit): median ${fmt(median(bg.map((b) => b?.otherCores)), 2)} cores, ` +
      `max ${fmt(bgMax, 2)}; host steal median ${fmt(median(bg.map((b) => b?.stealCores)), 2)} cores.` +
      (bgMax > 0.25 ? " The machine was not quiet: treat the figures with care." : ""),
  );
  const warnings = ok.flatMap((p) => p.warnings.map((w) => `- ${p.name}: ${w}`));
  for (const p of ok) {
    if ((p.summary?.failedRequests ?? 0) > 0) {
      warnings.push(
        `- ${p.name}: ${p.summary?.failedRequests} requests failed (socket errors or non-2xx): its figures are not valid`,
      );
    }
  }
  if (warnings.length > 0) out.push("", "Warnings:", "", ...warnings);
  out.push("", ...fanoutMarkdown(result.fanout));
  return `${alignTables(out).join("\n")}\n`;
}

function fanoutMarkdown(f: FanoutResult): string[] {
  if (f.status !== "ok") return [`**Control-plane fan-out**: ${f.status} — ${f.reason}`];
  const builds = f.rows.some((r) => (r.build ?? "") !== "");
  const laneRows = f.rows.some((r) => (r.lanes ?? 0) > 0);
  const out = [
    `**Control-plane fan-out** (simulated proxies on real gRPC streams, one connection each${f.client === "grpc-js" ? " (grpc-js clients)" : f.client === "h2" ? " (bare HTTP/2 clients)" : ""}${f.whole ? ", taking whole snapshots only" : ""}${f.registered ? ", each registering its instance" : ", not registering instances"}; ` +
      `time from the apply call (POST /v1/resources, as \`lanemesh apply\` sends it) to the last proxy's ACK of the change, over ${f.applies} applies` +
      (laneRows
        ? `; rows with lanes: that many lanes stored, each of ${f.laneApplies ?? f.applies} applies toggles one (enabled false/true)`
        : "") +
      "; the control plane's default debounce is included; CPU over the applies, RSS with every stream connected; snapshot bytes: the last push one proxy received; background: cores the rest of the machine used during the applies, median and max):",
    "",
    row([
      ...(builds ? ["build"] : []),
      "proxies",
      ...(laneRows ? ["lanes"] : []),
      "p50 ms",
      "p99 ms",
      "CPU s (all applies)",
      "sim. proxies CPU s",
      "RSS MB",
      "peak RSS MB",
      "connect s",
      "snapshot bytes",
      "background cores",
    ]),
    row([
      ...(builds ? ["---"] : []),
      "--:",
      ...(laneRows ? ["--:"] : []),
      "--:",
      "--:",
      "--:",
      "--:",
      "--:",
      "--:",
      "--:",
      "--:",
      "--:",
    ]),
  ];
  for (const r of f.rows) {
    out.push(
      row([
        ...(builds ? [r.build || "this"] : []),
        String(r.proxies),
        ...(laneRows ? [String(r.lanes ?? 0)] : []),
        fmt(r.p50Ms, 1),
        fmt(r.p99Ms, 1),
        fmt(r.cpuS, 2),
        r.clientCpuS === undefined ? "–" : fmt(r.clientCpuS, 2),
        fmt(r.rssMB, 1),
        fmt(r.peakRssMB, 1),
        fmt(r.connectS, 1),
        String(r.snapshotBytes),
        r.backgroundCores === undefined || r.backgroundCores.length === 0
          ? "–"
          : `${fmt(median(r.backgroundCores), 2)} (max ${fmt(Math.max(...r.backgroundCores), 2)})`,
      ]),
    );
  }
  return out;
}

function firstLine(s: string | undefined): string {
  return (s ?? "").split("\n")[0]?.slice(0, 120) ?? "";
}
