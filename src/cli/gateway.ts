// `lanemesh gateway`: parses the entry gateway's flags and starts it; no proxy logic here.
import type { Command } from "commander";
import { envBoolOption, envOption, parsePort } from "./options.js";
import { addProxyOptions, type ProxyFlags } from "./proxy-options.js";

interface GatewayFlags extends ProxyFlags {
  port: number;
  gatewayName: string;
  trustTagHeader: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command("gateway")
    .description("run the entry gateway: routes, lane rules, tag stamping")
    .addOption(
      envOption("--port <N>", "listener for client traffic").argParser(parsePort).default(8080),
    )
    .addOption(
      envOption(
        "--gateway-name <NAME>",
        "gateway name of the Routes and LaneGroup entries to serve",
      ).default("default"),
    )
    .addOption(
      envBoolOption(
        "--trust-tag-header",
        "keep a lane tag the client sent instead of stripping it",
      ),
    );
  addProxyOptions(cmd).action(async (o: GatewayFlags) => {
    const [{ startGateway }, { runProxy, advertiseHost, baseOptions }] = await Promise.all([
      import("../proxy/gateway.js"),
      import("./run-proxy.js"),
    ]);
    await runProxy(
      "gateway",
      o,
      { gateway: o.gatewayName },
      (base) =>
        startGateway({
          ...baseOptions(o, base),
          gateway: o.gatewayName,
          port: o.port,
          trustTagHeader: o.trustTagHeader,
        }),
      { gateway: o.gatewayName },
      (ports) => ({
        nodeId: `gateway~${o.gatewayName}~${advertiseHost(o)}:${ports.gateway}`,
        role: "gateway",
        gateway: o.gatewayName,
      }),
    );
  });
}
