// `lanemesh delete KIND NAME`: removes one resource from the control plane, which refuses if the rest would be invalid; prints the outcome only.
import type { Command } from "commander";
import { callServer } from "../control-plane/api-client.js";
import { normalizeKind } from "./get.js";
import {
  addTokenOptions,
  apiToken,
  resourceRef,
  serverOption,
  type TokenFlags,
} from "./server-client.js";

const KIND_OF = { routes: "Route", lanegroups: "LaneGroup", lanes: "Lane", instances: "Instance" };

export function register(program: Command): void {
  const cmd = program
    .command("delete")
    .description("delete one resource (routes|lanegroups|lanes|instances) from the control plane")
    .argument("<kind>", "routes | lanegroups | lanes | instances (singular works too)")
    .argument("<name>", "metadata.name of the resource")
    .addOption(serverOption());
  addTokenOptions(cmd).action(
    async (kind: string, name: string, opts: { server: string } & TokenFlags) => {
      const plural = normalizeKind(kind);
      if (plural === null || plural === "proxies") {
        process.stderr.write(
          `error: cannot delete "${kind}": expected routes, lanegroups, lanes or instances\n`,
        );
        process.exitCode = 1;
        return;
      }
      const token = apiToken(opts);
      if (!token.ok) {
        process.stderr.write(`${token.message}\n`);
        process.exitCode = 1;
        return;
      }
      const r = await callServer(
        opts.server,
        "DELETE",
        `v1/resources/${plural}/${encodeURIComponent(name)}`,
        undefined,
        { token: token.token },
      );
      if (!r.ok) {
        if (r.status === 422)
          process.stderr.write(
            `error: deleting ${resourceRef(KIND_OF[plural], name)} would leave the config invalid:\n`,
          );
        process.stderr.write(`${r.message}\n`);
        process.exitCode = 1;
        return;
      }
      process.stdout.write(`${resourceRef(KIND_OF[plural], name)} deleted\n`);
    },
  );
}
