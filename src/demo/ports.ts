// Port choice for `lanemesh demo`: checks that the asked ports are free and picks free ones for the rest; it binds only for a moment, never serves.
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

function portOf(s: Server): number {
  const a = s.address();
  return a !== null && typeof a === "object" ? a.port : 0;
}

/**
 * The gateway gets `gateway`; the others get `base`, `base+1`, … when given, else free ports the
 * system picks. Every port is held at once while checking, then released for the children.
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
      const r = await hold(p);
      if (r instanceof Error) {
        const flag = p === gateway ? "--port" : "--base-port";
        return {
          ok: false,
          message: `error: port ${p} on 127.0.0.1 is not available (${r.code ?? r.message}); choose another with ${flag}`,
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
