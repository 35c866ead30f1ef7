// `lanemesh iptables`: the pod's interception init step (install, --clean, --dry-run of the nat rules); flags and output only, the rules are built in src/kubernetes/.
import { type Command, InvalidArgumentError } from "commander";
import {
  type Cidr,
  checkOptions,
  DEFAULT_INTERCEPTION,
  type Family,
  type InterceptionOptions,
  interceptionRules,
  type Parsed,
  parseCidrList,
  parsePortList,
} from "../kubernetes/iptables.js";
import { envBoolOption, envOption, parsePort } from "./options.js";

interface IptablesFlags {
  dryRun: boolean;
  clean: boolean;
  ipv6: boolean;
  proxyUid: number;
  inboundPort: number;
  outboundPort: number;
  adminPort: number;
  excludeInboundPorts: number[];
  excludeOutboundPorts: number[];
  excludeOutboundCidrs: Cidr[];
  includeOutboundPorts: number[];
}

/** A list flag: comma-separated, repeatable; the env variable gives one comma-separated value. */
function listOf<T>(parse: (text: string) => Parsed<T[]>) {
  return (value: string, previous: T[] | undefined): T[] => {
    const r = parse(value);
    if (!r.ok) throw new InvalidArgumentError(`${r.error}.`);
    return [...(previous ?? []), ...r.value];
  };
}

function parseUid(value: string): number {
  const n = Number(value);
  if (!/^\d{1,10}$/.test(value.trim()) || n > 0xfffffffe)
    throw new InvalidArgumentError("expected a numeric user id.");
  return n;
}

export function register(program: Command): void {
  const d = DEFAULT_INTERCEPTION;
  program
    .command("iptables")
    .description(
      "install the pod's interception rules (nat table, chains LANEMESH_*): inbound TCP to the sidecar's inbound port, outbound TCP to its outbound port; run once per pod, as root or with NET_ADMIN and NET_RAW",
    )
    .addOption(
      envBoolOption("--dry-run", "print the rules (iptables-restore format), change nothing"),
    )
    .addOption(envBoolOption("--clean", "remove the rules (harmless when absent)"))
    .addOption(
      envBoolOption(
        "--ipv6",
        "also the IPv6 rules (ip6tables); the sidecar must then listen on ::",
      ),
    )
    .addOption(
      envOption("--proxy-uid <UID>", "the proxy's user: its connections are never redirected")
        .argParser(parseUid)
        .default(d.proxyUid),
    )
    .addOption(
      envOption("--inbound-port <N>", "the sidecar's inbound listener (inbound TCP goes there)")
        .argParser(parsePort)
        .default(d.inboundPort),
    )
    .addOption(
      envOption("--outbound-port <N>", "the sidecar's outbound listener (outbound TCP goes there)")
        .argParser(parsePort)
        .default(d.outboundPort),
    )
    .addOption(
      envOption("--admin-port <N>", "the sidecar's admin listener (never redirected)")
        .argParser(parsePort)
        .default(d.adminPort),
    )
    .addOption(
      envOption("--exclude-inbound-ports <PORTS>", "inbound ports left alone, e.g. 22,9090")
        .argParser(listOf(parsePortList))
        .default([], "none"),
    )
    .addOption(
      envOption("--exclude-outbound-ports <PORTS>", "outbound ports left alone, e.g. 5432,6379")
        .argParser(listOf(parsePortList))
        .default([], "none"),
    )
    .addOption(
      envOption(
        "--exclude-outbound-cidrs <CIDRS>",
        "destinations left alone, e.g. 10.96.0.1/32,169.254.169.254",
      )
        .argParser(listOf(parseCidrList))
        .default([], "none"),
    )
    .addOption(
      envOption("--include-outbound-ports <PORTS>", "redirect only these outbound ports")
        .argParser(listOf(parsePortList))
        .default([], "every port"),
    )
    .action(async (o: IptablesFlags) => {
      const opts: InterceptionOptions = {
        proxyUid: o.proxyUid,
        inboundPort: o.inboundPort,
        outboundPort: o.outboundPort,
        adminPort: o.adminPort,
        excludeInboundPorts: o.excludeInboundPorts,
        excludeOutboundPorts: o.excludeOutboundPorts,
        excludeOutboundCidrs: o.excludeOutboundCidrs,
        includeOutboundPorts: o.includeOutboundPorts,
      };
      const bad = checkOptions(opts);
      if (bad !== null) {
        process.stderr.write(`error: ${bad}\n`);
        process.exitCode = 1;
        return;
      }
      const families: Family[] = o.ipv6 ? [4, 6] : [4];
      const title = (f: Family) => (f === 4 ? "iptables" : "ip6tables");
      if (o.dryRun && !o.clean) {
        for (const f of families) {
          process.stdout.write(`# ${title(f)}-restore --noflush\n${interceptionRules(opts, f)}`);
        }
        return;
      }
      const { applyInterception, cleanInterception, IptablesError, runCommand } = await import(
        "../kubernetes/iptables-apply.js"
      );
      try {
        if (o.clean) {
          // --clean --dry-run: read the table for real, restore nothing.
          const readOnly: typeof runCommand = (cmd, args, input) =>
            cmd.endsWith("-restore") ? "" : runCommand(cmd, args, input);
          for (const step of cleanInterception(families, o.dryRun ? readOnly : runCommand)) {
            process.stdout.write(
              step.script === null
                ? `# ${title(step.family)}: no lanemesh rules to remove\n`
                : `# ${title(step.family)}-restore --noflush${o.dryRun ? " (dry run)" : ""}\n${step.script}`,
            );
          }
          return;
        }
        for (const step of applyInterception(opts, families)) {
          process.stdout.write(`# ${title(step.family)}-restore --noflush\n${step.script}`);
        }
      } catch (err) {
        if (!(err instanceof IptablesError)) throw err;
        process.stderr.write(`error: ${err.message}\n`);
        process.exitCode = 1;
      }
    });
}
