// The demo's plan as data: which processes `lanemesh demo` runs, on which ports, with which flags; pure, it starts nothing.

/** One app of the demo's chain (each runs beside its own sidecar). */
export interface DemoAppSpec {
  /** Stable key, used in process and log names: `a`, `a-gray`, … */
  key: string;
  /** The service its sidecar registers (`--app`). */
  service: string;
  /** Name in the answer (`A`); the tag is appended by the app (`Agray`). */
  name: string;
  /** null = base. */
  tag: string | null;
  /** Next hop as the app dials it (through its sidecar's outbound port), null for the last app. */
  next: string | null;
  /** `[config=base]` of the seed's app A. */
  configLabel: string | null;
}

/** A, A gray, B, C, C gray: the versions the scenario deploys (B has no gray version). */
export const DEMO_APPS: readonly DemoAppSpec[] = [
  { key: "a", service: "sc-a", name: "A", tag: null, next: "http://sc-b/", configLabel: "base" },
  {
    key: "a-gray",
    service: "sc-a",
    name: "A",
    tag: "gray",
    next: "http://sc-b/",
    configLabel: "base",
  },
  { key: "b", service: "sc-b", name: "B", tag: null, next: "http://sc-c/", configLabel: null },
  { key: "c", service: "sc-c", name: "C", tag: null, next: null, configLabel: null },
  { key: "c-gray", service: "sc-c", name: "C", tag: "gray", next: null, configLabel: null },
];

/** The path the demo's route matches (examples/mall-routes.yaml). */
export const DEMO_PATH = "/a";
/** The header the content lane matches (examples/mall-content.yaml). */
export const CANARY_HEADER = { name: "canary", value: "gray" } as const;

export interface AppPorts {
  app: number;
  inbound: number;
  outbound: number;
  admin: number;
}

export interface DemoPorts {
  grpc: number;
  http: number;
  gateway: number;
  gatewayAdmin: number;
  /** By DemoAppSpec.key. */
  apps: Record<string, AppPorts>;
}

/** The control plane's own default ports (`lanemesh control-plane`), which the demo prefers. */
export const DEFAULT_GRPC_PORT = 15010;
export const DEFAULT_HTTP_PORT = 15014;

/** Ports besides the gateway's and the control plane's: the gateway's admin, then 4 per app. */
export const RANGE_PORTS = 1 + 4 * DEMO_APPS.length;

/** `--base-port P`: P … P+RANGE_PORTS-1; null when one would pass 65535. */
export function consecutivePorts(base: number): number[] | null {
  if (base < 1 || base + RANGE_PORTS - 1 > 65535) return null;
  return Array.from({ length: RANGE_PORTS }, (_, i) => base + i);
}

/** Hand out `range` (RANGE_PORTS of them, in order) to the gateway's admin and the apps. */
export function assignPorts(
  own: { gateway: number; grpc: number; http: number },
  range: readonly number[],
): DemoPorts {
  if (range.length < RANGE_PORTS) throw new Error(`need ${RANGE_PORTS} ports`);
  let i = 0;
  const take = (): number => range[i++] as number;
  const gatewayAdmin = take();
  const apps: Record<string, AppPorts> = {};
  for (const a of DEMO_APPS)
    apps[a.key] = { app: take(), inbound: take(), outbound: take(), admin: take() };
  return { ...own, gatewayAdmin, apps };
}

/** How a process tells it is up. */
export type Readiness =
  | { kind: "http-ok"; url: string }
  | { kind: "listening"; port: number }
  | { kind: "ready"; adminPort: number };

/** One process the demo starts: `lanemesh ARGS…`. */
export interface ProcessSpec {
  /** Process and log file name, e.g. `sidecar-a-gray`. */
  name: string;
  args: string[];
  ready: Readiness;
}

export interface DemoDirs {
  /** The control plane's file store. */
  data: string;
  /** The proxies' last good snapshots. */
  state: string;
  /** One bootstrap token file per proxy (`<process name>.token`), written before they start. */
  tokens: string;
}

/** The credential one proxy of the demo needs: what its token covers, and where it is kept. */
export interface DemoToken {
  file: string;
  role: "sidecar" | "gateway";
  services: string[];
  gateways: string[];
}

/** Where the demo keeps the token of the proxy process `name`. */
export function tokenFile(dirs: Pick<DemoDirs, "tokens">, name: string): string {
  return `${dirs.tokens}/${name}.token`;
}

/** One token per proxy: the gateway's for gateway `default`, each sidecar's for its service only. */
export function demoTokens(dirs: Pick<DemoDirs, "tokens">): DemoToken[] {
  return [
    { file: tokenFile(dirs, "gateway"), role: "gateway", services: [], gateways: ["default"] },
    ...DEMO_APPS.map(
      (a): DemoToken => ({
        file: tokenFile(dirs, `sidecar-${a.key}`),
        role: "sidecar",
        services: [a.service],
        gateways: [],
      }),
    ),
  ];
}

export interface DemoPlan {
  controlPlane: ProcessSpec;
  apps: ProcessSpec[];
  /** The gateway first, then one sidecar per app. */
  proxies: ProcessSpec[];
}

const HOST = "127.0.0.1";
/** Sidecars and gateway drain at most this long on SIGTERM (the default 10 s is for production). */
const DRAIN_SECONDS = "1";

/** Every process of the demo, with its flags. */
export function demoPlan(ports: DemoPorts, dirs: DemoDirs, grpc = false): DemoPlan {
  const controlPlane: ProcessSpec = {
    name: "control-plane",
    args: [
      "control-plane",
      "--grpc-port",
      String(ports.grpc),
      "--http-port",
      String(ports.http),
      "--data-dir",
      dirs.data,
      "--bind",
      HOST,
    ],
    ready: { kind: "http-ok", url: `http://${HOST}:${ports.http}/healthz` },
  };
  const upstream = [
    "--bind",
    HOST,
    "--control-plane",
    `${HOST}:${ports.grpc}`,
    "--state-dir",
    dirs.state,
    "--drain-seconds",
    DRAIN_SECONDS,
  ];
  const gateway: ProcessSpec = {
    name: "gateway",
    args: [
      "gateway",
      "--port",
      String(ports.gateway),
      "--admin-port",
      String(ports.gatewayAdmin),
      "--token-file",
      tokenFile(dirs, "gateway"),
      ...upstream,
    ],
    ready: { kind: "ready", adminPort: ports.gatewayAdmin },
  };
  const apps: ProcessSpec[] = [];
  const sidecars: ProcessSpec[] = [];
  for (const a of DEMO_APPS) {
    const p = ports.apps[a.key] as AppPorts;
    const tag = a.tag === null ? [] : ["--tag", a.tag];
    apps.push({
      name: `app-${a.key}`,
      args: [
        "demo-app",
        "--name",
        a.name,
        ...tag,
        "--host",
        HOST,
        "--port",
        String(p.app),
        ...(a.next === null ? [] : ["--next", a.next]),
        "--proxy",
        `http://${HOST}:${p.outbound}`,
        ...(a.configLabel === null ? [] : ["--config-label", a.configLabel]),
        "--forward",
        "traceparent",
        ...(grpc ? ["--protocol", "grpc"] : []),
      ],
      ready: { kind: "listening", port: p.app },
    });
    sidecars.push({
      name: `sidecar-${a.key}`,
      args: [
        "sidecar",
        "--app",
        a.service,
        ...tag,
        "--app-port",
        String(p.app),
        "--inbound-port",
        String(p.inbound),
        "--outbound-port",
        String(p.outbound),
        "--admin-port",
        String(p.admin),
        "--token-file",
        tokenFile(dirs, `sidecar-${a.key}`),
        ...upstream,
      ],
      ready: { kind: "ready", adminPort: p.admin },
    });
  }
  return { controlPlane, apps, proxies: [gateway, ...sidecars] };
}

/** `service|tag|port` of every sidecar's instance, as the control plane must list them. */
export function expectedInstances(ports: DemoPorts): string[] {
  return DEMO_APPS.map(
    (a) => `${a.service}|${a.tag ?? ""}|${HOST}:${(ports.apps[a.key] as AppPorts).inbound}`,
  );
}
