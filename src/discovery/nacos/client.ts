// The slice of the official `nacos` client that the Nacos resolver drives (its types, its logger, a cancellable heartbeat loop in place of its own, and the checked construction); it never maps instances or decides anything.
import { createRequire } from "node:module";
import type { Logger } from "../../telemetry/logger.js";
import type { NacosHost } from "./instances.js";
import type { NacosTarget } from "./target.js";

/** Nacos's own beat period until the server says otherwise (BeatInfo.period, 5 s). */
const BEAT_MS = 5_000;

// The parts of the `nacos` client we use (nacos-naming 2.6; no published types for them).

export type Listener = (
  hosts: NacosHost[],
  info?: { hosts?: NacosHost[]; lastRefTime?: number },
) => void;

interface Emitter {
  on(event: "error", fn: (err: Error) => void): unknown;
}

interface BeatInfo {
  serviceName: string;
  ip: string;
  port: number;
  [k: string]: unknown;
}

interface BeatReactorLike {
  addBeatInfo(serviceName: string, info: BeatInfo): void;
  removeBeatInfo(serviceName: string, ip: string, port: number): void;
  close(): Promise<void>;
}

interface NamingProxy extends Emitter {
  queryList(
    serviceName: string,
    clusters: string,
    udpPort: number,
    healthyOnly: boolean,
  ): Promise<string>;
  getServiceList(
    pageNo: number,
    pageSize: number,
    groupName: string,
  ): Promise<{ count: number; data?: string[] }>;
  sendBeat(info: BeatInfo): Promise<number>;
}

export interface RegisteredInstance {
  ip: string;
  port: number;
  weight: number;
  healthy: boolean;
  enabled: boolean;
  ephemeral: boolean;
  metadata: Record<string, string>;
}

export interface NamingClient extends Emitter {
  ready(): Promise<void>;
  close(): Promise<void>;
  registerInstance(service: string, instance: RegisteredInstance, group: string): Promise<unknown>;
  deregisterInstance(
    service: string,
    instance: { ip: string; port: number; ephemeral: boolean },
    group: string,
  ): Promise<unknown>;
  subscribe(info: { serviceName: string; groupName: string; clusters: string }, l: Listener): void;
  unSubscribe(
    info: { serviceName: string; groupName: string; clusters: string },
    l: Listener,
  ): void;
  _serverProxy: NamingProxy;
  _hostReactor: Emitter & { _pushReceiver: Emitter };
  _beatReactor: BeatReactorLike & { _isClosed?: boolean; _clientBeatInterval?: number };
}

type ClientCtor = new (opts: {
  logger: ClientLogger;
  serverList: string;
  namespace: string;
}) => NamingClient;

interface ClientLogger {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

/**
 * The client's log lines go to our pino logger at debug: they are per request (every failed poll
 * and beat during an outage), and the resolver itself reports what matters once (outage, return).
 */
function clientLogger(log: Logger): ClientLogger {
  const write = (first: unknown, ...rest: unknown[]) => {
    if (first instanceof Error) log.debug({ err: first }, "nacos client: %s", first.message);
    else
      (log.debug as (msg: string, ...args: unknown[]) => void)(
        `nacos client: ${String(first)}`,
        ...rest,
      );
  };
  return { debug: write, info: write, warn: write, error: write };
}

/**
 * Heartbeats of our own instance, in place of the client's BeatReactor: that one loops on a
 * 10 s `sleep()` it cannot cancel, so a closed client kept the process alive for up to 10 s.
 * Same behaviour otherwise: beat every instance, then wait what the server answered (5 s).
 */
class BeatLoop implements BeatReactorLike {
  private readonly beats = new Map<string, BeatInfo>();
  private timer: NodeJS.Timeout | undefined;
  private beating = false;
  private closed = false;

  constructor(private readonly proxy: NamingProxy) {}

  addBeatInfo(serviceName: string, info: BeatInfo): void {
    this.beats.set(`${serviceName}#${info.ip}#${info.port}`, info);
    if (this.timer === undefined && !this.beating) this.arm(BEAT_MS);
  }

  removeBeatInfo(serviceName: string, ip: string, port: number): void {
    this.beats.delete(`${serviceName}#${ip}#${port}`);
    if (this.beats.size === 0) this.disarm();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.beats.clear();
    this.disarm();
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => void this.beat(), ms);
  }

  private disarm(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async beat(): Promise<void> {
    this.timer = undefined;
    this.beating = true;
    let next = BEAT_MS;
    for (const info of [...this.beats.values()]) {
      // sendBeat logs its own failures and answers the default period then.
      const answered = await this.proxy.sendBeat(info).catch(() => BEAT_MS);
      if (Number.isFinite(answered) && answered >= 500) next = Math.min(answered, 60_000);
    }
    this.beating = false;
    if (!this.closed && this.beats.size > 0 && this.timer === undefined) this.arm(next);
  }
}

/** Build the client, check the internals we lean on, swap in BeatLoop, silence its console. */
export function openClient(target: NacosTarget, log: Logger): NamingClient {
  const require = createRequire(import.meta.url);
  const { NacosNamingClient } = require("nacos") as { NacosNamingClient: ClientCtor };
  const client = new NacosNamingClient({
    logger: clientLogger(log),
    serverList: target.serverAddr,
    namespace: target.namespace === "" ? "public" : target.namespace,
  });
  const proxy = client._serverProxy;
  const hosts = client._hostReactor;
  const beats = client._beatReactor;
  if (
    typeof proxy?.queryList !== "function" ||
    typeof proxy.getServiceList !== "function" ||
    typeof proxy.sendBeat !== "function" ||
    typeof hosts?._pushReceiver?.on !== "function" ||
    typeof beats?.addBeatInfo !== "function"
  ) {
    void client.close();
    throw new Error("the installed `nacos` client is not the 2.x line this resolver was built on");
  }
  // Its loop is parked on `await Promise.all([])` right now: closed with a 0 ms period, it ends
  // after one tick instead of sleeping 10 s.
  beats._isClosed = true;
  beats._clientBeatInterval = 0;
  client._beatReactor = new BeatLoop(proxy);
  // sdk-base prints any 'error' nobody listens to with console.error. Poll failures are the
  // sweep's business (it sees the same outage); a UDP push socket failure is worth a warning.
  hosts.on("error", (err) => log.debug({ err }, "nacos client: %s", err.message));
  hosts._pushReceiver.on("error", (err) =>
    log.warn({ err }, "nacos push receiver: %s", err.message),
  );
  proxy.on("error", (err) => log.warn({ err }, "nacos client: %s", err.message));
  client.on("error", (err) => log.warn({ err }, "nacos client: %s", err.message));
  return client;
}
