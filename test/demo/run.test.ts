// `lanemesh demo` as users run it: real processes, the seed's chains, the ratio share, and no process left behind after --check, Ctrl-C, SIGTERM, a dead child or a killed demo.
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { type AddressInfo, connect, createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { performance } from "node:perf_hooks";
import { after, describe, it } from "node:test";
import { currentContext } from "../../src/cli/context.js";
import { runDemo } from "../../src/demo/orchestrator.js";
import { CLI, freePorts, runCli } from "../helpers/procs.js";

const BASE_CHAIN =
  /^A\[127\.0\.0\.1:(\d+)\]\[config=base\] -> B\[127\.0\.0\.1:(\d+)\] -> C\[127\.0\.0\.1:(\d+)\]$/m;
const GRAY_CHAIN =
  /^Agray\[127\.0\.0\.1:(\d+)\]\[config=base\] -> B\[127\.0\.0\.1:(\d+)\] -> Cgray\[127\.0\.0\.1:(\d+)\]$/m;
const LOG_DIR = /their logs and pids are in (\S+)/;
const PROCESSES = 12;

/**
 * Our environment minus LANEMESH_* (a developer's exports must not change the demo), with a
 * HOME and context file of the test's own: a demo under test never touches the user's.
 */
function env(home: string): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("LANEMESH_")) out[k] = v;
  return { ...out, HOME: home, LANEMESH_CONFIG: join(home, "lanemesh-config") };
}

/** Ports for the control plane: free ones, never the defaults a developer's demo may hold. */
const FREE_CP_PORTS = ["--grpc-port", "0", "--http-port", "0"];

/** Running (or not): exists in /proc and is not a zombie waiting to be reaped. */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

async function eventually(what: string, probe: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** One `lanemesh demo` process and what it printed. */
class Demo {
  readonly child: ChildProcess;
  readonly startedAt = performance.now();
  stdout = "";
  stderr = "";
  readonly exited: Promise<number | string>;
  readonly home = mkdtempSync(join(tmpdir(), "lanemesh-demo-test-home-"));
  readonly contextFile = join(this.home, "lanemesh-config");
  private waiters: (() => void)[] = [];
  /** The children's pids, read while the demo runs (a clean stop removes pids.json with its folder). */
  private seenPids: Record<string, number> = {};

  constructor(args: string[]) {
    this.child = spawn(process.execPath, [CLI, "demo", ...FREE_CP_PORTS, ...args], {
      env: env(this.home),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const wake = (): void => {
      this.readPids();
      for (const w of this.waiters) w();
    };
    this.child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      this.stdout += d;
      wake();
    });
    this.child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      this.stderr += d;
      wake();
    });
    this.exited = new Promise((resolve) =>
      this.child.on("exit", (code, signal) => {
        resolve(code ?? signal ?? "?");
        wake();
      }),
    );
    running.add(this);
  }

  /** Resolves with the ms since start when stdout first matches `re`. */
  waitFor(re: RegExp, timeoutMs: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no ${re} within ${timeoutMs} ms:\n${this.stdout}\n${this.stderr}`));
      }, timeoutMs);
      const check = (): void => {
        if (re.test(this.stdout)) {
          done();
          resolve(performance.now() - this.startedAt);
        } else if (this.child.exitCode !== null || this.child.signalCode !== null) {
          done();
          reject(new Error(`demo exited before ${re}:\n${this.stdout}\n${this.stderr}`));
        }
      };
      const done = (): void => {
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
      };
      this.waiters.push(check);
      check();
    });
  }

  logDir(): string {
    const m = LOG_DIR.exec(this.stdout);
    assert.ok(m?.[1], `no log dir in:\n${this.stdout}`);
    return m[1];
  }

  /** The children's pids from pids.json, as last seen ({} before it is written). */
  pids(): Record<string, number> {
    this.readPids();
    return this.seenPids;
  }

  private readPids(): void {
    const m = LOG_DIR.exec(this.stdout);
    if (!m?.[1] || !existsSync(`${m[1]}/pids.json`)) return;
    try {
      const read = JSON.parse(readFileSync(`${m[1]}/pids.json`, "utf8")) as Record<string, number>;
      if (Object.keys(read).length >= Object.keys(this.seenPids).length) this.seenPids = read;
    } catch {
      // being written
    }
  }

  living(): string[] {
    return Object.entries(this.pids())
      .filter(([, pid]) => alive(pid))
      .map(([name, pid]) => `${name} (${pid})`);
  }

  /** Last resort after a failed test: nothing of this demo keeps running. */
  cleanUp(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill("SIGKILL");
    for (const pid of Object.values(this.pids())) if (alive(pid)) process.kill(pid, "SIGKILL");
    const m = LOG_DIR.exec(this.stdout);
    if (m?.[1]) rmSync(dirname(m[1]), { recursive: true, force: true });
    rmSync(this.home, { recursive: true, force: true });
    running.delete(this);
  }
}

const running = new Set<Demo>();
after(() => {
  for (const d of running) d.cleanUp();
});

async function gatewayPort(): Promise<number> {
  const [port] = await freePorts(1);
  assert.ok(port);
  return port;
}

function assertNoneLeft(d: Demo): void {
  const pids = d.pids();
  assert.equal(Object.keys(pids).length, PROCESSES, JSON.stringify(pids));
  assert.deepEqual(d.living(), [], "processes of the demo still running");
}

/** After a clean stop: no temporary folder and no context left behind. */
function assertNoTrace(d: Demo): void {
  assert.equal(existsSync(dirname(d.logDir())), false, `${dirname(d.logDir())} left behind`);
  assert.equal(existsSync(d.contextFile), false, "the context file is removed");
}

// One demo at a time: each runs 12 processes on a small machine.
describe("lanemesh demo", { concurrency: 1 }, () => {
  it("prints both chains in the seed's format, --check 200 finds every request in its lane, then stops everything", async (t) => {
    const port = await gatewayPort();
    const d = new Demo(["--port", String(port), "--check", "200"]);
    try {
      const ms = await d.waitFor(GRAY_CHAIN, 30_000);
      t.diagnostic(`chains printed ${(ms / 1000).toFixed(1)} s after the demo started`);
      assert.ok(ms < 30_000);
      assert.equal(await d.exited, 0, d.stderr);
      assert.ok(d.stdout.includes(`$ curl http://127.0.0.1:${port}/a\n`), d.stdout);
      assert.ok(d.stdout.includes(`$ curl -H 'canary: gray' http://127.0.0.1:${port}/a\n`));
      const base = BASE_CHAIN.exec(d.stdout);
      const gray = GRAY_CHAIN.exec(d.stdout);
      assert.ok(base && gray, d.stdout);
      assert.notEqual(base[1], gray[1], "A and A gray are different instances");
      assert.equal(base[2], gray[2], "B has no gray version: both chains use base B");
      assert.notEqual(base[3], gray[3], "C and C gray are different instances");
      assert.match(d.stdout, /^failed: 0 of 200$/m);
      assert.match(d.stdout, /^lane gray: 50\.0 % \(100 of 200\)$/m);
      assert.match(d.stdout, /another lane than the header asked for: 0$/m);
      assert.match(d.stdout, /^stopped 12 processes\n/m);
      assertNoneLeft(d);
      assertNoTrace(d);
      assert.equal(await portOpen(port), false, "the gateway's port is closed");
    } finally {
      d.cleanUp();
    }
  });

  it("--mode ratio --weight 30 --check 2000: the gray share is 30 ± 4 %, end to end", async (t) => {
    const d = new Demo([
      "--port",
      String(await gatewayPort()),
      "--mode",
      "ratio",
      "--weight",
      "30",
      "--check",
      "2000",
    ]);
    try {
      assert.equal(await d.exited, 0, `${d.stdout}\n${d.stderr}`);
      const share = /^lane gray: ([\d.]+) % \((\d+) of 2000\)$/m.exec(d.stdout);
      assert.ok(share?.[1], d.stdout);
      t.diagnostic(`gray share ${share[1]} % (${share[2]} of 2000)`);
      // σ of a 30 % share over 2,000 draws is 1.02 points: ±4 is 3.9σ, a chance failure about once
      // in 10,000 runs, while a broken ratio (0, 50 or 100 %, or the weight read as 3) still fails.
      assert.ok(Math.abs(Number(share[1]) - 30) <= 4, `gray share ${share[1]} %`);
      assert.match(d.stdout, /^failed: 0 of 2000$/m);
      assert.match(d.stdout, /^chains whose hops disagree with their lane: 0$/m);
      assert.match(d.stdout, /^hop 2: B 100\.0 % \(2000\)$/m);
      assertNoneLeft(d);
      assertNoTrace(d);
    } finally {
      d.cleanUp();
    }
  });

  it("Ctrl-C (SIGINT) while it runs: every process stops, exit 0, the context file goes", async () => {
    const d = new Demo(["--port", String(await gatewayPort())]);
    try {
      await d.waitFor(/^Try this/m, 30_000);
      assert.match(d.stdout, GRAY_CHAIN);
      const server = /^control plane: HTTP (http:\/\/127\.0\.0\.1:\d+), gRPC/m.exec(d.stdout)?.[1];
      assert.ok(server, d.stdout);
      assert.match(d.stdout, new RegExp(`^context "demo" written to ${d.contextFile}: `, "m"));
      assert.match(d.stdout, /^ {2}lanemesh get lanes$/m, "hints need no --server");
      const current = currentContext(d.contextFile);
      assert.equal(current.kind === "live" && current.context.server, server);
      const lanes = await runCli(["get", "lanes"], { LANEMESH_CONFIG: d.contextFile });
      assert.equal(lanes.code, 0, lanes.stderr);
      assert.match(lanes.stdout, /^gray\s+mall\s+gray\s+true/m);
      assert.equal(d.living().length, PROCESSES);
      d.child.kill("SIGINT");
      assert.equal(await d.exited, 0, d.stderr);
      assert.match(d.stdout, /^stopped 12 processes\n/m);
      assertNoneLeft(d);
      assertNoTrace(d);
    } finally {
      d.cleanUp();
    }
  });

  it("SIGTERM during start-up: every process stops, exit 0", async () => {
    const d = new Demo(["--port", String(await gatewayPort())]);
    try {
      await eventually("12 children started", () => d.living().length === PROCESSES, 30_000);
      d.child.kill("SIGTERM");
      assert.equal(await d.exited, 0, d.stderr);
      assertNoneLeft(d);
    } finally {
      d.cleanUp();
    }
  });

  it("a child that dies: the demo names it, shows its log, stops the others, exit 1", async () => {
    const d = new Demo(["--port", String(await gatewayPort())]);
    try {
      await d.waitFor(/^Try this/m, 30_000);
      const pid = d.pids()["sidecar-b"];
      assert.ok(pid);
      process.kill(pid, "SIGKILL");
      assert.equal(await d.exited, 1);
      assert.match(d.stderr, /error: sidecar-b exited \(SIGKILL\); last lines of .*sidecar-b\.log/);
      assert.match(d.stderr, /sidecar started/, "the tail of its log");
      assertNoneLeft(d);
      assert.match(
        d.stdout,
        /^stopped 12 processes \(logs kept in /m,
        "a failed run keeps its logs",
      );
      assert.equal(existsSync(d.contextFile), false, "the context file is removed");
    } finally {
      d.cleanUp();
    }
  });

  it("a SIGKILLed demo: its children notice and exit by themselves", async () => {
    const d = new Demo(["--port", String(await gatewayPort())]);
    try {
      await d.waitFor(/^Try this/m, 30_000);
      d.child.kill("SIGKILL");
      await d.exited;
      await eventually("the children to exit", () => d.living().length === 0, 10_000);
      assertNoneLeft(d);
      assert.equal(currentContext(d.contextFile).kind, "stale", "its context is known stale");
    } finally {
      d.cleanUp();
    }
  });

  it("a child that cannot start: its log tail, the others stopped, exit 1", async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, "127.0.0.1", r));
    const takenPort = String((taken.address() as AddressInfo).port);
    let out = "";
    let err = "";
    const code = await runDemo({
      gatewayPort: 0,
      grpcPort: { port: 0, given: true },
      httpPort: { port: 0, given: true },
      mode: "content",
      weight: null,
      check: null,
      basePort: null,
      signal: new AbortController().signal,
      out: (s) => {
        out += s;
      },
      err: (s) => {
        err += s;
      },
      adjustPlan: (plan) => ({
        ...plan,
        proxies: plan.proxies.map((p) =>
          p.name === "sidecar-b" ? { ...p, args: [...p.args, "--admin-port", takenPort] } : p,
        ),
      }),
    });
    const logDir = LOG_DIR.exec(out)?.[1];
    try {
      assert.equal(code, 1, out);
      assert.match(err, /error: sidecar-b exited \(code 1\)/);
      assert.match(err, /EADDRINUSE/, "its log tail says why");
      assert.ok(logDir);
      const pids = JSON.parse(readFileSync(`${logDir}/pids.json`, "utf8")) as Record<
        string,
        number
      >;
      assert.equal(Object.keys(pids).length, PROCESSES);
      assert.deepEqual(
        Object.values(pids).filter((pid) => alive(pid)),
        [],
      );
    } finally {
      taken.close();
      if (logDir) rmSync(dirname(logDir), { recursive: true, force: true });
    }
  });
});
