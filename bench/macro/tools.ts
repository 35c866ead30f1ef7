// The benchmark's external tools (nginx, haproxy, wrk) and the machine facts a result carries; it
// installs with apt-get only when running as root, and never starts a system service.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync, unlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import { findBinary } from "./procs.js";

export interface Tools {
  nginx: string;
  haproxy: string;
  wrk: string;
}

/** The machine a run measured on, without the proxies' versions. */
export interface HostFacts {
  cpuModel: string;
  cores: number;
  memoryMB: number;
  os: string;
  kernel: string;
  node: string;
  loadAverageStart: number[];
}

export interface MachineFacts extends HostFacts {
  nginx: string;
  haproxy: string;
  wrk: string;
}

const APT_PACKAGES = ["nginx-light|nginx", "haproxy", "wrk"];
const POLICY_RC_D = "/usr/sbin/policy-rc.d";

function locate(): { found: Partial<Tools>; missing: string[] } {
  const found: Partial<Tools> = {};
  const missing: string[] = [];
  for (const name of ["nginx", "haproxy", "wrk"] as const) {
    const path = findBinary(name);
    if (path === null) missing.push(name);
    else found[name] = path;
  }
  return { found, missing };
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): void {
  process.stderr.write(`bench: $ ${cmd} ${args.join(" ")}\n`);
  const r = spawnSync(cmd, args, { stdio: "inherit", env });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed (status ${r.status})`);
}

/** True when apt-cache knows a package by that exact name (after apt-get update). */
function aptHas(name: string): boolean {
  const r = spawnSync("apt-cache", ["show", "--no-all-versions", name], { stdio: "ignore" });
  return r.status === 0;
}

/**
 * apt-get update && apt-get install -y nginx-light (or nginx) haproxy wrk. Debian's maintainer
 * scripts would start nginx on :80 and haproxy as services: when no /usr/sbin/policy-rc.d exists,
 * a temporary one that forbids service starts (exit 101, Debian's documented mechanism) is written
 * for the duration of the install and removed afterwards.
 */
function aptInstall(): void {
  run("apt-get", ["update"]);
  const nginxPkg = aptHas("nginx-light") ? "nginx-light" : "nginx";
  const ownPolicy = !existsSync(POLICY_RC_D);
  if (ownPolicy) {
    process.stderr.write(
      `bench: writing a temporary ${POLICY_RC_D} (exit 101) so the packages start no service\n`,
    );
    writeFileSync(POLICY_RC_D, "#!/bin/sh\nexit 101\n", { mode: 0o755 });
  }
  try {
    run("apt-get", ["install", "-y", "--no-install-recommends", nginxPkg, "haproxy", "wrk"], {
      ...process.env,
      DEBIAN_FRONTEND: "noninteractive",
    });
  } finally {
    if (ownPolicy) unlinkSync(POLICY_RC_D);
  }
}

/**
 * Finds nginx, haproxy and wrk. When one is missing: as root with `install` set, installs them with
 * apt-get (saying so); otherwise prints exactly what to install and exits with status 1.
 */
export function ensureTools(install: boolean): Tools {
  let { found, missing } = locate();
  if (missing.length === 0) return found as Tools;
  const isRoot = process.getuid?.() === 0;
  const hasApt = findBinary("apt-get") !== null;
  if (install && isRoot && hasApt) {
    process.stderr.write(
      `bench: missing ${missing.join(", ")}; running as root, so installing with apt-get ` +
        `(apt-get update && apt-get install -y ${APT_PACKAGES.join(" ")})\n`,
    );
    aptInstall();
    ({ found, missing } = locate());
    if (missing.length === 0) return found as Tools;
  }
  process.stderr.write(
    `bench: missing ${missing.join(", ")}. Install them, then run again:\n` +
      "  sudo apt-get update && sudo apt-get install -y nginx-light haproxy wrk\n" +
      "  (nginx-light may be called nginx on your release; on other systems: nginx, haproxy and wrk\n" +
      "  from your package manager, e.g. `brew install nginx haproxy wrk`)\n" +
      (isRoot && !install ? "  (--no-install was given, so nothing was installed)\n" : ""),
  );
  process.exit(1);
}

/** First line of `cmd args` output (stdout or stderr), whatever its exit status. */
function versionLine(cmd: string, args: string[], pattern: RegExp): string {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  const text = `${r.stdout ?? ""}\n${r.stderr ?? ""}`;
  const m = pattern.exec(text);
  return m?.[1] ?? text.trim().split("\n")[0] ?? "unknown";
}

/** CPU, cores, memory, OS, Node and tool versions, and the load average when the run starts. */
export function machineFacts(tools: Tools): MachineFacts {
  return {
    ...hostFacts(),
    nginx: versionLine(tools.nginx, ["-v"], /nginx version: (\S+)/),
    haproxy: versionLine(tools.haproxy, ["-v"], /(HAProxy version \S+)/i),
    wrk: versionLine(tools.wrk, ["-v"], /^(wrk \S+)/m),
  };
}

/** CPU, cores, memory, OS, Node, and the load average when the run starts. */
export function hostFacts(): HostFacts {
  let osName = `${os.type()} ${os.release()}`;
  try {
    const m = /^PRETTY_NAME="?([^"\n]+)"?/m.exec(readFileSync("/etc/os-release", "utf8"));
    if (m?.[1]) osName = m[1];
  } catch {
    // not Linux-like; keep os.type()
  }
  let kernel = os.release();
  try {
    kernel = execFileSync("uname", ["-sr"], { encoding: "utf8" }).trim();
  } catch {
    // keep os.release()
  }
  return {
    cpuModel: os.cpus()[0]?.model ?? "unknown",
    cores: os.cpus().length,
    memoryMB: Math.round(os.totalmem() / 1024 / 1024),
    os: osName,
    kernel,
    node: process.version,
    loadAverageStart: os.loadavg().map((x) => Math.round(x * 100) / 100),
  };
}
