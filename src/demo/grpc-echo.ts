// The gRPC echo service of proto/echo.proto loaded with proto-loader, for the gRPC demo and the tests: its definition and a client constructor; it starts nothing by itself.
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { loadSync } from "@grpc/proto-loader";

export const ECHO_PROTO = fileURLToPath(new URL("../../../proto/echo.proto", import.meta.url));

export interface EchoMsg {
  text: string;
  n: number;
  pad?: Buffer;
}

export type EchoClient = grpc.Client & {
  Unary(
    msg: EchoMsg,
    md: grpc.Metadata,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, out?: EchoMsg) => void,
  ): grpc.ClientUnaryCall;
  ServerStream(
    msg: EchoMsg,
    md?: grpc.Metadata,
    opts?: grpc.CallOptions,
  ): grpc.ClientReadableStream<EchoMsg>;
  ClientStream(
    md: grpc.Metadata,
    opts: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, out?: EchoMsg) => void,
  ): grpc.ClientWritableStream<EchoMsg>;
  Bidi(md?: grpc.Metadata, opts?: grpc.CallOptions): grpc.ClientDuplexStream<EchoMsg, EchoMsg>;
};

interface EchoPackage {
  lanemesh: { demo: { Echo: grpc.ServiceClientConstructor } };
}

let loaded: EchoPackage | undefined;

function load(): EchoPackage {
  loaded ??= grpc.loadPackageDefinition(
    loadSync(ECHO_PROTO, { keepCase: true, longs: Number, defaults: true }),
  ) as unknown as EchoPackage;
  return loaded;
}

/** The service definition, for `server.addService`. */
export function echoService(): grpc.ServiceDefinition {
  return load().lanemesh.demo.Echo.service;
}

/**
 * A client of `host:port` over cleartext; `authority` is the `:authority` the calls carry (the
 * service's name when calling through a sidecar's outbound port).
 */
export function echoClient(port: number, authority?: string, host = "127.0.0.1"): EchoClient {
  const Ctor = load().lanemesh.demo.Echo;
  const options: grpc.ChannelOptions =
    authority === undefined ? {} : { "grpc.default_authority": authority };
  return new Ctor(
    `${host}:${port}`,
    grpc.credentials.createInsecure(),
    options,
  ) as unknown as EchoClient;
}
