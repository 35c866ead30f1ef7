// Saturation throughput with wrk (closed loop) and the parser of its report; it measures nothing
// else and never talks to anything but 127.0.0.1.
import { readFileSync } from "node:fs";
import { spawnProc } from "./procs.js";

export interface WrkResult {
  rps: number;
  requests: number;
  seconds: number;
  non2xx: number;
  socketErrors: number;
}

/** Reads wrk's text report; null when it has no `Requests/sec` line. */
export function parseWrk(text: string): WrkResult | null {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m)\b/.exec(text);
  if (rps === null || total === null) return null;
  const unit = { us: 1e-6, ms: 1e-3, s: 1, m: 60 }[total[3] as "us" | "ms" | "s" | "m"];
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(text);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  const socketErrors = sock === null ? 0 : sock.slice(1, 5).reduce((n, v) => n + Number(v), 0);
  return {
    rps: Number(rps[1]),
    requests: Number(total[1]),
    seconds: Number(total[2]) * unit,
    non2xx: non2xx === null ? 0 : Number(non2xx[1]),
    socketErrors,
  };
}

export interface WrkOptions {
  wrk: string;
  port: number;
  headers: Record<string, string>;
  seconds: number;
  connections: number;
  threads: number;
  logDir: string;
}

/** `wrk -t<threads> -c<connections> -d<seconds>s -H …  http://127.0.0.1:<port>/`, parsed. */
export async function runWrk(o: WrkOptions): Promise<WrkResult> {
  const args = [`-t${o.threads}`, `-c${o.connections}`, `-d${o.seconds}s`, "--timeout", "5s"];
  for (const [k, v] of Object.entries(o.headers)) args.push("-H", `${k}: ${v}`);
  args.push(`http://127.0.0.1:${o.port}/`);
  const proc = spawnProc("wrk", o.wrk, args, { logDir: o.logDir, truncate: true });
  const status = await proc.exited;
  const text = readFileSync(proc.logFile, "utf8");
  const parsed = parseWrk(text);
  if (parsed === null) throw new Error(`wrk ${status}: ${text.trim().slice(-500)}`);
  return parsed;
}
