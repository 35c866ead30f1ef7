// `lanemesh demo-app`: runs one lane-unaware app of the demo's chain (A → B → C); flags only, the app is in src/demo/app.ts.
import { type Command, InvalidArgumentError } from "commander";
import { collect, envOption, parsePort, parseTag } from "./options.js";

interface DemoAppFlags {
  name: string;
  tag?: string;
  host: string;
  port: number;
  next?: string;
  proxy: string;
  configLabel?: string;
  forward?: string[];
  failRatio: number;
  protocol: "http" | "grpc";
}

/** `--fail-ratio`: a share 0..1. */
function parseRatio(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0 || n > 1)
    throw new InvalidArgumentError("expected a share from 0 to 1, e.g. 0.5.");
  return n;
}

function parseProtocol(value: string): "http" | "grpc" {
  if (value === "http" || value === "grpc") return value;
  throw new InvalidArgumentError("expected http or grpc");
}

function parseUrl(value: string): string {
  return new URL(value).href;
}

export function register(program: Command): void {
  program
    .command("demo-app")
    .description(
      "run a lane-unaware demo app: answers NAME[address:port], then ' -> ' and the next hop's answer",
    )
    .addOption(
      envOption("--name <NAME>", "app name shown in the answer, e.g. A").makeOptionMandatory(),
    )
    .addOption(
      envOption(
        "--tag <TAG>",
        "shown after the name (Agray); the app ignores it otherwise",
      ).argParser(parseTag),
    )
    .addOption(envOption("--host <HOST>", "address to listen on").default("127.0.0.1"))
    .addOption(
      envOption("--port <N>", "port to listen on").argParser(parsePort).makeOptionMandatory(),
    )
    .addOption(
      envOption("--next <URL>", "next hop, e.g. http://sc-b/ (none: last app of the chain)"),
    )
    .addOption(
      envOption(
        "--proxy <URL>",
        "the sidecar's outbound port as HTTP proxy; 'none' = call --next directly",
      ).default("http://127.0.0.1:15001"),
    )
    .addOption(
      envOption(
        "--config-label <LABEL>",
        "append [config=LABEL] to the name, as the seed's app A does",
      ),
    )
    .addOption(
      envOption(
        "--forward <WHAT>",
        "incoming headers copied to the next hop: traceparent | baggage | tag-header[:NAME] | none (repeatable; default traceparent)",
      ).argParser(collect),
    )
    .addOption(
      envOption(
        "--fail-ratio <SHARE>",
        "answer this share of requests (0..1, spread evenly: 0.5 = every other one) with 500 instead of calling on: a broken version, to try status and guarded lanes",
      )
        .argParser(parseRatio)
        .default(0),
    )
    .addOption(
      envOption(
        "--protocol <P>",
        "http (HTTP/1.1, GET /) or grpc (proto/echo.proto's Echo.Unary over h2c)",
      )
        .argParser(parseProtocol)
        .default("http"),
    )
    .action(async (o: DemoAppFlags) => {
      const [{ parseForward, startDemoApp }, { startGrpcDemoApp }, { logger }] = await Promise.all([
        import("../demo/app.js"),
        import("../demo/grpc-app.js"),
        import("../telemetry/logger.js"),
      ]);
      const forward = parseForward(o.forward ?? ["traceparent"]);
      if ("error" in forward) {
        process.stderr.write(`error: ${forward.error}\n`);
        process.exitCode = 1;
        return;
      }
      let next: string | null = null;
      let proxy: string | null = null;
      try {
        next = o.next === undefined ? null : parseUrl(o.next);
        proxy = o.proxy === "none" || o.proxy === "" ? null : parseUrl(o.proxy);
      } catch (err) {
        process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 1;
        return;
      }
      const start = o.protocol === "grpc" ? startGrpcDemoApp : startDemoApp;
      const app = await start({
        name: o.name,
        tag: o.tag ?? null,
        host: o.host,
        port: o.port,
        next,
        proxy,
        configLabel: o.configLabel ?? null,
        forward,
        failRatio: o.failRatio,
      });
      const log = logger("cli");
      const stop = (signal: NodeJS.Signals): void => {
        log.info({ signal }, "demo app stopping");
        void app.close().then(() => process.exit(0));
      };
      process.once("SIGTERM", stop);
      process.once("SIGINT", stop);
    });
}
