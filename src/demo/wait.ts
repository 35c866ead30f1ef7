// Waiting for the demo's processes to be up and in sync: probes over loopback, polled until true or aborted; it starts and stops nothing.
import { connect } from "node:net";
import { request } from "undici";
import type { Readiness } from "./topology.js";

/** Thrown when a wait is aborted (a signal, a child that died) or times out. */
export class WaitAborted extends Error {
  readonly code = "LANEMESH_DEMO_ABORTED";
}

/** Poll `probe` (20 ms, growing to 200 ms) until it returns true. */
export async function until(
  what: string,
  probe: () => Promise<boolean>,
  opts: { signal: AbortSignal; timeoutMs: number },
): Promise<void> {
  const deadline = Date.now() + opts.timeoutMs;
  let delay = 20;
  for (;;) {
    if (opts.signal.aborted) throw new WaitAborted(`aborted while waiting for ${what}`);
    if (await probe()) return;
    if (Date.now() > deadline) throw new WaitAborted(`timed out waiting for ${what}`);
    await sleep(delay, opts.signal);
    delay = Math.min(delay * 2, 200);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** GET `url`: status and body, or null when nothing answers. */
export async function httpGet(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string } | null> {
  try {
    const res = await request(url, { headers, headersTimeout: 5000, bodyTimeout: 5000 });
    return { status: res.statusCode, body: await res.body.text() };
  } catch {
    return null;
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** One probe of a process's readiness. */
export async function isReady(r: Readiness): Promise<boolean> {
  switch (r.kind) {
    case "listening":
      return accepts(r.port);
    case "http-ok":
      return (await httpGet(r.url))?.status === 200;
    case "ready":
      return (await httpGet(`http://127.0.0.1:${r.adminPort}/ready`))?.status === 200;
  }
}

interface LiveConfigBody {
  version: string;
  endpoints: { service: string; address: string; port: number; tag: string | null }[];
}

interface ProxiesBody {
  items: { role: string; ackedVersion: string | null }[];
}

/** What the control plane reports about the mesh, for the in-sync probe and error messages. */
export interface MeshSync {
  version: string | null;
  /** Expected instances the control plane does not serve yet. */
  missing: string[];
  /** Connected proxies by role, and how many of them ACKed `version`. */
  sidecars: number;
  gateways: number;
  acked: number;
}

/** Ask the control plane which instances it serves and which version each proxy ACKed. */
export async function meshSync(server: string, expected: readonly string[]): Promise<MeshSync> {
  const [config, proxies] = await Promise.all([
    httpGet(`${server}/v1/config`),
    httpGet(`${server}/v1/proxies`),
  ]);
  const out: MeshSync = {
    version: null,
    missing: [...expected],
    sidecars: 0,
    gateways: 0,
    acked: 0,
  };
  if (config?.status !== 200 || proxies?.status !== 200) return out;
  const c = JSON.parse(config.body) as LiveConfigBody;
  const served = new Set(
    c.endpoints.map((e) => `${e.service}|${e.tag ?? ""}|${e.address}:${e.port}`),
  );
  out.version = c.version;
  out.missing = expected.filter((k) => !served.has(k));
  for (const p of (JSON.parse(proxies.body) as ProxiesBody).items) {
    if (p.role === "sidecar") out.sidecars++;
    else if (p.role === "gateway") out.gateways++;
    if (p.ackedVersion === c.version) out.acked++;
  }
  return out;
}

/**
 * In sync: every expected instance is served, the expected proxies are connected and every one
 * of them ACKed the version being served (which is at least `minVersion`, the applied one).
 */
export function inSync(s: MeshSync, want: SyncWant): boolean {
  return (
    s.version !== null &&
    Number(s.version) >= want.minVersion &&
    s.missing.length === 0 &&
    s.sidecars === want.sidecars &&
    s.gateways === want.gateways &&
    s.acked === want.sidecars + want.gateways
  );
}

export interface SyncWant {
  sidecars: number;
  gateways: number;
  minVersion: number;
}

function describeSync(s: MeshSync, want: SyncWant): string {
  const parts = [`version ${s.version ?? "unknown"}`];
  if (s.missing.length > 0) parts.push(`instances not registered: ${s.missing.join(", ")}`);
  parts.push(
    `connected: ${s.sidecars}/${want.sidecars} sidecars, ${s.gateways}/${want.gateways} gateways`,
    `${s.acked} ACKed it`,
  );
  return parts.join("; ");
}

/** Poll the control plane until the mesh is in sync; a timeout says what was still missing. */
export async function waitInSync(
  server: string,
  expected: readonly string[],
  want: SyncWant,
  opts: { signal: AbortSignal; timeoutMs: number },
): Promise<MeshSync> {
  const seen: { last: MeshSync | null } = { last: null };
  const probe = async (): Promise<boolean> => {
    seen.last = await meshSync(server, expected);
    return inSync(seen.last, want);
  };
  try {
    await until("every proxy to ACK the latest version", probe, opts);
  } catch (err) {
    if (err instanceof WaitAborted && !opts.signal.aborted && seen.last !== null)
      throw new WaitAborted(`${err.message}: ${describeSync(seen.last, want)}`);
    throw err;
  }
  if (seen.last === null) throw new Error("in sync without an answer");
  return seen.last;
}
