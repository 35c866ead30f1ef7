// `lanemesh token create`: makes a proxy's bootstrap token, signed with the control plane's key (read from its data dir) or by the control plane itself (its API and the admin token); it prints or writes the token and decides nothing about it.
import { writeFileSync } from "node:fs";
import { type Command, InvalidArgumentError, Option } from "commander";
import { callServer } from "../control-plane/api-client.js";
import { readSigningKey } from "../control-plane/secrets.js";
import { signToken } from "../control-plane/tokens.js";
import { collect, parseDuration } from "./options.js";
import { addTokenOptions, connection, serverOption, type TokenFlags } from "./server-client.js";

interface CreateFlags extends TokenFlags {
  service?: string[];
  gateway?: string[];
  role: "sidecar" | "gateway";
  /** ms */
  ttl: number;
  dataDir?: string;
  outputFile?: string;
}

/** The longest life a token may be given. */
const MAX_TTL_MS = 366 * 24 * 3_600_000;

function parseTtl(v: string): number {
  const ms = parseDuration(v);
  if (ms > MAX_TTL_MS) throw new InvalidArgumentError("at most 8784h (a year).");
  return ms;
}

export function register(program: Command): void {
  const token = program
    .command("token")
    .description("bootstrap tokens proxies prove who they are with (--token-file)");
  const create = token
    .command("create")
    .description(
      "print a token for the sidecars of --service (or, with --role gateway, for --gateway); signed with the data dir's key when --data-dir is given, else by the control plane at --server",
    )
    .addOption(
      new Option(
        "--service <NAME>",
        "service (the sidecars' --app) the token covers; repeatable",
      ).argParser(collect),
    )
    .addOption(
      new Option("--role <ROLE>", "what the proxy runs as")
        .choices(["sidecar", "gateway"])
        .default("sidecar"),
    )
    .addOption(
      new Option(
        "--gateway <NAME>",
        "gateway name (--gateway-name) a gateway token covers [default]",
      ).argParser(collect),
    )
    .addOption(
      new Option("--ttl <DURATION>", "how long the token is valid (30m, 24h, 720h)")
        .argParser(parseTtl)
        .default(24 * 3_600_000, "24h"),
    )
    .addOption(
      new Option(
        "--data-dir <DIR>",
        "sign with the key in this control-plane data dir (no API call)",
      ),
    )
    .addOption(
      new Option(
        "-o, --output-file <FILE>",
        "write the token to FILE (mode 0600) instead of stdout",
      ),
    )
    .addOption(serverOption());
  addTokenOptions(create).action(async (o: CreateFlags, self: Command) => {
    process.exitCode = await createToken(o, self);
  });
}

async function createToken(o: CreateFlags, cmd: Command): Promise<number> {
  const services = o.service ?? [];
  const gateways = o.role === "gateway" ? (o.gateway ?? ["default"]) : [];
  if (o.role === "sidecar" && services.length === 0) {
    process.stderr.write("error: a sidecar token needs --service NAME\n");
    return 1;
  }
  const request = {
    role: o.role,
    services: o.role === "sidecar" ? services : [],
    gateways,
    ttlSeconds: Math.floor(o.ttl / 1000),
  };
  let token: string;
  if (o.dataDir !== undefined) {
    try {
      token = signToken(await readSigningKey(o.dataDir), request).token;
    } catch (err) {
      process.stderr.write(
        `error: ${(err as Error).message} (start the control plane once with this --data-dir to create its key)\n`,
      );
      return 1;
    }
  } else {
    const c = connection(cmd);
    if (!c.ok) {
      process.stderr.write(`${c.message}\n`);
      return 1;
    }
    const r = await callServer(c.server, "POST", "v1/tokens", request, { token: c.token });
    if (!r.ok) {
      process.stderr.write(`${r.message}\n`);
      return 1;
    }
    token = (r.body as { token: string }).token;
  }
  if (o.outputFile === undefined) {
    process.stdout.write(`${token}\n`);
    return 0;
  }
  try {
    writeFileSync(o.outputFile, `${token}\n`, { mode: 0o600 });
  } catch (err) {
    process.stderr.write(`error: cannot write ${o.outputFile}: ${(err as Error).message}\n`);
    return 1;
  }
  return 0;
}
