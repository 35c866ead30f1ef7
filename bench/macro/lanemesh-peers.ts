// lanemesh as a peer: one hop (outbound sidecar) and full hop (outbound → inbound sidecar), started
// from the built CLI with lane rules and static endpoints in files, so the measured path is the
// real one (tag header read, lane looked up, gray instance picked); it measures nothing itself.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { PeerContext, PeerDef, RunningPeer } from "./peers.js";
import { freePort, type Proc, spawnProc, stopProc, waitForHttp200 } from "./procs.js";

async function stopAll(procs: Proc[]): Promise<void> {
  await Promise.all(procs.map((p) => stopProc(p)));
}

/** Rules every lanemesh peer loads: a content lane `gray` over the bench client and sc-up. */
const LANE_RULES = `apiVersion: lanemesh.io/v1alpha1
kind: Route
metadata: { name: up-route }
spec: { gateway: default, match: { prefix: / }, service: sc-up }
---
apiVersion: lanemesh.io/v1alpha1
kind: LaneGroup
metadata: { name: bench }
spec:
  entry: { gateway: default, routes: [up-route] }
  apps: [bench-client, sc-up]
  mode: content
---
apiVersion: lanemesh.io/v1alpha1
kind: Lane
metadata: { name: gray }
spec:
  group: bench
  tag: gray
  enabled: true
  match:
    mode: all
    conditions:
      - { type: header, name: canary, op: "==", value: gray }
`;

function instanceDocs(instances: { name: string; port: number; tag?: string }[]): string {
  return instances
    .map(
      (i) => `apiVersion: lanemesh.io/v1alpha1
kind: Instance
metadata: { name: ${i.name} }
spec: { service: sc-up, address: 127.0.0.1, port: ${i.port}${i.tag ? `, tag: ${i.tag}` : ""} }
`,
    )
    .join("---\n");
}

interface SidecarSpec {
  name: string;
  app: string;
  tag?: string;
  appPort: number;
  inboundPort: number;
  outboundPort: number;
  rulesFile: string;
  discoveryFile: string;
}

/** A built checkout of lanemesh to measure: this one, or another (`--build NAME=DIR`). */
export interface Build {
  /** "" for this checkout; else the suffix of the peers' names (`lanemesh-1hop@NAME`). */
  name: string;
  /** The checkout's root (its `dist/src/cli/main.js` is run). */
  root: string;
  /** Node's own flags before the script (`node FLAGS main.js sidecar …`), e.g. V8 heap settings. */
  nodeFlags: readonly string[];
}

/** What starting lanemesh needs of a run: its scratch and log folders and the upstream's ports. */
export type LanemeshContext = Pick<PeerContext, "tmpDir" | "logDir" | "upstream">;

/** A started sidecar: its process and its admin port (`/metrics`). */
type Sidecar = Proc & { readonly adminPort: number };

/** `lanemesh sidecar …` from a built CLI; resolves once its admin /ready answers 200. */
async function startSidecar(ctx: LanemeshContext, build: Build, s: SidecarSpec): Promise<Sidecar> {
  const adminPort = await freePort();
  const args = [
    ...build.nodeFlags,
    join(build.root, "dist/src/cli/main.js"),
    "sidecar",
    "--app",
    s.app,
    "--app-port",
    String(s.appPort),
    "--inbound-port",
    String(s.inboundPort),
    "--outbound-port",
    String(s.outboundPort),
    "--admin-port",
    String(adminPort),
    "--bind",
    "127.0.0.1",
    "--rules",
    s.rulesFile,
    "--discovery",
    `static:${s.discoveryFile}`,
  ];
  if (s.tag !== undefined) args.push("--tag", s.tag);
  const env = { ...process.env, LANEMESH_LOG_LEVEL: "warn", NODE_ENV: "production" };
  const proc = spawnProc(s.name, process.execPath, args, { logDir: ctx.logDir, env });
  try {
    await waitForHttp200(adminPort, "/ready", proc);
    return Object.assign(proc, { adminPort });
  } catch (err) {
    await stopProc(proc);
    throw err;
  }
}

/** The bench client's sidecar: its outbound port is where the load is sent. */
function startClientSidecar(
  ctx: LanemeshContext,
  build: Build,
  name: string,
  outboundPort: number,
  [rulesFile, discoveryFile]: [string, string],
): Promise<Sidecar> {
  return freePort().then((inboundPort) =>
    startSidecar(ctx, build, {
      name,
      app: "bench-client",
      appPort: ctx.upstream.basePort,
      inboundPort,
      outboundPort,
      rulesFile,
      discoveryFile,
    }),
  );
}

function writeLanemeshFiles(
  ctx: LanemeshContext,
  name: string,
  endpoints: string,
): [string, string] {
  const dir = join(ctx.tmpDir, name);
  mkdirSync(dir, { recursive: true });
  const rules = join(dir, "rules.yaml");
  const discovery = join(dir, "endpoints.yaml");
  writeFileSync(rules, LANE_RULES);
  writeFileSync(discovery, endpoints);
  return [rules, discovery];
}

/** lanemesh's two peers for one build: one hop and full hop. */
export function lanemeshPeers(build: Build): PeerDef[] {
  const at = build.name === "" ? "" : `@${build.name}`;
  const oneHop: PeerDef = {
    name: `lanemesh-1hop${at}`,
    proxies: 1,
    description: "outbound sidecar (Host: sc-up, x-lane-tag: gray) → gray upstream",
    start: (ctx) => startOneHop(ctx, build),
  };

  const fullHop: PeerDef = {
    name: `lanemesh-full${at}`,
    proxies: 2,
    description: "outbound sidecar → inbound sidecar (tag gray) → gray upstream",
    start: (ctx) => startFullHop(ctx, build),
  };
  return [oneHop, fullHop];
}

/**
 * The full hop: an inbound sidecar (`--tag gray`) in front of the gray upstream and an outbound
 * sidecar whose gray instance of sc-up is that inbound sidecar, as in a mesh. Measured: both.
 */
export async function startFullHop(ctx: LanemeshContext, build: Build): Promise<RunningPeer> {
  const at = build.name === "" ? "" : `@${build.name}`;
  const inboundPort = await freePort();
  const [rules, discovery] = writeLanemeshFiles(
    ctx,
    `lanemesh-full${at}`,
    instanceDocs([
      { name: "up-base", port: ctx.upstream.basePort },
      { name: "up-gray", port: inboundPort, tag: "gray" },
    ]),
  );
  const inbound = await startSidecar(ctx, build, {
    name: `lanemesh-full${at}-in`,
    app: "sc-up",
    tag: "gray",
    appPort: ctx.upstream.grayPort,
    inboundPort,
    outboundPort: await freePort(),
    rulesFile: rules,
    discoveryFile: discovery,
  });
  const outboundPort = await freePort();
  let out: Sidecar;
  try {
    out = await startClientSidecar(ctx, build, `lanemesh-full${at}-out`, outboundPort, [
      rules,
      discovery,
    ]);
  } catch (err) {
    await stopProc(inbound);
    throw err;
  }
  return {
    port: outboundPort,
    measured: [
      { role: "outbound", pid: out.pid, adminPort: out.adminPort },
      { role: "inbound", pid: inbound.pid, adminPort: inbound.adminPort },
    ],
    expectServedBy: "gray",
    stop: () => stopAll([out, inbound]),
  };
}

/** One hop: the bench client's outbound sidecar, whose gray instance of sc-up is the gray upstream. */
export async function startOneHop(ctx: LanemeshContext, build: Build): Promise<RunningPeer> {
  const at = build.name === "" ? "" : `@${build.name}`;
  const [rules, discovery] = writeLanemeshFiles(
    ctx,
    `lanemesh-1hop${at}`,
    instanceDocs([
      { name: "up-base", port: ctx.upstream.basePort },
      { name: "up-gray", port: ctx.upstream.grayPort, tag: "gray" },
    ]),
  );
  const outboundPort = await freePort();
  const out = await startClientSidecar(ctx, build, `lanemesh-1hop${at}-out`, outboundPort, [
    rules,
    discovery,
  ]);
  return {
    port: outboundPort,
    measured: [{ role: "outbound", pid: out.pid, adminPort: out.adminPort }],
    expectServedBy: "gray",
    stop: () => stopProc(out),
  };
}
