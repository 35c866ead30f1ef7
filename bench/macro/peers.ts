// The peers the benchmark compares (direct, nginx, HAProxy, http-proxy, lanemesh one hop and full
// hop): how each is configured and started; they are measured elsewhere, and none listens beyond
// 127.0.0.1.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Build, lanemeshPeers } from "./lanemesh-peers.js";
import { childPids, freePort, type Proc, spawnProc, stopProc, waitForPort } from "./procs.js";
import type { Tools } from "./tools.js";

/** Every peer gets exactly these request headers (wrk and the latency generator alike). */
export const REQUEST_HEADERS: Readonly<Record<string, string>> = {
  // Capitalised: wrk adds its own `Host` unless this one is spelled exactly so.
  Host: "sc-up",
  "x-lane-tag": "gray",
};

export interface PeerContext {
  tools: Tools;
  /** Scratch folder of this run (configs, logs); removed at the end. */
  tmpDir: string;
  logDir: string;
  repoRoot: string;
  upstream: { basePort: number; grayPort: number };
}

/** A process whose CPU and memory count as the peer's cost. */
export interface MeasuredProcess {
  role: string;
  pid: number;
  /** lanemesh's admin port (its `/metrics`), for the benches that read the sidecar's own figures. */
  adminPort?: number;
}

export interface RunningPeer {
  /** Where the client sends its requests. */
  port: number;
  measured: MeasuredProcess[];
  /** Which upstream listener must answer (lanemesh routes the gray-tagged request to gray). */
  expectServedBy: "base" | "gray";
  stop(): Promise<void>;
}

export interface PeerDef {
  name: string;
  /** Proxies on the path: 0 for direct, 2 for lanemesh's full hop. */
  proxies: number;
  description: string;
  start(ctx: PeerContext): Promise<RunningPeer>;
}

const direct: PeerDef = {
  name: "direct",
  proxies: 0,
  description: "client → upstream",
  async start(ctx) {
    return {
      port: ctx.upstream.basePort,
      measured: [],
      expectServedBy: "base",
      stop: async () => {},
    };
  },
};

/** A started proxy process: the pid measured, and how to stop it. */
interface Started {
  pid: number;
  stop: () => Promise<void>;
}

type StartOne = (
  ctx: PeerContext,
  name: string,
  port: number,
  upstreamPort: number,
) => Promise<Started>;

/**
 * `hops` proxies in a row in front of the upstream (1, or 2 as lanemesh's full hop), each its own
 * process, started from the upstream side; measured as `role` alone, or as outer + inner.
 */
function chainPeer(
  name: string,
  description: string,
  role: string,
  startOne: StartOne,
  hops = 1,
): PeerDef {
  return {
    name,
    proxies: hops,
    description,
    async start(ctx) {
      const started: Started[] = [];
      const stop = async () => {
        for (const p of started) await p.stop();
      };
      try {
        let next = ctx.upstream.basePort;
        for (let i = hops; i > 0; i--) {
          const port = await freePort();
          started.unshift(await startOne(ctx, hops > 1 ? `${name}-${i}` : name, port, next));
          next = port;
        }
        return {
          port: next,
          measured: started.map((p, i) => ({
            role: hops > 1 ? (i === 0 ? "outer" : "inner") : role,
            pid: p.pid,
          })),
          expectServedBy: "base",
          stop,
        };
      } catch (err) {
        await stop();
        throw err;
      }
    },
  };
}

/** One nginx (master + 1 worker) listening on `port`, forwarding to `upstreamPort`. */
async function startNginx(
  ctx: PeerContext,
  name: string,
  port: number,
  upstreamPort: number,
): Promise<Started> {
  const dir = join(ctx.tmpDir, name);
  mkdirSync(dir, { recursive: true });
  const user = process.getuid?.() === 0 ? "user root;\n" : "";
  const conf = `${user}worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/client_body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  keepalive_requests 1000000;
  keepalive_timeout 120s;
  upstream up {
    server 127.0.0.1:${upstreamPort};
    keepalive 64;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`;
  const confFile = join(dir, "nginx.conf");
  writeFileSync(confFile, conf);
  const master = spawnProc(
    name,
    ctx.tools.nginx,
    ["-p", dir, "-c", confFile, "-e", join(dir, "error.log"), "-g", "daemon off;"],
    { logDir: ctx.logDir },
  );
  try {
    await waitForPort(port, master);
    const workers = childPids(master.pid);
    if (workers.length !== 1) throw new Error(`nginx: expected 1 worker, found ${workers.length}`);
    return { pid: workers[0] as number, stop: () => stopProc(master) };
  } catch (err) {
    await stopProc(master);
    throw err;
  }
}

const nginx = chainPeer(
  "nginx",
  "1 worker, upstream keepalive 64, HTTP/1.1 upstream, access_log off",
  "worker",
  startNginx,
);

/** Two nginx in a row, each its own master and worker, as the two sidecars of lanemesh's full hop. */
const nginxFull = chainPeer(
  "nginx-full",
  "nginx → nginx → upstream, each as the nginx peer (the full hop's baseline)",
  "worker",
  startNginx,
  2,
);

const haproxy: PeerDef = {
  name: "haproxy",
  proxies: 1,
  description: "nbthread 1, mode http, http-reuse always, no logging",
  async start(ctx) {
    const dir = join(ctx.tmpDir, "haproxy");
    mkdirSync(dir, { recursive: true });
    const port = await freePort();
    const conf = `global
  nbthread 1
  maxconn 4096

defaults
  mode http
  option http-keep-alive
  http-reuse always
  timeout connect 5s
  timeout client 120s
  timeout server 120s
  timeout http-keep-alive 120s

frontend fe
  bind 127.0.0.1:${port}
  default_backend be

backend be
  server up 127.0.0.1:${ctx.upstream.basePort}
`;
    const confFile = join(dir, "haproxy.cfg");
    writeFileSync(confFile, conf);
    const proc = spawnProc("haproxy", ctx.tools.haproxy, ["-f", confFile, "-db"], {
      logDir: ctx.logDir,
    });
    try {
      await waitForPort(port, proc);
      return {
        port,
        measured: [{ role: "haproxy", pid: proc.pid }],
        expectServedBy: "base",
        stop: () => stopProc(proc),
      };
    } catch (err) {
      await stopProc(proc);
      throw err;
    }
  },
};

/** A Node proxy run from `dist/bench/macro/<script>` on `port`, in front of `upstreamPort`. */
async function startNodeScript(
  ctx: PeerContext,
  name: string,
  script: string,
  port: number,
  upstreamPort: number,
): Promise<Started> {
  const proc = spawnProc(
    name,
    process.execPath,
    [
      join(ctx.repoRoot, "dist/bench/macro", script),
      "--port",
      String(port),
      "--upstream-port",
      String(upstreamPort),
    ],
    { logDir: ctx.logDir },
  );
  try {
    await waitForPort(port, proc);
    return { pid: proc.pid, stop: () => stopProc(proc) };
  } catch (err) {
    await stopProc(proc);
    throw err;
  }
}

/** A Node proxy script (`dist/bench/macro/<script>`) in front of the upstream, `hops` times. */
function nodeScriptPeer(name: string, script: string, description: string, hops = 1): PeerDef {
  return chainPeer(
    name,
    description,
    name,
    (ctx, procName, port, upstreamPort) =>
      startNodeScript(ctx, procName, script, port, upstreamPort),
    hops,
  );
}

/** A node:http server in front of lanemesh's forwarder, nothing else: what Node itself costs. */
const floor = nodeScriptPeer(
  "floor",
  "floor-peer.js",
  "node:http server + lanemesh's H1Forwarder, no lane, metric or check (Node's own cost)",
);

/** Two floors in a row: what Node itself costs for a full hop's two proxies. */
const floorFull = nodeScriptPeer(
  "floor-full",
  "floor-peer.js",
  "floor → floor → upstream (Node's own cost for two proxies in a row)",
  2,
);

const httpProxy = nodeScriptPeer(
  "http-proxy",
  "http-proxy-peer.js",
  "http-proxy@1 (npm) with a keep-alive http.Agent",
);

/** The upstream every peer forwards to (upstream.js, its own process), once both listeners accept. */
export async function startUpstream(
  repoRoot: string,
  logDir: string,
): Promise<{ proc: Proc; basePort: number; grayPort: number }> {
  const basePort = await freePort();
  const grayPort = await freePort();
  const proc = spawnProc(
    "upstream",
    process.execPath,
    [
      join(repoRoot, "dist/bench/macro/upstream.js"),
      "--base-port",
      String(basePort),
      "--gray-port",
      String(grayPort),
    ],
    { logDir },
  );
  await waitForPort(basePort, proc);
  await waitForPort(grayPort, proc);
  return { proc, basePort, grayPort };
}

/** Every peer, in table order: this checkout's lanemesh, then the other builds asked for. */
export function peerList(repoRoot: string, builds: readonly Build[] = []): PeerDef[] {
  return [
    direct,
    nginx,
    nginxFull,
    haproxy,
    httpProxy,
    floor,
    floorFull,
    ...lanemeshPeers({ name: "", root: repoRoot, nodeFlags: [] }),
    ...builds.flatMap(lanemeshPeers),
  ];
}
