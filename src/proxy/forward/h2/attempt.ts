// One attempt of an HTTP/2 request on one upstream session: the request streamed up with its body (the first bytes kept for a replay), the answer streamed down with its trailers, resets passed both ways; it never picks instances nor retries by itself.
import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  constants,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from "node:http2";
import { PROXY_ERROR_HEADER } from "../../errors.js";
import { type ForwardFailureKind, type ForwardJob, type H2Sink, upstreamKey } from "../contract.js";

/*
 * Flow control end to end: the answer's DATA is written to the client's stream and the
 * upstream stream is paused whenever that write says the stream's buffer is full (resumed on
 * `drain`); a paused HTTP/2 stream is not read, so its window is not given back and the instance
 * stops sending. The request body goes up the same way. So one stream holds at most a stream
 * buffer (16 KiB) and one flow-control window per direction in the proxy, whatever the peers do.
 *
 * Replay: until the answer's head, the request body bytes taken from the client are kept, up to
 * `replayLimit` (64 KiB: a unary gRPC call whole). When the instance refuses the stream without
 * processing it (REFUSED_STREAM, which GOAWAY gives the streams above its last stream id) or a
 * peer sidecar answers that its app is unavailable, the attempt fails `retryable` with the kept
 * bytes in `job.replay`, and the next attempt sends them first. Past the limit, not retryable.
 */

const {
  NGHTTP2_CANCEL,
  NGHTTP2_INTERNAL_ERROR,
  NGHTTP2_NO_ERROR,
  NGHTTP2_REFUSED_STREAM,
  NGHTTP2_FLAG_END_STREAM,
} = constants;

/** The last stream id a session's GOAWAY said the peer processed (set by the session pool). */
export const GOAWAY_LAST = new WeakMap<ClientHttp2Session, number>();

/** What an attempt needs from its forwarder. */
export interface AttemptHost {
  readonly replayLimit: number;
  /** The stream was refused unprocessed: try again on another session of the same instance. */
  again(job: ForwardJob, round: number): boolean;
}

/** The request head for the instance: pseudo-headers first, Host as `:authority`. */
function requestHeaders(job: ForwardJob): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {
    ":method": job.method,
    ":path": job.path,
    ":scheme": "http",
    ":authority": upstreamKey(job.upstream),
  };
  let grpc = false;
  const h = job.headers;
  for (let i = 0; i < h.length - 1; i += 2) {
    const name = (h[i] as string).toLowerCase();
    const value = h[i + 1] as string;
    if (name === "host") {
      out[":authority"] = value;
      continue;
    }
    if (name.charCodeAt(0) === 0x3a || name === "te") continue;
    if (name === "content-type" && value.startsWith("application/grpc")) grpc = true;
    const had = out[name];
    if (had === undefined) out[name] = value;
    else if (Array.isArray(had)) had.push(value);
    else out[name] = [String(had), value];
  }
  // gRPC servers may ask for it (PROTOCOL-HTTP2.md); TE's only value allowed in HTTP/2.
  if (grpc) out.te = "trailers";
  return out;
}

/** An HTTP/2 header object as a flat list, pseudo-headers left out (HTTP/2 has no hop-by-hop fields). */
function flat(headers: IncomingHttpHeaders): string[] {
  const out: string[] = [];
  for (const name in headers) {
    if (name.charCodeAt(0) === 0x3a) continue;
    const value = headers[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.push(name, v);
    else out.push(name, String(value));
  }
  return out;
}

export class H2Attempt {
  private up: ClientHttp2Stream | null = null;
  private session: ClientHttp2Session | null = null;
  private headSeen = false;
  private settled = false;
  private ended = false;
  private kept: Buffer[] = [];
  private keptBytes = 0;
  private keepOk = true;
  private readonly sink: H2Sink;
  /** Set by the session pool: frees the attempt's slot on its session; called once. */
  release: () => void = () => {};

  constructor(
    readonly job: ForwardJob,
    private readonly host: AttemptHost,
    /** 0 for the first try on this instance, 1 after a refused stream. */
    private readonly round: number,
  ) {
    this.sink = job.h2 as H2Sink;
  }

  /** Nothing could be sent (no session, session failed before the stream): retryable. */
  failUnsent(kind: ForwardFailureKind, detail: string): void {
    this.fail(kind, detail, true);
  }

  start(session: ClientHttp2Session): void {
    const job = this.job;
    if (this.sink.destroyed) {
      this.release();
      this.fail("aborted", "client went away", false);
      return;
    }
    const replay = job.replay ?? null;
    job.replay = null;
    if (replay !== null) for (const c of replay) this.keep(c);
    const body = job.body;
    const bodyDone = body === null || body.readableEnded;
    const endStream = bodyDone && this.kept.length === 0;
    let up: ClientHttp2Stream;
    try {
      up = session.request(requestHeaders(job), { endStream });
    } catch (err) {
      this.release();
      job.replay = this.kept.length > 0 ? this.kept : null;
      this.fail("connect", (err as Error).message, true);
      return;
    }
    this.up = up;
    this.session = session;
    for (const c of this.kept) up.write(c);
    up.on("response", this.onResponse);
    up.on("trailers", this.onTrailers);
    up.on("data", this.onData);
    up.on("end", this.onEnd);
    up.on("error", () => {});
    up.once("close", this.onClose);
    this.sink.once("close", this.onClientClose);
    if (!endStream) {
      if (bodyDone || body === null) up.end();
      else {
        body.on("data", this.onBodyData);
        body.once("end", this.onBodyEnd);
        body.resume();
      }
    }
  }

  private keep(chunk: Buffer): void {
    if (!this.keepOk) return;
    if (this.headSeen || this.keptBytes + chunk.length > this.host.replayLimit) {
      this.keepOk = false;
      this.kept = [];
      return;
    }
    this.kept.push(chunk);
    this.keptBytes += chunk.length;
  }

  private readonly onBodyData = (chunk: Buffer): void => {
    const up = this.up as ClientHttp2Stream;
    this.keep(chunk);
    if (!up.write(chunk)) {
      this.job.body?.pause();
      up.once("drain", this.onUpDrain);
    }
  };

  private readonly onUpDrain = (): void => {
    this.job.body?.resume();
  };

  private readonly onBodyEnd = (): void => {
    this.up?.end();
  };

  private readonly onResponse = (headers: IncomingHttpHeaders, flags: number): void => {
    const job = this.job;
    const status = Number(headers[":status"]);
    const endStream = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
    if (job.interceptAppUnavailable && endStream) {
      const code = headers[PROXY_ERROR_HEADER];
      if (code === "LANEMESH_APP_UNAVAILABLE" || code === "LANEMESH_OVERLOADED") {
        const kind = code === "LANEMESH_OVERLOADED" ? "overloaded" : "app-unavailable";
        job.replay = this.keepOk && this.kept.length > 0 ? this.kept : null;
        this.fail(kind, `peer sidecar: ${code}`, this.keepOk);
        return;
      }
    }
    this.headSeen = true;
    this.kept = [];
    this.keepOk = false;
    this.sink.writeHead(status, flat(headers), endStream);
    job.onHead(status);
    this.settle(status);
  };

  private readonly onTrailers = (trailers: IncomingHttpHeaders): void => {
    if (this.headSeen) this.sink.setTrailers(flat(trailers));
  };

  private readonly onData = (chunk: Buffer): void => {
    if (!this.headSeen || this.sink.destroyed) return;
    if (!this.sink.write(chunk)) {
      this.up?.pause();
      this.sink.once("drain", this.onClientDrain);
    }
  };

  private readonly onClientDrain = (): void => {
    this.up?.resume();
  };

  private readonly onEnd = (): void => {
    this.ended = true;
    if (this.headSeen) this.sink.end();
  };

  /** The client reset or closed its stream: the instance's stream is cancelled too. */
  private readonly onClientClose = (): void => {
    const up = this.up;
    if (up !== null && !up.closed && !up.destroyed) up.close(NGHTTP2_CANCEL);
    this.fail("aborted", "client went away", false);
  };

  private readonly onClose = (): void => {
    const up = this.up as ClientHttp2Stream;
    this.detachBody();
    up.off("drain", this.onUpDrain);
    this.sink.off("close", this.onClientClose);
    this.sink.off("drain", this.onClientDrain);
    this.release();
    const code = up.rstCode ?? NGHTTP2_NO_ERROR;
    // Never sent (no stream id yet), above a GOAWAY's last stream id, or refused: not processed.
    const last = this.session === null ? undefined : GOAWAY_LAST.get(this.session);
    const unprocessed =
      code === NGHTTP2_REFUSED_STREAM ||
      up.id === undefined ||
      (last !== undefined && up.id > last);
    if (this.headSeen) {
      if (!this.ended && !this.sink.destroyed) {
        this.sink.reset(code === NGHTTP2_NO_ERROR ? NGHTTP2_INTERNAL_ERROR : code);
      }
      return;
    }
    if (this.settled) return;
    if (unprocessed && this.keepOk) {
      this.job.replay = this.kept.length > 0 ? this.kept : null;
      if (this.host.again(this.job, this.round + 1)) {
        this.settled = true;
        return;
      }
      this.fail("reset", "stream refused by the instance (not processed)", true);
      return;
    }
    this.fail(
      "reset",
      `stream ${up.id} closed before a response (HTTP/2 code ${code}, GOAWAY last ${last ?? "-"})`,
      false,
    );
  };

  private settle(status: number): void {
    if (this.settled) return;
    this.settled = true;
    this.job.settle({ ok: true, status });
  }

  /** No more body goes to this attempt's stream; what was not taken waits for the next one. */
  private detachBody(): void {
    const body = this.job.body;
    if (body === null) return;
    body.off("data", this.onBodyData);
    body.off("end", this.onBodyEnd);
    // Before the head, the rest waits for the next attempt; after it, the rest is dropped.
    if (!body.readableEnded) {
      if (this.headSeen) body.resume();
      else body.pause();
    }
  }

  private fail(kind: ForwardFailureKind, detail: string, retryable: boolean): void {
    if (this.settled) return;
    this.settled = true;
    this.detachBody();
    const up = this.up;
    if (up !== null && !up.closed && !up.destroyed) up.close(NGHTTP2_CANCEL);
    this.job.settle({ ok: false, kind, detail, retryable });
  }
}
