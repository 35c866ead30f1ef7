// `lanemesh demo`: parses the demo's flags, checks the ports it is given, keeps the context file that lets the CLI find the demo, and turns Ctrl-C/SIGTERM into a clean stop; the demo itself is src/demo/orchestrator.ts.
import { type Command, InvalidArgumentError, Option } from "commander";
import { RANGE_PORTS } from "../demo/topology.js";
import { contextPath, dropContext, useContext } from "./context.js";
import { parsePort, parsePositiveInt } from "./options.js";

interface DemoFlags {
  port: number;
  grpcPort: number;
  httpPort: number;
  mode: "content" | "ratio";
  protocol: "http" | "grpc";
  weight?: number;
  check?: number;
  basePort?: number;
}

/** The context the demo writes and removes. */
const CONTEXT_NAME = "demo";

function parsePercent(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0 || n > 100)
    throw new InvalidArgumentError("expected a percentage 0..100.");
  return n;
}

export function register(program: Command): void {
  program
    .command("demo")
    .description(
      "run the seed scenario on this machine: control plane, gateway, apps A, A gray, B, C, C gray and their sidecars, as separate processes; Ctrl-C stops them all",
    )
    .addOption(
      new Option("--port <N>", "the gateway's port (client traffic); 0 = any free port")
        .argParser(parsePort)
        .default(8080),
    )
    .addOption(
      new Option(
        "--grpc-port <N>",
        "the control plane's gRPC port; when not given, 15010, or a free port if 15010 is taken",
      )
        .argParser(parsePort)
        .default(15010),
    )
    .addOption(
      new Option(
        "--http-port <N>",
        "the control plane's HTTP API port; when not given, 15014, or a free port if 15014 is taken",
      )
        .argParser(parsePort)
        .default(15014),
    )
    .addOption(
      new Option("--mode <MODE>", "content: header 'canary: gray' picks the lane; ratio: a share")
        .choices(["content", "ratio"])
        .default("content"),
    )
    .addOption(
      new Option(
        "--protocol <P>",
        "http: the apps speak HTTP/1.1; grpc: they are gRPC services (proto/echo.proto) forwarding only traceparent, called through the gateway over HTTP/2",
      )
        .choices(["http", "grpc"])
        .default("http"),
    )
    .addOption(
      new Option("--weight <PERCENT>", "ratio mode: the gray lane's share [30]").argParser(
        parsePercent,
      ),
    )
    .addOption(
      new Option("--check [N]", "send N requests, print each lane's share, then stop")
        .preset("1000")
        .argParser(parsePositiveInt),
    )
    .addOption(
      new Option(
        "--base-port <P>",
        `use ports P..P+${RANGE_PORTS - 1} for the gateway's admin and the apps and their sidecars (default: free ports); the range must lie below the kernel's ephemeral port range (32768 and up on Linux), where outgoing connections may take a port first`,
      ).argParser(parsePort),
    )
    .action(async (o: DemoFlags, cmd: Command) => {
      if (o.weight !== undefined && o.mode !== "ratio") {
        process.stderr.write("error: --weight applies to --mode ratio\n");
        process.exit(1);
      }
      const { runDemo } = await import("../demo/orchestrator.js");
      const stop = new AbortController();
      let firstSignalAt: number | null = null;
      const onSignal = (signal: NodeJS.Signals): void => {
        const now = Date.now();
        if (firstSignalAt === null) {
          firstSignalAt = now;
          process.stdout.write(`\n${signal}: stopping every process of the demo…\n`);
          stop.abort();
        } else if (now - firstSignalAt > 1000) {
          // The children are SIGKILLed by the process 'exit' hook of src/demo/children.ts.
          process.stderr.write(`${signal} again: killing the demo's processes\n`);
          process.exit(130);
        }
        // Within a second it is the same Ctrl-C twice: the terminal's and the one `npm run` forwards.
      };
      for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.on(s, onSignal);
      // A closed stdout (`lanemesh demo | head`) stops the demo like Ctrl-C.
      process.stdout.on("error", () => stop.abort());
      const path = contextPath();
      const withdraw = (): void => dropContext(path, CONTEXT_NAME, process.pid);
      process.once("exit", withdraw);
      const given = (flag: string): boolean => cmd.getOptionValueSource(flag) !== "default";
      const code = await runDemo({
        gatewayPort: o.port,
        grpcPort: { port: o.grpcPort, given: given("grpcPort") },
        httpPort: { port: o.httpPort, given: given("httpPort") },
        mode: o.mode,
        protocol: o.protocol,
        weight: o.weight ?? null,
        check: o.check ?? null,
        basePort: o.basePort ?? null,
        signal: stop.signal,
        out: (text) => process.stdout.write(text),
        err: (text) => process.stderr.write(text),
        announce: (server, controlPlane, token) => {
          try {
            useContext(path, { name: CONTEXT_NAME, server, controlPlane, token, pid: process.pid });
            return {
              ok: true,
              line: `context "${CONTEXT_NAME}" written to ${path}: lanemesh commands find this demo without --server (removed when it stops)`,
            };
          } catch (err) {
            return {
              ok: false,
              line: `note: cannot write ${path} (${(err as Error).message}): give lanemesh commands --server`,
            };
          }
        },
        withdraw,
      });
      process.exit(code);
    });
}
