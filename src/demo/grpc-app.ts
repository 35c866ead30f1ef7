// The lane-unaware demo app of the A → B → C chain over gRPC (proto/echo.proto's Echo.Unary): answers with its name, then the next hop's answer, copying only the chosen metadata; it knows nothing of lanes.
import * as grpc from "@grpc/grpc-js";
import { logger } from "../telemetry/logger.js";
import type { DemoApp, DemoAppOptions } from "./app.js";
import { type EchoClient, type EchoMsg, echoClient, echoService } from "./grpc-echo.js";

const log = logger("demo-app");

/*
 * The next hop is called through the sidecar's outbound port with the next service's name as the
 * call's `:authority` (`--next grpc://sc-b` or `http://sc-b/`: its host names the service), or
 * directly at `host:port` when there is no proxy. Only the `forward` metadata names are copied from
 * the incoming call (`traceparent` by default), as a lane-unaware app's tracing library does.
 */

function nextClient(next: URL, proxy: string | null): EchoClient {
  if (proxy === null) return echoClient(Number(next.port || 80), undefined, next.hostname);
  const p = new URL(proxy);
  return echoClient(Number(p.port), next.host, p.hostname);
}

/** Start the gRPC demo app; resolves once it listens. */
export async function startGrpcDemoApp(opts: DemoAppOptions): Promise<DemoApp> {
  const label = `${opts.name}${opts.tag ?? ""}`;
  const config = opts.configLabel === null ? "" : `[config=${opts.configLabel}]`;
  const next = opts.next === null ? null : nextClient(new URL(opts.next), opts.proxy);
  const server = new grpc.Server();
  let port = 0;
  const self = (): string => `${label}[${opts.host}:${port}]${config}`;
  const failRatio = opts.failRatio ?? 0;
  let failDebt = 0;
  server.addService(echoService(), {
    Unary: (call: grpc.ServerUnaryCall<EchoMsg, EchoMsg>, cb: grpc.sendUnaryData<EchoMsg>) => {
      // --fail-ratio: a broken version, spread evenly as the HTTP app does.
      failDebt += failRatio;
      if (failDebt >= 1) {
        failDebt -= 1;
        cb({ code: grpc.status.INTERNAL, details: `${self()} FAILED (--fail-ratio ${failRatio})` });
        return;
      }
      if (next === null) {
        cb(null, { text: self(), n: call.request.n });
        return;
      }
      const md = new grpc.Metadata();
      for (const name of opts.forward) {
        for (const v of call.metadata.get(name)) md.add(name, v);
      }
      const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
      next.Unary(call.request, md, { deadline }, (err, out) => {
        if (err) {
          cb({ code: err.code, details: `${self()} -> ${err.details}` });
          return;
        }
        cb(null, { text: `${self()} -> ${out?.text ?? ""}`, n: call.request.n });
      });
    },
  });
  port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      `${opts.host}:${opts.port}`,
      grpc.ServerCredentials.createInsecure(),
      (e, p) => (e ? reject(e) : resolve(p)),
    ),
  );
  log.info(
    { name: label, host: opts.host, port, next: opts.next, proxy: opts.proxy, protocol: "grpc" },
    "demo app listening",
  );
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        next?.close();
        server.tryShutdown(() => resolve());
        setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 1000).unref();
      }),
  };
}
