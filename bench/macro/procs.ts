// Child processes of the macro benchmark: spawn each in its own process group, wait until it
// serves, read its CPU and memory from /proc, kill it; it must never leave a process running.
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { join } from "node:path";
import { freePorts } from "../../src/demo/ports.js";

/** One process the benchmark started (the leader of its own process group). */
export interface Proc {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code (or the signal name) when the process ends. */
  readonly exited: Promise<string>;
  exitStatus: string | null;
}

const live = new Set<Proc>();

export interface SpawnOptions {
  logDir: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Start the log file empty (default: append). */
  truncate?: boolean;
}

/** Starts `cmd args` detached (own process group) with stdout and stderr in `<logDir>/<name>.log`. */
export function spawnProc(name: string, cmd: string, args: string[], opts: SpawnOptions): Proc {
  const logFile = join(opts.logDir, `${name}.log`);
  const fd = openSync(logFile, opts.truncate ? "w" : "a");
  let child: ChildProcess;
  try {
    child = spawn(cmd, args, {
      detached: true,
      stdio: ["ignore", fd, fd],
      env: opts.env ?? process.env,
      cwd: opts.cwd,
    });
  } finally {
    closeSync(fd);
  }
  let resolveExit: (s: string) => void = () => {};
  const exited = new Promise<string>((r) => {
    resolveExit = r;
  });
  const proc: Proc = {
    name,
    pid: child.pid ?? -1,
    logFile,
    child,
    exited,
    exitStatus: null,
  };
  child.on("error", (err) => {
    proc.exitStatus = `spawn error: ${err.message}`;
    live.delete(proc);
    resolveExit(proc.exitStatus);
  });
  child.on("exit", (code, signal) => {
    proc.exitStatus = signal ?? `exit ${code}`;
    live.delete(proc);
    resolveExit(proc.exitStatus);
  });
  if (child.pid !== undefined) live.add(proc);
  return proc;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is gone already
  }
}

/** SIGTERM to the process group, SIGKILL after `graceMs`; resolves when the leader has exited. */
export async function stopProc(p: Proc, graceMs = 3000): Promise<void> {
  if (p.exitStatus !== null) {
    signalGroup(p.pid, "SIGKILL"); // stray children of a dead leader
    return;
  }
  signalGroup(p.pid, "SIGTERM");
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<"timeout">((r) => {
    timer = setTimeout(() => r("timeout"), graceMs);
  });
  const first = await Promise.race([p.exited, timedOut]);
  clearTimeout(timer);
  signalGroup(p.pid, "SIGKILL");
  if (first === "timeout") await p.exited;
}

/** Kills every process group still running, synchronously (safe inside an `exit` handler). */
export function killAllSync(): void {
  for (const p of live) signalGroup(p.pid, "SIGKILL");
  live.clear();
}

const cleanups: (() => void)[] = [];

/** Registers a synchronous cleanup (e.g. removing the scratch folder) for every way out. */
export function onCleanup(fn: () => void): void {
  cleanups.push(fn);
}

function runCleanups(): void {
  for (const fn of cleanups.splice(0)) {
    try {
      fn();
    } catch {
      // best effort on the way out
    }
  }
}

/** Kills every child, waits up to 2 s for them to be reaped, runs the cleanups, exits. */
async function shutdown(code: number): Promise<void> {
  const waiting = [...live].map((p) => p.exited);
  killAllSync();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    Promise.all(waiting),
    new Promise<void>((r) => {
      timer = setTimeout(r, 2000);
    }),
  ]);
  clearTimeout(timer);
  runCleanups();
  process.exit(code);
}

/** Makes sure no child outlives the runner: on exit, on signals and on uncaught errors. */
export function installExitHandlers(onFatal: (err: unknown) => void): void {
  process.on("exit", () => {
    killAllSync();
    runCleanups();
  });
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.on(sig, () => {
      process.stderr.write(`\nbench: ${sig}, killing every child process\n`);
      void shutdown(130);
    });
  }
  process.on("uncaughtException", (err) => {
    onFatal(err);
    void shutdown(1);
  });
  process.on("unhandledRejection", (err) => {
    onFatal(err);
    void shutdown(1);
  });
}

/** The last `lines` lines of a process's log, for error messages. */
export function logTail(p: Proc, lines = 15): string {
  try {
    const text = readFileSync(p.logFile, "utf8").trimEnd();
    return text.split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

/** A port that was free a moment ago on 127.0.0.1 (the OS picks it). */
/**
 * A free port on 127.0.0.1 below the kernel's ephemeral range (the demo's choice): one from
 * `listen(0)` lies in that range, where any outgoing connection (wrk's, a pool's) may take it
 * before the child binds it (EADDRINUSE, seen starting the full hop).
 */
export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  if (port === undefined) throw new Error("no free port");
  return port;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function tryConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Polls until `port` accepts a TCP connection; fails early when `proc` exits. */
export async function waitForPort(port: number, proc: Proc, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (proc.exitStatus !== null) {
      throw new Error(`${proc.name} exited (${proc.exitStatus}):\n${logTail(proc)}`);
    }
    if (await tryConnect(port)) return;
    await sleep(50);
  }
  throw new Error(`${proc.name}: port ${port} not open after ${timeoutMs} ms:\n${logTail(proc)}`);
}

export interface SimpleResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One GET on 127.0.0.1 with a fresh connection; rejects on network errors. */
export function httpGet(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<SimpleResponse> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path, headers, agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => {
        body += c;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      res.on("error", reject);
    });
    req.setTimeout(5000, () => req.destroy(new Error("timeout")));
    req.on("error", reject);
  });
}

/** Polls `GET path` on `port` until it answers 200; fails early when `proc` exits. */
export async function waitForHttp200(
  port: number,
  path: string,
  proc: Proc,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  while (Date.now() < deadline) {
    if (proc.exitStatus !== null) {
      throw new Error(`${proc.name} exited (${proc.exitStatus}):\n${logTail(proc)}`);
    }
    try {
      const res = await httpGet(port, path);
      if (res.status === 200) return;
      last = `status ${res.status}: ${res.body.slice(0, 200)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await sleep(100);
  }
  throw new Error(`${proc.name}: ${path} on ${port} not 200 (${last}):\n${logTail(proc)}`);
}

let clkTck: number | undefined;
export function ticksPerSecond(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** CPU seconds (user + system, all threads) the process has used so far; null when gone. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the `(comm)`: state is field 3, utime 14, stime 15 (1-based).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const utime = Number(fields[11]);
    const stime = Number(fields[12]);
    return (utime + stime) / ticksPerSecond();
  } catch {
    return null;
  }
}

/** VmRSS and VmHWM (peak RSS) in MB from /proc/<pid>/status; null when gone. */
export function memoryMB(pid: number): { rss: number; hwm: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (key: string) => {
      const m = new RegExp(`^${key}:\\s+(\\d+) kB`, "m").exec(status);
      return m ? Number(m[1]) : Number.NaN;
    };
    return { rss: kb("VmRSS") / 1024, hwm: kb("VmHWM") / 1024 };
  } catch {
    return null;
  }
}

/** CPU seconds of the runner itself plus its reaped children (utime, stime, cutime, cstime). */
function selfAndReapedCpu(): number {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / ticksPerSecond();
}

/**
 * Busy and steal CPU seconds of the whole machine since boot, from /proc/stat; `tasks`: the time
 * of tasks only (user, nice, system), without interrupts, whose time no process is charged with
 * (on loopback, the receiving side of every packet a process sends).
 */
function machineCpu(): { busy: number; tasks: number; steal: number } {
  const line = readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "";
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal
  const tasks = (v[0] ?? 0) + (v[1] ?? 0) + (v[2] ?? 0);
  const busy = tasks + (v[5] ?? 0) + (v[6] ?? 0);
  const tck = ticksPerSecond();
  return { busy: busy / tck, tasks: tasks / tck, steal: (v[7] ?? 0) / tck };
}

/** CPU seconds used so far by every process of this benchmark: the runner, its children, theirs. */
function benchCpu(): number {
  let total = selfAndReapedCpu();
  for (const p of live) {
    total += cpuSeconds(p.pid) ?? 0;
    for (const child of childPids(p.pid)) total += cpuSeconds(child) ?? 0;
  }
  return total;
}

/** Average cores used by other processes (other users of a shared machine) and stolen by the host. */
export interface Background {
  otherCores: number;
  stealCores: number;
}

/** Starts watching the machine's CPU; the returned function gives the background since then. */
export function watchBackground(): () => Background {
  const t0 = process.hrtime.bigint();
  const m0 = machineCpu();
  const b0 = benchCpu();
  return () => {
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    const m1 = machineCpu();
    const other = m1.busy - m0.busy - (benchCpu() - b0);
    return {
      otherCores: Math.max(0, other / wall),
      stealCores: (m1.steal - m0.steal) / wall,
    };
  };
}

/**
 * Starts watching the cores used by every process but this one and `pids` (the rest of a shared
 * machine, for a process that is not the runner; interrupt time left out, see machineCpu); the
 * returned function gives them since then.
 */
export function watchOthers(pids: readonly number[]): () => number {
  const mine = () => {
    const u = process.cpuUsage();
    let t = (u.user + u.system) / 1e6;
    for (const pid of pids) t += cpuSeconds(pid) ?? 0;
    return t;
  };
  const t0 = process.hrtime.bigint();
  const m0 = machineCpu().tasks;
  const c0 = mine();
  return () => {
    const wall = Number(process.hrtime.bigint() - t0) / 1e9;
    return Math.max(0, (machineCpu().tasks - m0 - (mine() - c0)) / wall);
  };
}

/**
 * Wait (at most `maxMs`) until the rest of the machine uses under `cores` CPU cores over a second,
 * so that a visit does not start in the middle of someone else's burst; resolves with the wait.
 */
export async function waitQuiet(cores: number, maxMs: number): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < maxMs) {
    const seen = watchBackground();
    await new Promise((r) => setTimeout(r, 1000));
    if (seen().otherCores < cores) break;
  }
  return Date.now() - t0;
}

/** Direct children of `pid`, found by scanning /proc (nginx's worker is the master's child). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // raced with an exiting process
    }
  }
  return out;
}

/** Samples VmRSS of `pids` every `everyMs` and keeps the maximum of each (for RSS under load). */
export class RssSampler {
  private readonly max = new Map<number, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pids: readonly number[],
    everyMs = 100,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), everyMs);
  }

  private sample(): void {
    for (const pid of this.pids) {
      const m = memoryMB(pid);
      if (m !== null && m.rss > (this.max.get(pid) ?? 0)) this.max.set(pid, m.rss);
    }
  }

  /** Stops sampling; returns the maximum VmRSS (MB) seen for each pid, in `pids` order. */
  stop(): number[] {
    clearInterval(this.timer);
    this.sample();
    return this.pids.map((pid) => this.max.get(pid) ?? Number.NaN);
  }
}

/** The first executable named `name` on PATH or in the sbin folders (nginx lives in /usr/sbin). */
export function findBinary(name: string): string | null {
  const dirs = [
    ...(process.env.PATH ?? "").split(":").filter(Boolean),
    "/usr/sbin",
    "/usr/local/sbin",
    "/sbin",
  ];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (existsSync(candidate)) return candidate;
  }
  return null;
}
