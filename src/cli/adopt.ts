// `lanemesh adopt EPOCH`: lets proxies that hold another store's config (shown as diverged by `get proxies`) take this control plane's; it asks the control plane and prints the answer.
import type { Command } from "commander";
import { callServer } from "../control-plane/api-client.js";
import { addTokenOptions, connectOrFail, serverOption } from "./server-client.js";

export function register(program: Command): void {
  const cmd = program
    .command("adopt")
    .description(
      "make this control plane's store replace the config of proxies holding store EPOCH (a lost or other data dir): they take its snapshot even at a lower version",
    )
    .argument(
      "<EPOCH>",
      "the other store's epoch, as the control plane's warning and `get proxies -o json` name it",
    )
    .addOption(serverOption());
  addTokenOptions(cmd).action(async (epoch: string, _o: unknown, self: Command) => {
    const c = connectOrFail(self);
    if (c === null) return;
    const r = await callServer(c.server, "POST", "v1/adopt", { epoch }, { token: c.token });
    if (!r.ok) {
      process.stderr.write(`${r.message}\n`);
      process.exitCode = 1;
      return;
    }
    const b = r.body as { version: number; epoch: string; adopts: string[] };
    process.stdout.write(
      `store ${b.epoch} at version ${b.version} adopts ${b.adopts.join(", ")}: proxies holding their config take this one\n`,
    );
  });
}
