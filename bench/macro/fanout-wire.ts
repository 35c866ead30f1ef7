// How a simulated proxy of the fan-out benchmark speaks lanemesh.v1.Mesh/Stream: through grpc-js as
// real proxies do, or over bare node:http2 with the gRPC framing done here (a lighter instrument);
// either way it reads only a snapshot's version and nonce and never decodes the rest.
import http2 from "node:http2";
import * as grpc from "@grpc/grpc-js";
import { meshDefinition } from "../../src/protocol/wire.js";

/** What a simulated proxy reads of a ControlMessage: the snapshot's version and nonce, its size. */
export interface SnapshotHead {
  version: string;
  nonce: string;
  bytes: number;
}

function varint(b: Buffer, at: number): [number, number] {
  let v = 0;
  let shift = 1;
  for (;;) {
    const byte = b[at++] as number;
    v += (byte & 0x7f) * shift;
    if (byte < 0x80) return [v, at];
    shift *= 128;
  }
}

/**
 * Scan `ControlMessage{snapshot}` for Snapshot fields 1 (version) and 2 (nonce), skipping every
 * other field by its length; null for a message that is not a snapshot.
 */
export function readSnapshotHead(b: Buffer): SnapshotHead | null {
  let at = 0;
  while (at < b.length) {
    const [key, a1] = varint(b, at);
    if ((key & 7) !== 2) return null;
    const [len, a2] = varint(b, a1);
    if (key >>> 3 !== 1) {
      at = a2 + len;
      continue;
    }
    const end = a2 + len;
    let version = "";
    let nonce = "";
    for (let p = a2; p < end; ) {
      const [k, q1] = varint(b, p);
      const wire = k & 7;
      if (wire === 0) {
        p = varint(b, q1)[1];
        continue;
      }
      if (wire !== 2) return null;
      const [l, q2] = varint(b, q1);
      if (k >>> 3 === 1) version = b.toString("utf8", q2, q2 + l);
      else if (k >>> 3 === 2) nonce = b.toString("utf8", q2, q2 + l);
      p = q2 + l;
    }
    return { version, nonce, bytes: b.length };
  }
  return null;
}

/** A simulated proxy's stream: hello sent; `ack` answers a snapshot; `close` ends it. */
export interface SimStream {
  ack(version: string, nonce: string): void;
  close(): void;
}

export interface SimOptions {
  target: string;
  token: string;
  hello: Record<string, unknown>;
  onSnapshot: (s: SnapshotHead, stream: SimStream) => void;
  onError: (err: Error) => void;
}

/** The hello encoder of the real protocol (proto-loader's). */
const requestSerialize = (
  meshDefinition().service.Stream as unknown as { requestSerialize: (v: unknown) => Buffer }
).requestSerialize;

/** Through grpc-js, one channel (one TCP connection: a local subchannel pool) per proxy. */
export function openGrpcJs(o: SimOptions): SimStream {
  const client = new grpc.Client(o.target, grpc.credentials.createInsecure(), {
    "grpc.use_local_subchannel_pool": 1,
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
  });
  const md = new grpc.Metadata();
  md.set("authorization", `Bearer ${o.token}`);
  const call = client.makeBidiStreamRequest<unknown, SnapshotHead | null>(
    "/lanemesh.v1.Mesh/Stream",
    requestSerialize,
    readSnapshotHead,
    md,
  );
  const sim: SimStream = {
    ack: (version, nonce) => call.write({ ack: { version, nonce } }),
    close: () => {
      call.cancel();
      client.close();
    },
  };
  call.on("data", (s: SnapshotHead | null) => {
    if (s !== null) o.onSnapshot(s, sim);
  });
  call.on("error", o.onError);
  call.write({ hello: o.hello });
  return sim;
}

/** A gRPC message: the 5-byte prefix (not compressed, length) and the protobuf bytes. */
function frame(message: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + message.length);
  out[0] = 0;
  out.writeUInt32BE(message.length, 1);
  message.copy(out, 5);
  return out;
}

function lengthDelimited(field: number, body: Buffer): Buffer {
  const len: number[] = [];
  for (let n = body.length; ; n = Math.floor(n / 128)) {
    len.push(n >= 128 ? (n % 128) | 0x80 : n);
    if (n < 128) break;
  }
  return Buffer.concat([Buffer.from([(field << 3) | 2, ...len]), body]);
}

/** `ProxyMessage{ack: Ack{version, nonce}}`, encoded by hand (what protobufjs would write). */
export function ackMessage(version: string, nonce: string): Buffer {
  const ack = Buffer.concat([
    lengthDelimited(1, Buffer.from(version)),
    lengthDelimited(2, Buffer.from(nonce)),
  ]);
  return lengthDelimited(2, ack);
}

/**
 * Over bare node:http2, one session (one TCP connection) per proxy, with grpc-js's session
 * settings; gRPC messages are framed and unframed here.
 */
export function openH2(o: SimOptions): SimStream {
  const session = http2.connect(`http://${o.target}`, {
    maxSessionMemory: Number.MAX_SAFE_INTEGER,
    maxSendHeaderBlockLength: Number.MAX_SAFE_INTEGER,
  });
  session.on("error", o.onError);
  const req = session.request(
    {
      ":method": "POST",
      ":path": "/lanemesh.v1.Mesh/Stream",
      "content-type": "application/grpc",
      te: "trailers",
      authorization: `Bearer ${o.token}`,
    },
    { endStream: false },
  );
  const sim: SimStream = {
    ack: (version, nonce) => req.write(frame(ackMessage(version, nonce))),
    close: () => {
      req.close();
      session.close();
    },
  };
  // Chunks of the message being received, joined once it is whole.
  let chunks: Buffer[] = [];
  let held = 0;
  req.on("data", (chunk: Buffer) => {
    chunks.push(chunk);
    held += chunk.length;
    while (held >= 5) {
      if ((chunks[0] as Buffer).length < 5) chunks = [Buffer.concat(chunks)];
      const len = (chunks[0] as Buffer).readUInt32BE(1);
      if (held < 5 + len) return;
      const all = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks);
      const s = readSnapshotHead(all.subarray(5, 5 + len));
      const rest = all.subarray(5 + len);
      chunks = rest.length > 0 ? [rest] : [];
      held = rest.length;
      if (s !== null) o.onSnapshot(s, sim);
    }
  });
  req.on("error", o.onError);
  req.write(frame(requestSerialize({ hello: o.hello })));
  return sim;
}
