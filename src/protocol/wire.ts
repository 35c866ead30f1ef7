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
  lastEpoch: string;
  previousError: string;
  /** What the proxy takes beyond whole snapshots (FEATURE_DELTA); [] from an older proxy. */
  features?: string[];
}

/** Hello.features: the proxy takes deltas (Snapshot.baseVersion). */
export const FEATURE_DELTA = "delta";

/** A snapshot on the wire: each string is one JSON resource document. */
export interface SnapshotMessage {
  version: string;
  nonce: string;
  routes: string[];
  groups: string[];
  lanes: string[];
  endpoints: string[];
  epoch: string;
  adopts: string[];
  /**
   * "" or absent: the whole config. Else a delta from this version: the documents added or
   * changed since it, and `removed` (protocol/delta.ts).
   */
  baseVersion?: string;
  /** With baseVersion: `Kind/name` of the documents gone since it. */
  removed?: string[];
}

export interface Ack {
  version: string;
  nonce: string;
}

export interface Nack {
  version: string;
  nonce: string;
  error: string;
  /** NackCode, or "" from an older proxy. */
  code: string;
}

/** A load report as proto-loader hands it over (uint64 as decimal strings, see `longs`). */
export interface LoadReportMessage {
  intervalMs: number;
  rows: {
    direction: string;
    service: string;
    tag: string;
    requests: string | number;
    errors: string | number;
    fallbacks: string | number;
    latency: number[];
  }[];
  folded: number;
}

/** Why a proxy refused a snapshot (Nack.code). */
export type NackCode = "INVALID" | "DOWNGRADE" | "DIVERGED";

/** proto-loader sets `message` to the name of the oneof member that is present. */
export type ProxyMessage =
  | { message: "hello"; hello: Hello }
  | { message: "ack"; ack: Ack }
  | { message: "nack"; nack: Nack }
  | { message: "report"; report: LoadReportMessage };

export interface ControlMessage {
  message?: "snapshot";
  snapshot?: SnapshotMessage;
}

export type MeshStream = grpc.ClientDuplexStream<
  Partial<Record<"hello" | "ack" | "nack" | "report", unknown>>,
  ControlMessage
>;
/**
 * A ControlMessage the control plane encoded itself (encodeControlMessage): the server's
 * serializer passes it through as it is (meshServerService).
 */
export type EncodedControlMessage = Buffer & { readonly __encoded: "ControlMessage" };

export type MeshServerStream = grpc.ServerDuplexStream<
  ProxyMessage,
  ControlMessage | EncodedControlMessage
>;

export interface MeshClient extends grpc.Client {
  Stream(metadata?: grpc.Metadata, options?: grpc.CallOptions): MeshStream;
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

/** How the .proto is read: camelCase fields, 64-bit numbers as decimal strings, defaults filled. */
export const PROTO_LOAD_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  arrays: true,
  oneofs: true,
};

/** The `lanemesh.v1.Mesh` service, loaded once from PROTO_PATH. */
export function meshDefinition(): MeshDefinition {
  if (loaded) return loaded;
  const def = protoLoader.loadSync(PROTO_PATH, PROTO_LOAD_OPTIONS);
  const pkg = grpc.loadPackageDefinition(def) as unknown as {
    lanemesh: { v1: { Mesh: grpc.ServiceClientConstructor } };
  };
  const Mesh = pkg.lanemesh.v1.Mesh;
  loaded = { service: Mesh.service, Client: Mesh as unknown as MeshDefinition["Client"] };
  return loaded;
}

/**
 * The service as the control plane serves it: a response that is a Buffer is taken as an encoded
 * ControlMessage and written as it is, so one encoding can be shared by every stream.
 */
export function meshServerService(): grpc.ServiceDefinition {
  const { service } = meshDefinition();
  const stream = service.Stream as grpc.MethodDefinition<unknown, unknown>;
  const serialize = stream.responseSerialize;
  return {
    Stream: {
      ...stream,
      responseSerialize: (v: unknown) => (Buffer.isBuffer(v) ? v : serialize(v)),
    },
  };
}

/**
 * A ControlMessage encoded once, to be written as it is to any number of streams (the server's
 * serializer, meshServerService, passes it through).
 */
export function encodeControlMessage(m: ControlMessage): EncodedControlMessage {
  const stream = meshDefinition().service.Stream as grpc.MethodDefinition<unknown, unknown>;
  return stream.responseSerialize(m) as EncodedControlMessage;
}

/** Keepalive on both ends so a silent peer (cable pulled, VM frozen) is noticed in ~30 s. */
export const KEEPALIVE_OPTIONS: grpc.ChannelOptions = {
  "grpc.keepalive_time_ms": 20_000,
  "grpc.keepalive_timeout_ms": 10_000,
  "grpc.keepalive_permit_without_calls": 1,
};

/**
 * The largest message a proxy takes (its gRPC receive limit; grpc-js's default is 4 MiB). A
 * proxy re-validates and compiles a snapshot on every push: 16 MiB of lanes (about 70,000) take
 * it seconds and a few hundred MB on a small machine, so the control plane's own bound
 * (`--max-snapshot-bytes`, DEFAULT_MAX_SNAPSHOT_BYTES) is lower, and this leaves room above it
 * for the instances sidecars register after an apply.
 */
export const PROXY_MAX_RECEIVE_BYTES = 64 * 1024 * 1024;

/** The control plane's default bound on an encoded snapshot, checked when a change is applied. */
export const DEFAULT_MAX_SNAPSHOT_BYTES = 16 * 1024 * 1024;

/** Channel options of a proxy's stream: keepalive and the receive limit above. */
export const PROXY_CHANNEL_OPTIONS: grpc.ChannelOptions = {
  ...KEEPALIVE_OPTIONS,
  "grpc.max_receive_message_length": PROXY_MAX_RECEIVE_BYTES,
};

/** Bytes of a varint. */
function varintSize(n: number): number {
  let size = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 0x80);
    size++;
  }
  return size;
}

/** Bytes of one length-delimited field with a one-byte tag. */
function fieldSize(byteLength: number): number {
  return 1 + varintSize(byteLength) + byteLength;
}

/**
 * The encoded size of `ControlMessage{snapshot}` as protobuf puts it on the wire (each string
 * field: tag, length, UTF-8 bytes); `nonceBytes` stands for the per-push nonce added on send.
 */
export function encodedSnapshotSize(
  s: Pick<
    SnapshotMessage,
    "version" | "routes" | "groups" | "lanes" | "endpoints" | "epoch" | "adopts"
  >,
  nonceBytes = 32,
): number {
  let inner = fieldSize(Buffer.byteLength(s.version)) + fieldSize(nonceBytes);
  inner += fieldSize(Buffer.byteLength(s.epoch));
  for (const list of [s.routes, s.groups, s.lanes, s.endpoints, s.adopts])
    for (const doc of list) inner += fieldSize(Buffer.byteLength(doc));
  return fieldSize(inner);
}

/** The resource documents of a snapshot, in order routes, groups, lanes, endpoints. */
export function snapshotDocuments(
  s: Pick<SnapshotMessage, "version" | "routes" | "groups" | "lanes" | "endpoints">,
  file = `control-plane snapshot ${s.version}`,
  parse: (text: string) => unknown = JSON.parse,
): { docs: RawDocument[]; error: string | null } {
  const docs: RawDocument[] = [];
  const all = [...s.routes, ...s.groups, ...s.lanes, ...s.endpoints];
  for (let i = 0; i < all.length; i++) {
    try {
      docs.push({ origin: { file, doc: i }, value: parse(all[i] as string) });
    } catch (err) {
      return { docs: [], error: `${file}: document ${i}: not JSON: ${(err as Error).message}` };
    }
  }
  return { docs, error: null };
}
