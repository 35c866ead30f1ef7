// The front of a sidecar listener under transparent interception: reads where a redirected connection was going, sniffs its first bytes, and hands HTTP/1.x to the listener's HTTP server or pipes anything else there unchanged; it never routes a request nor picks an instance.
import { METHODS } from "node:http";
import { connect, isIPv4, type Server, type Socket } from "node:net";
import { networkInterfaces } from "node:os";
import type { Counter } from "prom-client";
import type { Logger } from "../../telemetry/logger.js";
import { H2_PREFACE } from "./h2.js";
import { MAX_HEADER_BYTES } from "./listener.js";
import type { OriginalDestination, OriginalDestinationReader } from "./original-dst.js";

/*
 * Per accepted connection (all decided once, before any byte is forwarded):
 *
 * 1. Original destination (SO_ORIGINAL_DST). None, or the listener's own address (the connection
 *    was not redirected: an app using the sidecar as its HTTP proxy), or one of the sidecar's own
 *    ports on a local address: the HTTP server takes the connection as before interception, and
 *    nothing is ever dialled for it, so such a connection cannot loop.
 * 2. A port of `opaquePorts` (server-speaks-first protocols such as MySQL or SMTP, whose client
 *    waits for the server): piped through at once.
 * 3. Otherwise the first bytes are read until they decide: not the start of an HTTP/1.0 or 1.1
 *    request line (a Postgres startup message, a TLS ClientHello) → piped through; a whole
 *    request head → `wantsHttp(head)` decides (outbound: the Host names a mesh service; inbound:
 *    the app port) → HTTP server, else piped through; HTTP/2's preface → `wantsH2` decides
 *    (inbound: the app port, so gRPC calls to the app take the lane-aware path; outbound: never,
 *    the target service is in HPACK-coded headers the front does not read) → the listener's
 *    HTTP/2 server, else piped through. No byte within
 *    `detectTimeoutMs` → piped through (a server-first protocol on a port not listed).
 *
 * "Piped through": one TCP connection to `passthroughTo(destination)`, the bytes read so far
 * first, then both directions as they come, unchanged; a FIN on either side is passed on as a FIN
 * (half-close), a reset or error closes both. The sidecar dials it as the proxy UID, which the
 * iptables rules never redirect. A refused or timed-out dial resets the app's connection, as
 * the destination itself would have. No idle timeout (the apps' own protocols have theirs).
 */

/**
 * How long a redirected connection may stay silent before it is piped through unsniffed (as
 * Linkerd's detection timeout). Longer keeps an HTTP connection that a pool opened ahead of its
 * first request on the lane-aware path; shorter lets a server-first protocol on a port missing
 * from `opaquePorts` start sooner.
 */
export const DETECT_TIMEOUT_MS = 5000;
const CONNECT_TIMEOUT_MS = 10_000;

/** The first request of a connection, as far as dispatch needs it. */
export interface RequestHead {
  readonly method: string;
  readonly target: string;
  /** The first Host header; undefined when absent or the head was not complete. */
  readonly host: string | undefined;
}

/** What the first bytes say. */
export type Sniffed =
  | { kind: "more" }
  | { kind: "opaque" }
  /** HTTP/2's connection preface (prior-knowledge h2c). */
  | { kind: "h2" }
  /** An HTTP/1.x request; `head` is null when its header section is not complete yet. */
  | { kind: "http"; head: RequestHead | null };

const METHOD_SET = new Set(METHODS);
const MAX_METHOD = Math.max(...METHODS.map((m) => m.length));
const VERSIONS = ["HTTP/1.1\r\n", "HTTP/1.0\r\n"];

/** Whether `text` is the start of one of `candidates` (or one of them entirely). */
const startsAny = (text: string, candidates: readonly string[]): boolean =>
  candidates.some((c) => c.startsWith(text));

/**
 * Classify a connection's first bytes: an HTTP/1.0 or 1.1 request (strict request line: known
 * method, one space, visible target, one space, version, CRLF), not one, or not yet known.
 * With `complete`, a request whose head is still partial counts as HTTP with `head` null.
 */
export function sniff(buf: Buffer, complete = false): Sniffed {
  const n = Math.min(buf.length, H2_PREFACE.length);
  if (n > 1 && buf.compare(H2_PREFACE, 0, n, 0, n) === 0) {
    if (n === H2_PREFACE.length) return { kind: "h2" };
    return complete ? { kind: "opaque" } : { kind: "more" };
  }
  const lineEnd = buf.indexOf(10);
  const line = buf.toString("latin1", 0, lineEnd === -1 ? Math.min(buf.length, 8192) : lineEnd + 1);
  const sp1 = line.indexOf(" ");
  const method = sp1 === -1 ? line : line.slice(0, sp1);
  if (sp1 === -1) {
    if (method.length > MAX_METHOD || !startsAny(method, METHODS)) return { kind: "opaque" };
    return complete && method !== "" ? { kind: "http", head: null } : { kind: "more" };
  }
  if (!METHOD_SET.has(method)) return { kind: "opaque" };
  const sp2 = line.indexOf(" ", sp1 + 1);
  const target = sp2 === -1 ? line.slice(sp1 + 1) : line.slice(sp1 + 1, sp2);
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return { kind: "opaque" };
  }
  if (sp2 !== -1) {
    const version = line.slice(sp2 + 1);
    if (!startsAny(version, VERSIONS)) return { kind: "opaque" };
    if (lineEnd !== -1) {
      const headEnd = buf.indexOf("\r\n\r\n", lineEnd - 1, "latin1");
      if (headEnd !== -1) {
        const host = hostOf(buf.toString("latin1", lineEnd + 1, headEnd + 2));
        return { kind: "http", head: { method, target, host } };
      }
      if (buf.length > MAX_HEADER_BYTES) return { kind: "http", head: null };
    }
  } else if (target.length >= 8192) {
    return { kind: "http", head: null };
  }
  return complete ? { kind: "http", head: null } : { kind: "more" };
}

/** The first Host field of a header section (`name: value` lines). */
function hostOf(headers: string): string | undefined {
  for (const line of headers.split("\r\n")) {
    const colon = line.indexOf(":");
    if (colon === 4 && line.slice(0, 4).toLowerCase() === "host") return line.slice(5).trim();
  }
  return undefined;
}

export interface InterceptOptions {
  /** `inbound` or `outbound`: the metric's label and the logs'. */
  readonly direction: "inbound" | "outbound";
  readonly original: OriginalDestinationReader;
  /** The sidecar's own ports: a destination on one of them at a local address is never dialled. */
  readonly ownPorts: readonly number[];
  readonly opaquePorts: ReadonlySet<number>;
  readonly detectTimeoutMs: number;
  /** A redirected HTTP/1 connection: the HTTP server's (true) or piped through (false)? `head` is null when incomplete. */
  readonly wantsHttp: (head: RequestHead | null, destination: OriginalDestination) => boolean;
  /** A redirected HTTP/2 (prior knowledge) connection: the listener's (true) or piped through? */
  readonly wantsH2: (destination: OriginalDestination) => boolean;
  /** Where a piped-through connection is dialled. */
  readonly passthroughTo: (destination: OriginalDestination) => { host: string; port: number };
  readonly log: Logger;
  /** lanemesh_intercepted_connections_total (ProxyMetrics.interceptedConnections). */
  readonly connections: Counter<"direction" | "path">;
}

/** This host's addresses (the pod's), and loopback. */
function localAddresses(): Set<string> {
  const all = new Set(["127.0.0.1", "::1"]);
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) all.add(a.address);
  }
  return all;
}

const unmapped = (a: string | undefined): string =>
  a?.startsWith("::ffff:") && isIPv4(a.slice(7)) ? a.slice(7) : (a ?? "");

type ConnectionListener = (socket: Socket) => void;

/** An installed front: its open piped-through connections, closed on `close()`. */
export class Interceptor {
  private readonly sockets = new Set<Socket>();
  private readonly toHttp: ConnectionListener;
  private readonly counter: Counter<"direction" | "path">;
  private readonly local = localAddresses();
  private closed = false;

  /**
   * Take over `server`'s connections (an HTTP server that already listens: call this right after
   * it is bound, before the event loop turns, so that no connection goes around the front).
   */
  constructor(
    server: Server,
    private readonly opts: InterceptOptions,
  ) {
    const listeners = server.listeners("connection") as ConnectionListener[];
    server.removeAllListeners("connection");
    this.toHttp = (socket) => {
      for (const l of listeners) l.call(server, socket);
    };
    this.counter = opts.connections;
    server.on("connection", (socket: Socket) => this.accept(socket));
  }

  /** Cut every piped-through and undecided connection (the HTTP server closes its own). */
  close(): void {
    this.closed = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  private count(path: "http" | "direct" | "tcp"): void {
    this.counter.inc({ direction: this.opts.direction, path });
  }

  /** The original destination when the connection was redirected and may be followed. */
  private destination(socket: Socket): OriginalDestination | null {
    let dst: OriginalDestination | null;
    try {
      dst = this.opts.original(socket);
    } catch (err) {
      this.opts.log.warn({ err: (err as Error).message }, "original destination unreadable");
      return null;
    }
    if (dst === null) return null;
    const address = unmapped(dst.address);
    if (dst.port === socket.localPort && address === unmapped(socket.localAddress)) return null;
    if (this.opts.ownPorts.includes(dst.port) && this.local.has(address)) {
      this.opts.log.warn(
        { destination: `${address}:${dst.port}` },
        "a redirected connection was going to the sidecar itself: served here, never dialled",
      );
      return null;
    }
    return { ...dst, address };
  }

  private accept(socket: Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    const dst = this.destination(socket);
    if (dst === null) {
      this.count("direct");
      this.toHttp(socket);
      return;
    }
    if (this.opts.opaquePorts.has(dst.port)) {
      this.pipe(socket, [], dst);
      return;
    }
    this.detect(socket, dst);
  }

  /** Read until the first bytes decide (or the timeout, or the app's FIN, does), then dispatch. */
  private detect(socket: Socket, dst: OriginalDestination): void {
    const chunks: Buffer[] = [];
    let size = 0;
    this.sockets.add(socket);
    const stop = (): void => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("error", onError);
      this.sockets.delete(socket);
    };
    const dispatch = (timedOut: boolean): void => {
      stop();
      socket.pause();
      const buf = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, size);
      const s = size === 0 ? null : sniff(buf, timedOut);
      if (
        (s?.kind === "http" && this.opts.wantsHttp(s.head, dst)) ||
        (s?.kind === "h2" && this.opts.wantsH2(dst))
      ) {
        this.count("http");
        socket.unshift(buf);
        this.toHttp(socket);
        socket.resume();
        return;
      }
      this.pipe(socket, chunks, dst);
    };
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk);
      size += chunk.length;
      const buf = chunks.length === 1 ? chunk : Buffer.concat(chunks, size);
      if (sniff(buf).kind !== "more") dispatch(false);
    };
    // The app half-closed before its bytes decided: what it sent goes to the destination as is.
    const onEnd = (): void => {
      stop();
      this.pipe(socket, chunks, dst);
    };
    const onError = (): void => {
      stop();
      socket.destroy();
    };
    const timer = setTimeout(() => dispatch(true), this.opts.detectTimeoutMs);
    socket.on("data", onData);
    socket.once("end", onEnd);
    socket.once("error", onError);
  }

  /** Dial the destination and join the two connections, `first` written before anything else. */
  private pipe(app: Socket, first: readonly Buffer[], dst: OriginalDestination): void {
    this.count("tcp");
    const to = this.opts.passthroughTo(dst);
    const upstream = connect({ host: to.host, port: to.port, allowHalfOpen: true, noDelay: true });
    this.sockets.add(app);
    this.sockets.add(upstream);
    let connected = false;
    const cut = (why: string, err?: Error): void => {
      if (app.destroyed && upstream.destroyed) return;
      this.opts.log.debug(
        { destination: `${to.host}:${to.port}`, why, err: err?.message },
        "piped connection cut",
      );
      // A reset or failure on one side reaches the other as a reset, as the destination's own
      // refusal would have.
      reset(app);
      if (connected) reset(upstream);
      else upstream.destroy();
    };
    upstream.setTimeout(CONNECT_TIMEOUT_MS, () => cut("connect timeout"));
    upstream.once("connect", () => {
      connected = true;
      upstream.setTimeout(0);
      for (const c of first) upstream.write(c);
      app.pipe(upstream);
      upstream.pipe(app);
      app.resume();
    });
    upstream.on("error", (err) => cut(connected ? "destination error" : "connect failed", err));
    app.on("error", (err) => cut("app error", err));
    // pipe() passes each FIN on; a socket whose two directions are over closes by itself. Any
    // other close (destroyed, reset) cuts the other side.
    const onClose = (s: Socket, name: string) => () => {
      this.sockets.delete(s);
      if (!(s.readableEnded && s.writableFinished)) cut(`${name} closed`);
    };
    app.once("close", onClose(app, "app"));
    upstream.once("close", onClose(upstream, "destination"));
  }
}

/** Close with a TCP reset (the peer sees ECONNRESET), or plainly when that is not possible. */
function reset(s: Socket): void {
  if (s.destroyed) return;
  try {
    s.resetAndDestroy();
  } catch {
    s.destroy();
  }
}
