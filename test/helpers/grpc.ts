// Test rigs for gRPC through the proxies: a grpc-js echo server that records what each call received and how it ended, and promise forms of the client calls; it asserts nothing itself.
import * as grpc from "@grpc/grpc-js";
import { type EchoClient, type EchoMsg, echoService } from "../../src/demo/grpc-echo.js";

export interface SeenCall {
  readonly method: string;
  readonly metadata: Record<string, string>;
  /** How the call ended at the server: `ok`, `cancelled` (the client's reset reached it). */
  end: "open" | "ok" | "cancelled";
}

export interface EchoServer {
  readonly port: number;
  readonly name: string;
  readonly calls: SeenCall[];
  readonly server: grpc.Server;
  close(): Promise<void>;
}

export type EchoHandlers = Partial<grpc.UntypedServiceImplementation>;

function seen(method: string, md: grpc.Metadata): SeenCall {
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(md.getMap())) metadata[k] = String(v);
  return { method, metadata, end: "open" };
}

/** A grpc-js echo server named `name` on 127.0.0.1; `handlers` replace the default methods. */
export async function echoServer(name: string, handlers: EchoHandlers = {}): Promise<EchoServer> {
  const calls: SeenCall[] = [];
  const track = (
    method: string,
    call: { metadata: grpc.Metadata; on(e: "cancelled", l: () => void): unknown },
  ): SeenCall => {
    const s = seen(method, call.metadata);
    calls.push(s);
    call.on("cancelled", () => {
      s.end = "cancelled";
    });
    return s;
  };
  const impl: grpc.UntypedServiceImplementation = {
    Unary: (call: grpc.ServerUnaryCall<EchoMsg, EchoMsg>, cb: grpc.sendUnaryData<EchoMsg>) => {
      const s = track("Unary", call);
      s.end = "ok";
      cb(null, { text: `${name}:${call.request.text}`, n: call.request.n });
    },
    ServerStream: (call: grpc.ServerWritableStream<EchoMsg, EchoMsg>) => {
      const s = track("ServerStream", call);
      const total = call.request.n;
      let i = 0;
      const pump = (): void => {
        while (i < total) {
          const ok = call.write({ text: name, n: i++, pad: call.request.pad });
          if (!ok) {
            call.once("drain", pump);
            return;
          }
        }
        s.end = "ok";
        call.end();
      };
      pump();
    },
    ClientStream: (
      call: grpc.ServerReadableStream<EchoMsg, EchoMsg>,
      cb: grpc.sendUnaryData<EchoMsg>,
    ) => {
      const s = track("ClientStream", call);
      let n = 0;
      let bytes = 0;
      call.on("data", (m: EchoMsg) => {
        n++;
        bytes += m.pad?.length ?? 0;
      });
      call.on("end", () => {
        s.end = "ok";
        cb(null, { text: `${name}:${bytes}`, n });
      });
    },
    Bidi: (call: grpc.ServerDuplexStream<EchoMsg, EchoMsg>) => {
      const s = track("Bidi", call);
      call.on("data", (m: EchoMsg) => {
        if (!call.write({ text: name, n: m.n, pad: m.pad })) call.pause();
      });
      call.on("drain", () => call.resume());
      call.on("end", () => {
        s.end = "ok";
        call.end();
      });
    },
    ...handlers,
  };
  const server = new grpc.Server();
  server.addService(echoService(), impl);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  return {
    port,
    name,
    calls,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.forceShutdown();
        resolve();
      }),
  };
}

export interface UnaryResult {
  readonly out?: EchoMsg;
  readonly err?: grpc.ServiceError;
  readonly headers: grpc.Metadata | null;
  readonly status: grpc.StatusObject | null;
}

/** A unary call as a promise: the answer or the error, with the response metadata and status. */
export function unary(
  client: EchoClient,
  msg: EchoMsg,
  md: Record<string, string> = {},
  opts: grpc.CallOptions = {},
): Promise<UnaryResult> {
  const metadata = new grpc.Metadata();
  for (const [k, v] of Object.entries(md)) metadata.set(k, v);
  return new Promise((resolve) => {
    let headers: grpc.Metadata | null = null;
    let status: grpc.StatusObject | null = null;
    let result: { out?: EchoMsg; err?: grpc.ServiceError } | null = null;
    const done = (): void => {
      if (result !== null && status !== null) resolve({ ...result, headers, status });
    };
    const call = client.Unary(msg, metadata, opts, (err, out) => {
      result = err ? { err } : { out };
      done();
    });
    call.on("metadata", (m) => {
      headers = m;
    });
    call.on("status", (s) => {
      status = s;
      done();
    });
  });
}

/** Resolves when `client`'s channel is ready (or rejects after `ms`). */
export function ready(client: grpc.Client, ms = 10_000): Promise<void> {
  return new Promise((resolve, reject) =>
    client.waitForReady(Date.now() + ms, (err) => (err ? reject(err) : resolve())),
  );
}
