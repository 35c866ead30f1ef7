// Port choice for `lanemesh demo`: checks that the asked ports are free and picks free ones for the rest; it binds only for a moment, never serves.
import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { assignPorts, consecutivePorts, type DemoPorts, OTHER_PORTS } from "./topology.js";

export type PortChoice = { ok: true; ports: DemoPorts } | { ok: false; message: string };

function hold(port: number): Promise<Server | NodeJS.ErrnoException> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", (err: NodeJS.ErrnoException) => resolve(err));
    s.listen(port, "127.0.0.1", () => resolve(s));
  });
}

/**
 * The first port of the kernel's ephemeral range (Linux `ip_local_port_range`, else 32768). Ports
 * chosen for listeners stay below it: a port the system picks with `listen(0)` comes from that
 * range, and so does the local port of every outgoing connection, so between choosing such a port
 * and a child binding it, any connection on the machine may take it (EADDRINUSE).
 */
function ephemeralStart(): number {
  try {
    const first = Number(
      readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").split(/\s+/)[0],
    );
    return Number.isInteger(first) && first > 12_000 ? first : 32_768;
  } catch {
    return 32_768;
  }
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

/**
 * The gateway gets `gateway`; the others get `base`, `base+1`, … when given, else free ports
 * below the ephemeral range (holdFreePort). Every port is held at once while checking, then released for the children.
 */
export async function choosePorts(gateway: number, base: number | null): Promise<PortChoice> {
  const wanted = base === null ? null : consecutivePorts(base);
  if (base !== null && wanted === null)
    return {
      ok: false,
      message: `error: --base-port ${base}: the demo needs ${OTHER_PORTS} ports from it, up to 65535`,
    };
  if (wanted?.includes(gateway))
    return {
      ok: false,
      message: `error: --port ${gateway} falls in --base-port's range ${base}..${base === null ? "" : base + OTHER_PORTS - 1}`,
    };
  const held: Server[] = [];
  try {
    const list = [gateway, ...(wanted ?? Array.from({ length: OTHER_PORTS }, () => 0))];
    const ports: number[] = [];
    for (const p of list) {
      const r = p === 0 ? await holdFreePort() : await hold(p);
      if (r instanceof Error) {
        const flag = p === gateway ? "--port" : "--base-port";
        const code = (r as NodeJS.ErrnoException).code ?? r.message;
        return {
          ok: false,
          message: `error: port ${p} on 127.0.0.1 is not available (${code}); choose another with ${flag}`,
        };
      }
      held.push(r);
      ports.push(portOf(r));
    }
    return { ok: true, ports: assignPorts(ports[0] as number, ports.slice(1)) };
  } finally {
    await Promise.all(held.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}
