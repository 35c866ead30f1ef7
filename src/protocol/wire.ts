// The wire protocol of proto/lanemesh.proto as TypeScript: loads the .proto at run time and codes resource documents; no stream logic here.
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { RawDocument } from "../config/document.js";

/** The .proto file, shipped in the package beside dist/ (read relative to this module). */
export const PROTO_PATH = fileURLToPath(new URL("../../../proto/lanemesh.proto", import.meta.url));

/** Hello, as proto-loader hands it over (camelCase fields, "" for unset strings). */
export interface Hello {
  nodeId: string;
  role: string;
  app: string;
  tag: string;
  address: string;
  gateway: string;
  lastVersion: string;
  proxyVersion: string;
}

/** A snapshot on the wire: each string is one JSON resource document. */
export interface SnapshotMessage {
  version: string;
  nonce: string;
  routes: string[];
  groups: string[];
  lanes: string[];
  endpoints: string[];
}

export interface Ack {
  version: string;
  nonce: string;
}

export interface Nack {
  version: string;
  nonce: string;
  error: string;
}

/** proto-loader sets `message` to the name of the oneof member that is present. */
export type ProxyMessage =
  | { message: "hello"; hello: Hello }
  | { message: "ack"; ack: Ack }
  | { message: "nack"; nack: Nack };

export interface ControlMessage {
  message?: "snapshot";
  snapshot?: SnapshotMessage;
}

export type MeshStream = grpc.ClientDuplexStream<
  Partial<Record<"hello" | "ack" | "nack", unknown>>,
  ControlMessage
>;
export type MeshServerStream = grpc.ServerDuplexStream<ProxyMessage, ControlMessage>;

export interface MeshClient extends grpc.Client {
  Stream(options?: grpc.CallOptions): MeshStream;
}

interface MeshDefinition {
  service: grpc.ServiceDefinition;
  Client: new (
    target: string,
    creds: grpc.ChannelCredentials,
    options?: grpc.ChannelOptions,
  ) => MeshClient;
}

let loaded: MeshDefinition | undefined;

/** The `lanemesh.v1.Mesh` service, loaded once from PROTO_PATH. */
export function meshDefinition(): MeshDefinition {
  if (loaded) return loaded;
  const def = protoLoader.loadSync(PROTO_PATH, {
    keepCase: false,
    longs: String,
    enums: String,
    defaults: true,
    arrays: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    lanemesh: { v1: { Mesh: grpc.ServiceClientConstructor } };
  };
  const Mesh = pkg.lanemesh.v1.Mesh;
  loaded = { service: Mesh.service, Client: Mesh as unknown as MeshDefinition["Client"] };
  return loaded;
}

/** Keepalive on both ends so a silent peer (cable pulled, VM frozen) is noticed in ~30 s. */
export const KEEPALIVE_OPTIONS: grpc.ChannelOptions = {
  "grpc.keepalive_time_ms": 20_000,
  "grpc.keepalive_timeout_ms": 10_000,
  "grpc.keepalive_permit_without_calls": 1,
};

/** The resource documents of a snapshot, in order routes, groups, lanes, endpoints. */
export function snapshotDocuments(
  s: Pick<SnapshotMessage, "version" | "routes" | "groups" | "lanes" | "endpoints">,
  file = `control-plane snapshot ${s.version}`,
): { docs: RawDocument[]; error: string | null } {
  const docs: RawDocument[] = [];
  const all = [...s.routes, ...s.groups, ...s.lanes, ...s.endpoints];
  for (let i = 0; i < all.length; i++) {
    try {
      docs.push({ origin: { file, doc: i }, value: JSON.parse(all[i] as string) as unknown });
    } catch (err) {
      return { docs: [], error: `${file}: document ${i}: not JSON: ${(err as Error).message}` };
    }
  }
  return { docs, error: null };
}
