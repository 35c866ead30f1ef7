// Runs the interception rules against the kernel (iptables-save, then iptables-restore --noflush) for `lanemesh iptables`; it builds no rule itself (iptables.ts does) and is never imported by the request path.
import { spawnSync } from "node:child_process";
import {
  applyScript,
  cleanScript,
  type Family,
  type InterceptionOptions,
  installed,
} from "./iptables.js";

/*
 * The tools are whatever `iptables-save`/`iptables-restore` (`ip6tables-…` for IPv6) the PATH
 * holds: on Debian and in the Docker image they are the nf_tables backend. Each family is one
 * transaction: read the nat table, compute the script from it, restore with --noflush (other
 * tables and other chains are left alone).
 */

/** An iptables command could not run or failed; `message` says which and why. */
export class IptablesError extends Error {
  constructor(
    message: string,
    readonly code: "LANEMESH_IPTABLES_MISSING" | "LANEMESH_IPTABLES_FAILED",
  ) {
    super(message);
    this.name = "IptablesError";
  }
}

/** Runs one command with `input` on stdin; returns stdout. Injected in tests. */
export type Runner = (command: string, args: string[], input?: string) => string;

const tools = (family: Family) =>
  family === 4
    ? { save: "iptables-save", restore: "iptables-restore" }
    : { save: "ip6tables-save", restore: "ip6tables-restore" };

export const runCommand: Runner = (command, args, input) => {
  const r = spawnSync(command, args, { input: input ?? "", encoding: "utf8" });
  if (r.error !== undefined) {
    const code = (r.error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      throw new IptablesError(
        `${command} not found in PATH: install iptables (Debian/Ubuntu: apt-get install iptables), or use --dry-run to print the rules`,
        "LANEMESH_IPTABLES_MISSING",
      );
    }
    throw new IptablesError(`${command}: ${r.error.message}`, "LANEMESH_IPTABLES_FAILED");
  }
  if (r.status !== 0) {
    const why = r.stderr.trim() || `exit code ${r.status ?? r.signal}`;
    const hint = /permission denied|operation not permitted|must be root/i.test(why)
      ? " (needs root or the NET_ADMIN and NET_RAW capabilities)"
      : "";
    throw new IptablesError(`${command} failed: ${why}${hint}`, "LANEMESH_IPTABLES_FAILED");
  }
  return r.stdout;
};

/** What one family's step did, for the command's output. */
export interface StepReport {
  family: Family;
  /** The script restored; null when there was nothing to do (clean of an empty table). */
  script: string | null;
}

/** Install (or re-install) the rules for each family. */
export function applyInterception(
  o: InterceptionOptions,
  families: readonly Family[],
  run: Runner = runCommand,
): StepReport[] {
  return families.map((family) => {
    const t = tools(family);
    const script = applyScript(o, family, run(t.save, ["-t", "nat"]));
    run(t.restore, ["--noflush"], script);
    return { family, script };
  });
}

/** Remove the jumps and chains for each family; harmless when they are absent. */
export function cleanInterception(
  families: readonly Family[],
  run: Runner = runCommand,
): StepReport[] {
  return families.map((family) => {
    const t = tools(family);
    const script = cleanScript(run(t.save, ["-t", "nat"]));
    if (script !== null) run(t.restore, ["--noflush"], script);
    return { family, script };
  });
}

/** Whether the rules are in place (our chains and both jumps), for checks after applying. */
export function isInstalled(family: Family, run: Runner = runCommand): boolean {
  const found = installed(run(tools(family).save, ["-t", "nat"]));
  return found.chains.length === 4 && found.jumps.length === 2;
}
