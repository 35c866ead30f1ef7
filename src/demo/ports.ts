// Port choice for `lanemesh demo`: checks that the asked ports are free and picks free ones for the rest; it binds only for a moment, never serves.
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { assignPorts, consecutivePorts, type DemoPorts, RANGE_PORTS } from "./topology.js";

function hold(port: number): Promise<Server | NodeJS.ErrnoException> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", (err: NodeJS.ErrnoException) => resolve(err));
    s.listen(port, "127.0.0.1", () => resolve(s));
  });
}

/**
 * The kernel's ephemeral port range (Linux `ip_local_port_range`, else 32768..60999). Ports chosen
 * for listeners stay below it: a port the system picks with `listen(0)` comes from that range, and
 * so does the local port of every outgoing connection, so between choosing such a port and a child
 * binding it, any connection on the machine may take it (EADDRINUSE).
 */
export function ephemeralRange(): { first: number; last: number } {
  try {
    const [first, last] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8")
      .trim()
      .split(/\s+/)
      .map(Number);
    if (Number.isInteger(first) && Number.isInteger(last) && (first as number) > 12_000)
      return { first: first as number, last: last as number };
  } catch {
    // not Linux: the IANA range's start, Linux's default end
  }
  return { first: 32_768, last: 60_999 };
}

function ephemeralStart(): number {
  return ephemeralRange().first;
}

const LOW = 10_000;
const handedOut = new Set<number>();

/**
 * Hold a free port on 127.0.0.1 chosen at random below the ephemeral range (never one this
 * process handed out before), or an Error when none could be had after many tries.
 */
export async function holdFreePort(): Promise<Server | Error> {
  const high = ephemeralStart();
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = LOW + Math.floor(Math.random() * (high - LOW));
    if (handedOut.has(port)) continue;
    const r = await hold(port);
    if (r instanceof Error) continue;
    handedOut.add(port);
    return r;
  }
  return new Error(`no free port found between ${LOW} and ${high}`);
}

/** `n` distinct free ports (see holdFreePort), all held while choosing, then released. */
export async function freePorts(n: number): Promise<number[]> {
  const held: Server[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const r = await holdFreePort();
      if (r instanceof Error) throw r;
      held.push(r);
    }
    return held.map(portOf);
  } finally {
    await Promise.all(held.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

function portOf(s: Server): number {
  const a = s.address();
  return a !== null && typeof a === "object" ? a.port : 0;
}

/** A port the user may have given, or the default the demo prefers. */
export interface PortWish {
  port: number;
  /** Given by the user: used as is or refused. Not given: a default, replaced when taken. */
  given: boolean;
}

export interface PortWishes {
  gateway: number;
  grpc: PortWish;
  http: PortWish;
  /** `--base-port`: the first of RANGE_PORTS consecutive ports; null = free ports. */
  base: number | null;
}

export type PortChoice =
  | {
      ok: true;
      ports: DemoPorts /** Lines to print: defaults replaced because they were taken. */;
      notes: string[];
    }
  | { ok: false; message: string };

/** Why a range of ports cannot work, or null: past 65535, or inside the ephemeral range. */
export function baseProblem(base: number): string | null {
  const range = consecutivePorts(base);
  if (range === null)
    return `error: --base-port ${base}: the demo needs ${RANGE_PORTS} ports from it (${base}..${base + RANGE_PORTS - 1}), up to 65535`;
  const last = base + RANGE_PORTS - 1;
  const eph = ephemeralRange();
  if (last >= eph.first && base <= eph.last)
    return (
      `error: --base-port ${base}: the demo's ports ${base}..${last} fall inside the kernel's ephemeral port range ` +
      `${eph.first}..${eph.last} (net.ipv4.ip_local_port_range), from which every outgoing connection takes a port, ` +
      `so one may be taken before its process binds it (EADDRINUSE); choose a base from 1024 to ${eph.first - RANGE_PORTS}, e.g. --base-port 20000`
    );
  return null;
}

const FLAG = { gateway: "--port", grpc: "--grpc-port", http: "--http-port" } as const;

/**
 * The gateway gets its port, the control plane its given or default ports (a default that is
 * taken is replaced by a free one, with a note), the rest `base`, `base+1`, … or free ports below
 * the ephemeral range (holdFreePort). Every port is held at once while checking, then released
 * for the children.
 */
export async function choosePorts(w: PortWishes): Promise<PortChoice> {
  const range = w.base === null ? null : consecutivePorts(w.base);
  if (w.base !== null) {
    const problem = baseProblem(w.base);
    if (problem !== null) return { ok: false, message: problem };
  }
  const own = { gateway: w.gateway, grpc: w.grpc.port, http: w.http.port };
  const fixed = (Object.keys(own) as (keyof typeof own)[]).filter(
    (k) => own[k] !== 0 && (k === "gateway" || w[k].given),
  );
  for (const k of fixed) {
    const clash = fixed.find((o) => o !== k && own[o] === own[k]);
    if (clash !== undefined)
      return { ok: false, message: `error: ${FLAG[k]} and ${FLAG[clash]} are both ${own[k]}` };
    if (range?.includes(own[k]))
      return {
        ok: false,
        message: `error: ${FLAG[k]} ${own[k]} falls in --base-port's range ${w.base}..${(w.base ?? 0) + RANGE_PORTS - 1}`,
      };
  }
  const held: Server[] = [];
  const notes: string[] = [];
  try {
    const take = async (
      port: number,
      flag: string,
      fallback: string | null,
    ): Promise<number | string> => {
      let r = port === 0 ? await holdFreePort() : await hold(port);
      if (r instanceof Error && port !== 0 && fallback !== null) {
        const why = (r as NodeJS.ErrnoException).code ?? r.message;
        r = await holdFreePort();
        if (!(r instanceof Error))
          notes.push(`${fallback} ${port} is taken (${why}): using ${portOf(r)} instead`);
      }
      if (r instanceof Error) {
        const code = (r as NodeJS.ErrnoException).code ?? r.message;
        const why = code === "EACCES" ? "EACCES: ports below 1024 need privileges" : code;
        return `error: port ${port} on 127.0.0.1 is not available (${why}); choose another with ${flag}`;
      }
      held.push(r);
      return portOf(r);
    };
    const chosen: number[] = [];
    const wants: [number, string, string | null][] = [
      [w.gateway, FLAG.gateway, null],
      [w.grpc.port, FLAG.grpc, w.grpc.given ? null : "the control plane's default gRPC port"],
      [w.http.port, FLAG.http, w.http.given ? null : "the control plane's default HTTP port"],
      ...(range ?? Array.from({ length: RANGE_PORTS }, () => 0)).map(
        (p): [number, string, string | null] => [p, "--base-port", null],
      ),
    ];
    for (const [port, flag, fallback] of wants) {
      const r = await take(port, flag, fallback);
      if (typeof r === "string") return { ok: false, message: r };
      chosen.push(r);
    }
    const [gateway, grpc, http, ...rest] = chosen as [number, number, number, ...number[]];
    return { ok: true, ports: assignPorts({ gateway, grpc, http }, rest), notes };
  } finally {
    await Promise.all(held.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}
