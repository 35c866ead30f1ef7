// `lanemesh status [--group G] [--watch] [-o json]`: per lane group and lane, each app's lane traffic beside base's, from GET /v1/status; fetching plus a pure formatter, it changes nothing.
import { type Command, InvalidArgumentError, Option } from "commander";
import { callServer } from "../control-plane/api-client.js";
import type { Side } from "../control-plane/guard.js";
import type { LaneStatus, StatusView } from "../control-plane/status.js";
import { parseDuration } from "./options.js";
import { connectOrFail, serverOption, tokenFileOption, tokenOption } from "./server-client.js";
import { laneRule, table } from "./tables.js";

/** ANSI: clear the screen and go home, for --watch's redraw in place. */
export const CLEAR = "\u001b[H\u001b[2J";

/** `--interval`: 500ms..1m (a refresh is one small GET). */
function parseInterval(v: string): number {
  const ms = parseDuration(v);
  if (ms < 500 || ms > 60_000)
    throw new InvalidArgumentError("expected a duration from 500ms to 1m.");
  return ms;
}

export function register(program: Command): void {
  program
    .command("status")
    .description(
      "show each lane's traffic beside base's, per app: instances per tag, requests/s, error rate, p50/p99, fallbacks, and the lane's state and guard",
    )
    .addOption(new Option("--group <NAME>", "only this lane group"))
    .addOption(new Option("-w, --watch", "redraw in place every --interval until Ctrl-C"))
    .addOption(
      new Option("--interval <DURATION>", "with --watch, time between refreshes (500ms..1m)")
        .env("LANEMESH_STATUS_INTERVAL")
        .argParser(parseInterval)
        .default(2000, "2s"),
    )
    .addOption(
      new Option("-o, --output <FORMAT>", "table, json")
        .choices(["table", "json"])
        .default("table"),
    )
    .addOption(serverOption())
    .addOption(tokenOption())
    .addOption(tokenFileOption())
    .action(
      async (
        opts: { group?: string; watch?: boolean; interval: number; output: "table" | "json" },
        cmd: Command,
      ) => {
        const c = connectOrFail(cmd);
        if (c === null) return;
        const path = `v1/status${opts.group === undefined ? "" : `?group=${encodeURIComponent(opts.group)}`}`;
        const once = async (): Promise<boolean> => {
          const r = await callServer(c.server, "GET", path, undefined, { token: c.token });
          if (!r.ok) {
            process.stderr.write(`${r.message}\n`);
            return false;
          }
          const view = r.body as StatusView;
          const text =
            opts.output === "json" ? `${JSON.stringify(view, null, 2)}\n` : formatStatus(view);
          process.stdout.write(opts.watch ? `${CLEAR}${text}` : text);
          return true;
        };
        if (!opts.watch) {
          if (!(await once())) process.exitCode = 1;
          return;
        }
        let stop = false;
        process.once("SIGINT", () => {
          stop = true;
        });
        while (!stop) {
          await once();
          await new Promise((r) => setTimeout(r, opts.interval));
        }
      },
    );
}

const rate = (n: number): string => (n === 0 ? "0" : n < 10 ? n.toFixed(2) : n.toFixed(1));
const pct = (r: number | null): string => (r === null ? "-" : `${(r * 100).toFixed(1)}%`);
const ms = (v: number | null): string => (v === null ? "-" : v < 10 ? v.toFixed(2) : v.toFixed(0));

function state(l: LaneStatus): string {
  const rule =
    l.weight !== null || l.weights !== null
      ? laneRule({ weight: l.weight ?? undefined, weights: l.weights ?? undefined })
      : laneRule({ match: l.match });
  return `${l.enabled ? "enabled" : "CLOSED"}, ${l.mode}: ${rule}`;
}

function guardText(l: LaneStatus): string | null {
  const g = l.guard;
  if (g === null) return null;
  const limits = [
    g.maxErrorRate === null ? null : `maxErrorRate ${pct(g.maxErrorRate)}`,
    g.maxP99Ms === null ? null : `maxP99Ms ${g.maxP99Ms}`,
    `minRequests ${g.minRequests}`,
    `window ${g.window}`,
  ].filter((x) => x !== null);
  return `guard: ${limits.join(", ")}`;
}

function both(lane: Side, base: Side, f: (s: Side) => string): string {
  return `${f(lane)} / ${f(base)}`;
}

/** The status as tables, one per lane (pure). */
export function formatStatus(v: StatusView): string {
  if (v.groups.length === 0) return "No lane groups.\n";
  const out: string[] = [`window ${v.windowSeconds}s, proxies reporting: ${v.reporting}`];
  for (const g of v.groups) {
    out.push("", `GROUP ${g.name} (${g.mode}): apps ${g.apps.join(", ")}`);
    if (g.lanes.length === 0) out.push("  no lanes");
    for (const l of g.lanes) {
      out.push(`LANE ${l.name} (tag ${l.tag}): ${state(l)}`);
      const guard = guardText(l);
      if (guard !== null) out.push(`  ${guard}`);
      if (l.guardTrip !== null)
        out.push(
          `  CLOSED BY GUARD at ${l.guardTrip.closedAt} (version ${l.guardTrip.version}): ${l.guardTrip.reason}`,
        );
      const rows = [
        [
          "  APP",
          "INSTANCES",
          `REQ/S ${l.tag}/base`,
          `ERRORS ${l.tag}/base`,
          "P50 ms",
          "P99 ms",
          "FALLBACKS",
        ],
      ];
      for (const a of l.apps) {
        const inst = Object.entries(a.instances)
          .sort(([x], [y]) => (x === "base" ? -1 : y === "base" ? 1 : x.localeCompare(y)))
          .map(([t, n]) => `${t}=${n}`)
          .join(" ");
        rows.push([
          `  ${a.app}${a.inLane ? "" : " (not in lane)"}`,
          inst || "-",
          both(a.lane, a.base, (s) => rate(s.rps)),
          both(a.lane, a.base, (s) => pct(s.errorRate)),
          both(a.lane, a.base, (s) => ms(s.p50Ms)),
          both(a.lane, a.base, (s) => ms(s.p99Ms)),
          String(a.lane.fallbacks),
        ]);
      }
      out.push(table(rows).trimEnd());
    }
  }
  return `${out.join("\n")}\n`;
}
