// Test helper: "pods" as network namespaces joined by veth pairs to a bridge that lives in a namespace of its own (10.254.0.0/24, only inside namespaces this run creates), commands run inside them as a chosen user, and a teardown that always runs; no assertions here.
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { CLI, type Proc, ProcGroup } from "./procs.js";

/** dist/test/helpers/netns-tools.js: the echo server and clients run inside the pods. */
export const TOOLS = fileURLToPath(new URL("./netns-tools.js", import.meta.url));

/** The /24 every pod address is taken from; it exists only inside this run's namespaces. */
export const SUBNET = "10.254.0";

/** Why the namespace tests cannot run here (to skip with), or null when they can. */
export function netnsSkipReason(): string | null {
  if (process.platform !== "linux") return "network namespaces and iptables need Linux";
  if (process.getuid?.() !== 0) return "needs root (network namespaces, iptables)";
  const dirs = (process.env.PATH ?? "").split(delimiter);
  const onPath = (cmd: string) => dirs.some((d) => d !== "" && existsSync(join(d, cmd)));
  const missing = ["ip", "iptables", "iptables-save", "iptables-restore"].filter((c) => !onPath(c));
  if (missing.length > 0) {
    return `${missing.join(", ")} not installed (apt-get install iproute2 iptables; .ci/run does)`;
  }
  return null;
}

/** `setpriv` drops root to `uid` (and gid = uid) for the command after it; it execs, as ip netns exec does. */
function asUser(uid: number | null): string[] {
  return uid === null
    ? []
    : ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups", "--"];
}

/** Run a command to completion; throw with its stderr when it fails. */
function must(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")}: ${r.error?.message ?? r.stderr.trim()}`);
  }
  return r.stdout;
}

export interface Pod {
  /** Short name (`a`, `gw`). */
  readonly name: string;
  /** The network namespace (unique per run). */
  readonly ns: string;
  readonly ip: string;
}

export interface ExecResult {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Every namespace, hosts folder and process of one test run. */
export class Pods {
  readonly procs = new ProcGroup();
  private readonly namespaces: string[] = [];
  private readonly tools: ChildProcess[] = [];
  private readonly bridge: string;
  private links = 0;
  private destroyed = false;
  private readonly onExit = (): void => this.teardownSync();
  private readonly prefix: string;

  /** Create the bridge namespace; `Pods.destroy()` must follow (an exit hook backs it up). */
  constructor() {
    const id = `lm${process.pid.toString(36)}${randomBytes(2).toString("hex")}`;
    this.prefix = id;
    this.bridge = `${id}-br`;
    process.on("exit", this.onExit);
    this.addNamespace(this.bridge);
    must("ip", ["-n", this.bridge, "link", "add", "br0", "type", "bridge"]);
    must("ip", ["-n", this.bridge, "link", "set", "br0", "up"]);
  }

  private addNamespace(ns: string): void {
    must("ip", ["netns", "add", ns]);
    this.namespaces.push(ns);
    must("ip", ["-n", ns, "link", "set", "lo", "up"]);
  }

  /**
   * A pod: its namespace, `eth0` at `SUBNET.host`/24 on the bridge, and a hosts file
   * (`/etc/netns/NS/hosts`, which `ip netns exec` mounts over /etc/hosts) naming `hosts`.
   */
  add(name: string, host: number, hosts: Record<string, string> = {}): Pod {
    const ns = `${this.prefix}-${name}`;
    const ip = `${SUBNET}.${host}`;
    this.addNamespace(ns);
    const peer = `v${this.links++}`;
    must("ip", [
      "-n",
      ns,
      "link",
      "add",
      "eth0",
      "type",
      "veth",
      "peer",
      "name",
      peer,
      "netns",
      this.bridge,
    ]);
    must("ip", ["-n", ns, "addr", "add", `${ip}/24`, "dev", "eth0"]);
    must("ip", ["-n", ns, "link", "set", "eth0", "up"]);
    must("ip", ["-n", this.bridge, "link", "set", peer, "master", "br0"]);
    must("ip", ["-n", this.bridge, "link", "set", peer, "up"]);
    const dir = join("/etc/netns", ns);
    mkdirSync(dir, { recursive: true });
    const lines = ["127.0.0.1 localhost", "::1 localhost", `${ip} ${name}`];
    for (const [host, address] of Object.entries(hosts)) lines.push(`${address} ${host}`);
    writeFileSync(join(dir, "hosts"), `${lines.join("\n")}\n`, { mode: 0o644 });
    return { name, ns, ip };
  }

  private wrap(pod: Pod, uid: number | null): string[] {
    return ["ip", "netns", "exec", pod.ns, ...asUser(uid)];
  }

  /** Run `argv` inside the pod as `uid` (null: root) to completion, `input` on stdin. */
  exec(
    pod: Pod,
    argv: string[],
    opts: { uid?: number | null; input?: Buffer | string; timeoutMs?: number } = {},
  ): Promise<ExecResult> {
    const full = [...this.wrap(pod, opts.uid ?? null), ...argv];
    return new Promise((resolve) => {
      const child = spawn(full[0] as string, full.slice(1), { stdio: ["pipe", "pipe", "pipe"] });
      const out: Buffer[] = [];
      let err = "";
      child.stdout.on("data", (d: Buffer) => out.push(d));
      child.stderr.setEncoding("utf8").on("data", (d: string) => {
        err += d;
      });
      const timer = setTimeout(() => {
        err += `\n(killed after ${opts.timeoutMs} ms)`;
        child.kill("SIGKILL");
      }, opts.timeoutMs ?? 60_000);
      child.on("error", (e) => {
        err += `spawn error: ${e.message}`;
      });
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({ code, stdout: Buffer.concat(out), stderr: err });
      });
      child.stdin.on("error", () => {});
      child.stdin.end(opts.input ?? "");
    });
  }

  /** `lanemesh ARGS…` to completion inside the pod. */
  cli(pod: Pod, args: string[], uid: number | null = null): Promise<ExecResult> {
    return this.exec(pod, [process.execPath, CLI, ...args], { uid });
  }

  /** `node netns-tools.js ARGS…` to completion inside the pod. */
  tool(
    pod: Pod,
    args: string[],
    opts: { uid?: number | null; input?: Buffer; timeoutMs?: number } = {},
  ) {
    return this.exec(pod, [process.execPath, TOOLS, ...args], opts);
  }

  /** A long-running `lanemesh ARGS…` inside the pod as `uid`. */
  start(pod: Pod, name: string, args: string[], uid: number | null): Proc {
    return this.procs.spawn(name, args, {}, this.wrap(pod, uid));
  }

  /** A long-running `node netns-tools.js ARGS…`; resolves once it printed "ready". */
  startTool(pod: Pod, args: string[], uid: number | null): Promise<void> {
    const full = [...this.wrap(pod, uid), process.execPath, TOOLS, ...args];
    const child = spawn(full[0] as string, full.slice(1), { stdio: ["ignore", "pipe", "pipe"] });
    this.tools.push(child);
    return new Promise((resolve, reject) => {
      let out = "";
      const seen = (d: Buffer) => {
        out += d.toString();
        if (out.includes("ready\n")) resolve();
      };
      child.stdout.on("data", seen);
      child.stderr.on("data", seen);
      child.on("exit", (code) => reject(new Error(`${args[0]} exited (${code}): ${out}`)));
    });
  }

  /** Kill everything, delete the namespaces (their veths go with them) and hosts folders. */
  async destroy(): Promise<void> {
    await this.procs.killAll();
    await Promise.all(
      this.tools.map(
        (t) =>
          new Promise<void>((resolve) => {
            if (t.exitCode !== null || t.signalCode !== null) return resolve();
            t.once("exit", () => resolve());
            t.kill("SIGKILL");
          }),
      ),
    );
    this.teardownSync();
  }

  private teardownSync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    for (const t of this.tools) if (t.exitCode === null) t.kill("SIGKILL");
    for (const ns of this.namespaces) {
      spawnSync("ip", ["netns", "del", ns]);
      rmSync(join("/etc/netns", ns), { recursive: true, force: true });
    }
    process.off("exit", this.onExit);
  }
}

/**
 * Why users other than root could not run the built CLI from this checkout (a folder on the way
 * not searchable by others), or null. A failure to report, not a reason to skip.
 */
export function unreadableByOthers(path: string = CLI): string | null {
  for (let dir = dirname(path); dir !== dirname(dir); dir = dirname(dir)) {
    if ((statSync(dir).mode & 0o001) === 0) return `${dir} is not searchable by other users`;
  }
  return (statSync(path).mode & 0o004) === 0 ? `${path} is not readable by other users` : null;
}
