// `lanemesh version`: the client's version and, unless --client, the version of the control plane it talks to; it only reads and prints.
import type { Command } from "commander";
import { stringify } from "yaml";
import { callServer } from "../control-plane/api-client.js";
import { CLIENT_VERSION } from "./client-version.js";
import { outputOption } from "./get.js";
import { connection, serverOption, tokenFileOption, tokenOption } from "./server-client.js";

interface ServerVersion {
  version: string;
  api: string;
}

export function register(program: Command): void {
  program
    .command("version")
    .description("print the client's version and the control plane's (GET /v1/version)")
    .option("--client", "the client's version only; no control plane is asked")
    .addOption(outputOption(["table", "yaml", "json"]))
    .addOption(serverOption())
    .addOption(tokenOption())
    .addOption(tokenFileOption())
    .action(async (opts: { client?: boolean; output: string }, cmd: Command) => {
      const client = { version: CLIENT_VERSION };
      let server: (ServerVersion & { url: string }) | null = null;
      let failure: string | null = null;
      if (!opts.client) {
        const c = connection(cmd);
        if (!c.ok) failure = c.message;
        else {
          const r = await callServer(c.server, "GET", "v1/version", undefined, { token: c.token });
          if (r.ok) server = { ...(r.body as ServerVersion), url: c.server };
          else failure = r.message;
        }
      }
      if (opts.output === "json")
        process.stdout.write(`${JSON.stringify({ client, server }, null, 2)}\n`);
      else if (opts.output === "yaml") process.stdout.write(stringify({ client, server }));
      else {
        process.stdout.write(`client: ${client.version}\n`);
        if (server !== null)
          process.stdout.write(`server: ${server.version} (${server.url}, API ${server.api})\n`);
      }
      if (failure !== null) {
        process.stderr.write(`${failure}\n`);
        process.exitCode = 1;
      }
    });
}
