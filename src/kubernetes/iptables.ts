// The pod's interception rules (the init step's content): options in, iptables-restore text for the nat table out, and the text that removes them from a saved table; pure, it never runs a command.
import { isIP } from "node:net";

/*
 * What the rules do (IPv4 shown; IPv6 is the same with ::1/128 and the IPv6 CIDRs):
 *
 *   PREROUTING -p tcp -j LANEMESH_INBOUND               traffic arriving at the pod
 *     LANEMESH_INBOUND: the proxy's own ports (admin 15000, outbound 15001, inbound 15006) and
 *       --exclude-inbound-ports RETURN; any other TCP → LANEMESH_REDIRECT_IN (REDIRECT :15006)
 *   OUTPUT -p tcp -j LANEMESH_OUTPUT                    traffic the pod's processes send
 *     LANEMESH_OUTPUT, first match wins:
 *       1. -o lo ! -d 127.0.0.1 --uid-owner PROXY → LANEMESH_INBOUND: the proxy calling its own
 *          pod's IP (an app calling its own service, the proxy picked this very instance): it
 *          goes through the inbound side like a call from another pod (as Istio does); ports
 *          excluded there come back and are let through by rule 3
 *       2. -o lo ! --uid-owner PROXY → RETURN: the app talking to itself (127.0.0.1, its pod IP)
 *       3. --uid-owner PROXY → RETURN: the proxy's own connections (no redirect loop)
 *       4. -d 127.0.0.1/32 → RETURN
 *       5. -d CIDR → RETURN for each --exclude-outbound-cidrs
 *       6. --dport N → RETURN for each --exclude-outbound-ports
 *       7. → LANEMESH_REDIRECT_OUT (REDIRECT :15001): every TCP port, or with
 *          --include-outbound-ports only those (one rule per port; the rest is let through)
 *
 * Only TCP is redirected (UDP, so DNS, is not touched). Applying is idempotent: the chains are
 * declared (created, or flushed when present) and any jump to them found in the saved table is
 * deleted before the jumps are appended again, all in one iptables-restore transaction.
 */

export const CHAINS = {
  inbound: "LANEMESH_INBOUND",
  redirectIn: "LANEMESH_REDIRECT_IN",
  output: "LANEMESH_OUTPUT",
  redirectOut: "LANEMESH_REDIRECT_OUT",
} as const;

const OWN_CHAINS: readonly string[] = Object.values(CHAINS);

export type Family = 4 | 6;

/** An address block, normalised to `address/prefix`. */
export interface Cidr {
  readonly family: Family;
  readonly address: string;
  readonly prefix: number;
}

export interface InterceptionOptions {
  /** Connections of this UID are never redirected: the proxy's own (default 1337). */
  readonly proxyUid: number;
  /** Where inbound TCP is redirected (the sidecar's inbound listener). */
  readonly inboundPort: number;
  /** Where outbound TCP is redirected (the sidecar's outbound listener). */
  readonly outboundPort: number;
  /** The admin listener: probes and scrapes reach it unredirected. */
  readonly adminPort: number;
  readonly excludeInboundPorts: readonly number[];
  readonly excludeOutboundPorts: readonly number[];
  readonly excludeOutboundCidrs: readonly Cidr[];
  /** Empty: every outbound TCP port is redirected; else only these. */
  readonly includeOutboundPorts: readonly number[];
}

export const DEFAULT_INTERCEPTION: InterceptionOptions = Object.freeze({
  proxyUid: 1337,
  inboundPort: 15006,
  outboundPort: 15001,
  adminPort: 15000,
  excludeInboundPorts: [],
  excludeOutboundPorts: [],
  excludeOutboundCidrs: [],
  includeOutboundPorts: [],
});

/** A parse result: the value, or a message naming the bad item. */
export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** `5432, 6379` → [5432, 6379]; each 1..65535, duplicates dropped, order kept. */
export function parsePortList(text: string): Parsed<number[]> {
  const ports: number[] = [];
  for (const raw of text.split(",")) {
    const item = raw.trim();
    if (item === "") continue;
    const n = Number(item);
    if (!/^\d{1,5}$/.test(item) || n < 1 || n > 65535) {
      return { ok: false, error: `bad port "${item}": expected a number 1..65535` };
    }
    if (!ports.includes(n)) ports.push(n);
  }
  return { ok: true, value: ports };
}

/** `10.96.0.0/12` (or a bare address: /32, /128) → a Cidr. */
export function parseCidr(text: string): Parsed<Cidr> {
  const item = text.trim();
  const slash = item.indexOf("/");
  const address = slash === -1 ? item : item.slice(0, slash);
  const family = isIP(address);
  if (family !== 4 && family !== 6) {
    return { ok: false, error: `bad CIDR "${item}": "${address}" is not an IP address` };
  }
  const max = family === 4 ? 32 : 128;
  const prefixText = slash === -1 ? String(max) : item.slice(slash + 1);
  const prefix = Number(prefixText);
  if (!/^\d{1,3}$/.test(prefixText) || prefix > max) {
    return { ok: false, error: `bad CIDR "${item}": prefix must be 0..${max}` };
  }
  return { ok: true, value: { family, address: address.toLowerCase(), prefix } };
}

/** A comma-separated list of CIDRs. */
export function parseCidrList(text: string): Parsed<Cidr[]> {
  const cidrs: Cidr[] = [];
  for (const raw of text.split(",")) {
    if (raw.trim() === "") continue;
    const c = parseCidr(raw);
    if (!c.ok) return c;
    cidrs.push(c.value);
  }
  return { ok: true, value: cidrs };
}

/** Checks what the types cannot say; returns a message, or null when the options are usable. */
export function checkOptions(o: InterceptionOptions): string | null {
  const ports: [string, number][] = [
    ["--inbound-port", o.inboundPort],
    ["--outbound-port", o.outboundPort],
    ["--admin-port", o.adminPort],
  ];
  for (const [flag, port] of ports) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      return `${flag} ${port}: expected a port 1..65535`;
    }
  }
  if (o.inboundPort === o.outboundPort) {
    return `--inbound-port and --outbound-port are both ${o.inboundPort}: inbound and outbound traffic would meet on one listener`;
  }
  if (!Number.isInteger(o.proxyUid) || o.proxyUid < 0 || o.proxyUid > 0xfffffffe) {
    return `--proxy-uid ${o.proxyUid}: expected a user id`;
  }
  if (o.proxyUid === 0) {
    return "--proxy-uid 0: every root process would bypass interception; run the proxy as its own user";
  }
  return null;
}

const tcpPort = (chain: string, port: number, target: string): string =>
  `-A ${chain} -p tcp --dport ${port} -j ${target}`;

/** The rules (no table header, no COMMIT), chain declarations first, jumps from built-ins last. */
function ruleLines(o: InterceptionOptions, family: Family): { declare: string[]; rules: string[] } {
  const loopback = family === 4 ? "127.0.0.1/32" : "::1/128";
  const uid = String(o.proxyUid);
  const { inbound, redirectIn, output, redirectOut } = CHAINS;
  const rules: string[] = [
    `-A ${redirectIn} -p tcp -j REDIRECT --to-ports ${o.inboundPort}`,
    `-A ${redirectOut} -p tcp -j REDIRECT --to-ports ${o.outboundPort}`,
  ];
  const ownPorts = [...new Set([o.adminPort, o.outboundPort, o.inboundPort])];
  for (const p of [...ownPorts, ...o.excludeInboundPorts.filter((p) => !ownPorts.includes(p))]) {
    rules.push(tcpPort(inbound, p, "RETURN"));
  }
  rules.push(
    `-A ${inbound} -p tcp -j ${redirectIn}`,
    `-A ${output} -o lo ! -d ${loopback} -m owner --uid-owner ${uid} -j ${inbound}`,
    `-A ${output} -o lo -m owner ! --uid-owner ${uid} -j RETURN`,
    `-A ${output} -m owner --uid-owner ${uid} -j RETURN`,
    `-A ${output} -d ${loopback} -j RETURN`,
  );
  for (const c of o.excludeOutboundCidrs) {
    if (c.family === family) rules.push(`-A ${output} -d ${c.address}/${c.prefix} -j RETURN`);
  }
  for (const p of o.excludeOutboundPorts) rules.push(tcpPort(output, p, "RETURN"));
  if (o.includeOutboundPorts.length === 0) rules.push(`-A ${output} -p tcp -j ${redirectOut}`);
  for (const p of o.includeOutboundPorts) {
    if (!o.excludeOutboundPorts.includes(p)) rules.push(tcpPort(output, p, redirectOut));
  }
  rules.push(...jumps());
  return { declare: OWN_CHAINS.map((c) => `:${c} - [0:0]`), rules };
}

/** The two jumps from the built-in chains into ours. */
function jumps(): string[] {
  return [`-A PREROUTING -p tcp -j ${CHAINS.inbound}`, `-A OUTPUT -p tcp -j ${CHAINS.output}`];
}

/** The nat table's rules as iptables-restore text, for a table that has none of ours (`--dry-run`). */
export function interceptionRules(o: InterceptionOptions, family: Family = 4): string {
  const { declare, rules } = ruleLines(o, family);
  return ["*nat", ...declare, ...rules, "COMMIT", ""].join("\n");
}

/** What of ours a saved nat table (`iptables-save -t nat`) holds. */
export interface Installed {
  /** Our chains that exist. */
  readonly chains: string[];
  /** Rules of other chains that jump to ours, as `-A CHAIN …` lines (to be deleted with `-D`). */
  readonly jumps: string[];
}

const isOwn = (chain: string | undefined): boolean =>
  chain !== undefined && OWN_CHAINS.includes(chain);

/** Reads the nat table part of `iptables-save` output. */
export function installed(saved: string): Installed {
  const chains: string[] = [];
  const jumpsFound: string[] = [];
  let inNat = false;
  for (const raw of saved.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("*")) inNat = line === "*nat";
    if (!inNat) continue;
    if (line.startsWith(":")) {
      const name = line.slice(1).split(/\s/)[0];
      if (isOwn(name) && name !== undefined) chains.push(name);
    } else if (line.startsWith("-A ")) {
      const words = line.split(/\s+/);
      const at = words.findIndex((w) => w === "-j" || w === "-g");
      const target = at === -1 ? undefined : words[at + 1];
      if (!isOwn(words[1]) && isOwn(target)) jumpsFound.push(line);
    }
  }
  return { chains, jumps: jumpsFound };
}

const deleteOf = (appendLine: string): string => `-D ${appendLine.slice(3)}`;

/**
 * The iptables-restore text (for `--noflush`) that installs the rules over a table in any state:
 * our chains are declared (created, or flushed when present), every existing jump into them is
 * deleted, then rules and jumps are added. Applying it twice leaves the same table.
 */
export function applyScript(o: InterceptionOptions, family: Family, saved: string): string {
  const { declare, rules } = ruleLines(o, family);
  const old = installed(saved);
  return ["*nat", ...declare, ...old.jumps.map(deleteOf), ...rules, "COMMIT", ""].join("\n");
}

/**
 * The iptables-restore text (for `--noflush`) that removes every jump into our chains and then
 * the chains; null when the table holds none of them (nothing to do).
 */
export function cleanScript(saved: string): string | null {
  const old = installed(saved);
  if (old.chains.length === 0 && old.jumps.length === 0) return null;
  return [
    "*nat",
    ...old.jumps.map(deleteOf),
    ...old.chains.map((c) => `-F ${c}`),
    ...old.chains.map((c) => `-X ${c}`),
    "COMMIT",
    "",
  ].join("\n");
}
