// The demo's child processes: spawns `lanemesh …` children with their output in log files, records their pids, and stops every one of them; it never decides what to run.
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ProcessSpec } from "./topology.js";

/** dist/src/demo/children.js → dist/src/cli/main.js */
export const CLI_PATH = fileURLToPath(new URL("../cli/main.js", import.meta.url));
/** Loaded into every child: it exits when the demo's IPC channel closes (SIGKILLed demo included). */
const EXIT_WITH_PARENT = new URL("./exit-with-parent.js", import.meta.url).href;

export interface ExitStatus {
  code: number | null;
  signal: string | null;
}

/** One running (or exited) child. */
export interface Child {
  readonly name: string;
  readonly pid: number;
  /** Its stdout and stderr. */
  readonly logFile: string;
  /** Resolves once the process has exited. */
  readonly exited: Promise<ExitStatus>;
  /** null while it runs. */
  status(): ExitStatus | null;
}

export interface ChildSetOptions {
  /** Where `<name>.log` and `pids.json` go. */
  logDir: string;
  /** Log level of the children (LANEMESH_LOG_LEVEL). */
  logLevel?: string;
  /** Called once per child when it exits, whoever stopped it. */
  onExit?: (child: Child, status: ExitStatus) => void;
}

/** Our environment for the children, minus LANEMESH_* and POD_IP: the demo sets every flag itself. */
function childEnv(logLevel: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env))
    if (!k.startsWith("LANEMESH_") && k !== "POD_IP") env[k] = v;
  env.LANEMESH_LOG_LEVEL = logLevel;
  return env;
}

interface Entry {
  child: Child;
  process: ChildProcess;
}

/**
 * Children run in their own process group (a terminal's Ctrl-C reaches the demo only, which stops
 * them in order) and with an IPC channel whose closing makes them exit (exit-with-parent.ts).
 */
export class ChildSet {
  private readonly entries: Entry[] = [];
  private readonly env: NodeJS.ProcessEnv;
  private readonly pidFile: string;
  /** Last resort: whatever way this process exits, no child is left running. */
  private readonly onProcessExit = (): void => this.killNow();

  constructor(private readonly opts: ChildSetOptions) {
    this.env = childEnv(opts.logLevel ?? process.env.LANEMESH_LOG_LEVEL ?? "info");
    this.pidFile = join(opts.logDir, "pids.json");
    process.on("exit", this.onProcessExit);
  }

  /** Start `node dist/src/cli/main.js ARGS…` with stdout and stderr appended to its log file. */
  start(spec: ProcessSpec): Child {
    const logFile = join(this.opts.logDir, `${spec.name}.log`);
    const fd = openSync(logFile, "a");
    let proc: ChildProcess;
    try {
      proc = spawn(process.execPath, ["--import", EXIT_WITH_PARENT, CLI_PATH, ...spec.args], {
        env: this.env,
        stdio: ["ignore", fd, fd, "ipc"],
        detached: true,
      });
    } finally {
      closeSync(fd);
    }
    let status: ExitStatus | null = null;
    const exited = new Promise<ExitStatus>((resolve) => {
      const done = (s: ExitStatus): void => {
        if (status !== null) return;
        status = s;
        this.opts.onExit?.(child, s);
        resolve(s);
      };
      proc.once("exit", (code, signal) => done({ code, signal }));
      proc.once("error", (err) => {
        writeFileSync(logFile, `spawn error: ${err.message}\n`, { flag: "a" });
        done({ code: null, signal: "spawn-error" });
      });
    });
    // The IPC channel must not keep the demo alive, nor fail it when a child is gone.
    proc.channel?.unref();
    proc.on("error", () => {});
    const child: Child = {
      name: spec.name,
      pid: proc.pid ?? -1,
      logFile,
      exited,
      status: () => status,
    };
    this.entries.push({ child, process: proc });
    this.writePids();
    return child;
  }

  list(): Child[] {
    return this.entries.map((e) => e.child);
  }

  /** SIGTERM every child still running; SIGKILL those still there after `graceMs`. */
  async stop(graceMs = 5000): Promise<void> {
    const running = this.entries.filter((e) => e.child.status() === null);
    for (const e of running) e.process.kill("SIGTERM");
    let timer: NodeJS.Timeout | undefined;
    const all = Promise.all(running.map((e) => e.child.exited));
    const late = await Promise.race([
      all.then(() => false),
      new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), graceMs);
      }),
    ]);
    clearTimeout(timer);
    if (late) {
      this.killNow();
      await all;
    }
    process.off("exit", this.onProcessExit);
  }

  /** SIGKILL every child still running, synchronously (safe in an 'exit' handler). */
  killNow(): void {
    for (const e of this.entries) if (e.child.status() === null) e.process.kill("SIGKILL");
  }

  /**
   * The end of a child's log: its last lines, and its first few when the log is longer (a usage
   * error or a crash prints its reason first, then help text or a stack).
   */
  tail(child: Child, lines = 20): string {
    let text: string;
    try {
      text = readFileSync(child.logFile, "utf8");
    } catch {
      return "";
    }
    const all = text.trimEnd().split("\n");
    if (all.length <= lines) return all.join("\n");
    const head = Math.min(5, lines >> 2);
    return [...all.slice(0, head), "  …", ...all.slice(head - lines)].join("\n");
  }

  private writePids(): void {
    const pids = Object.fromEntries(this.entries.map((e) => [e.child.name, e.child.pid]));
    writeFileSync(this.pidFile, `${JSON.stringify(pids, null, 2)}\n`);
  }
}
