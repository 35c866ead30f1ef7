// One HTTP/1.1 connection to an upstream instance: writes one request at a time, parses the answer with llhttp and streams both bodies; it never picks instances, queues or retries.
import { connect, type Socket } from "node:net";
import { keepAliveHint, peerRefusal, stripResponseHopHeaders } from "../../headers.js";
import type { ForwardFailureKind, ForwardJob, Upstream } from "../contract.js";
import { type NativeParser, responseParser } from "./parser.js";
import { BodyPump, type PumpOwner, requestHead } from "./request.js";
import { passTrailers } from "./trailers.js";
import type { Share } from "./waiting.js";

/*
 * Life of a connection: connecting → (request → response)* → closed, one request at a time (no
 * pipelining). Every callback (socket, parser, request body, response sink) is created once per
 * connection, so a request allocates only its head string and what llhttp hands over.
 *
 * Request: see request.ts (one checked head string, the body streamed as is or chunked).
 *
 * Response: llhttp in strict mode (Node's client parser), 16 KiB of headers at most by default.
 * 1xx answers are skipped; the head goes to `res.writeHead` as the flat raw list, hop-by-hop
 * fields removed in place; a HEAD request's answer has no body. Backpressure both ways: the
 * upstream socket is paused while the client's response is full, the client's request while the
 * upstream socket is.
 *
 * Reuse: after a complete response with keep-alive and a completely sent request; otherwise the
 * connection is closed. A response that ends before its request body was sent closes it too.
 *
 * Failures map to ForwardFailureKind: socket errors while connecting → `connect`; reset, EOF or
 * socket error before the response is complete → `reset`; no head within the headers timeout →
 * `timeout`; a parse error, an unexpected upgrade or a head Node refuses to send → `protocol`; the
 * client gone → `aborted`; a request body stalled (request.ts) → `client-timeout`, or `timeout`
 * when the instance stopped taking it. After the head went out, a failure cuts the response.
 */

export interface ConnectionSettings {
  readonly connectTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly bodyTimeoutMs: number;
  /** Longest time a request body may go without progress (either side's fault). */
  readonly clientBodyTimeoutMs: number;
  readonly keepAliveMs: number;
  /** Largest response header section (0 = Node's default, 16 KiB). */
  readonly maxHeaderSize: number;
}

/** What a connection needs of its pool. */
export interface ConnectionOwner {
  readonly upstream: Upstream;
  /** `address:port`, for messages. */
  readonly where: string;
  readonly settings: ConnectionSettings;
  /** The response is over and the connection may carry another request. */
  released(c: UpstreamConnection): void;
  /** The connection is closed (either side, or a failure); it is never used again. */
  closed(c: UpstreamConnection): void;
}

// Phases of a connection; a request is in flight in REQUEST (waiting for the head) and BODY.
const CONNECTING = 0;
const IDLE = 1;
const REQUEST = 2;
const BODY = 3;
const CLOSED = 4;

export class UpstreamConnection implements PumpOwner {
  private phase = CONNECTING;
  private readonly socket: Socket;
  private readonly parser: NativeParser;
  /** When the current phase times out (performance.now() ms); Infinity when it cannot. */
  deadline = Number.POSITIVE_INFINITY;
  /** Keep-alive limit of this connection: ours, or shorter if the instance asked. */
  private keepAliveMs: number;
  private partialHeaders: string[] | null = null;
  /** The client share this connection counts against (set and cleared by the pool). */
  share: Share | null = null;

  // The request in flight and its state (reset by `start`).
  private job: ForwardJob | null = null;
  private readonly pump: BodyPump;
  private settled = false;
  private informational = false;
  /** A peer sidecar's 503 being swallowed (interceptAppUnavailable): the failure it stands for. */
  private discard: "app-unavailable" | "overloaded" | null = null;
  private headRequest = false;
  private reusable = false;
  private complete = false;
  private awaitingDrain = false;

  constructor(private readonly owner: ConnectionOwner) {
    const s = owner.settings;
    this.keepAliveMs = s.keepAliveMs;
    this.deadline = performance.now() + s.connectTimeoutMs;
    this.parser = responseParser(
      {
        onHeaders: (headers) => {
          if (this.partialHeaders === null) this.partialHeaders = headers;
          else for (const h of headers) this.partialHeaders.push(h);
        },
        onHeadersComplete: (_maj, _min, headers, _m, _u, status, _msg, upgrade, keepAlive) =>
          this.onHead(headers, status, upgrade, keepAlive),
        onBody: (chunk) => this.onBody(chunk),
        onMessageComplete: () => this.onMessageComplete(),
      },
      s.maxHeaderSize,
    );
    const socket = connect({ host: owner.upstream.address, port: owner.upstream.port });
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on("connect", () => this.onConnect());
    socket.on("data", (data: Buffer) => this.onData(data));
    socket.on("end", () => this.onEnd());
    socket.on("error", (err: Error & { code?: string }) => this.onSocketError(err));
    socket.on("close", () => this.onClose());
    this.pump = new BodyPump(socket, this);
  }

  /** True while no request is in flight and the connection can take one. */
  get idle(): boolean {
    return this.phase === IDLE;
  }

  /**
   * Send `job` on this connection: at once when connected and idle, or as soon as the connection
   * is established. The caller (the pool) gives a connection one job at a time.
   */
  start(job: ForwardJob): void {
    this.job = job;
    this.pump.none();
    this.settled = false;
    this.informational = false;
    this.discard = null;
    this.headRequest = job.method === "HEAD";
    this.reusable = false;
    this.complete = false;
    this.awaitingDrain = false;
    job.res.on("close", this.onClientClose);
    if (this.phase === IDLE) this.sendRequest();
  }

  /** Called by the pool's ticker: act on an elapsed deadline or a stalled request body. */
  checkTimeout(now: number): void {
    const s = this.owner.settings;
    if (this.pump.streaming && this.pump.stalled(now, s.clientBodyTimeoutMs)) {
      this.bodyStalled(s.clientBodyTimeoutMs);
      return;
    }
    if (now < this.deadline) return;
    switch (this.phase) {
      case CONNECTING:
        this.fail(
          "connect",
          `connect timeout to ${this.owner.where} after ${s.connectTimeoutMs} ms`,
        );
        return;
      case IDLE:
        this.destroy();
        return;
      case REQUEST:
        if (!this.pump.done) return; // the client's own request timeout governs the upload
        this.fail(
          "timeout",
          `no response headers from ${this.owner.where} within ${s.headersTimeoutMs} ms`,
        );
        return;
      case BODY:
        this.fail("timeout", `${this.owner.where}: response body silent for ${s.bodyTimeoutMs} ms`);
        return;
    }
  }

  private bodyStalled(ms: number): void {
    if (this.pump.blocked) {
      this.fail("timeout", `${this.owner.where} did not take the request body for ${ms} ms`);
      return;
    }
    this.job?.onClientTimeout?.();
    this.fail("client-timeout", `the client sent no request body for ${ms} ms`);
  }

  /** True when idle for longer than its keep-alive limit (then it must not be reused). */
  expired(now: number): boolean {
    return this.phase === IDLE && now >= this.deadline;
  }

  /** Close now; an attempt in flight fails as `reset`. */
  destroy(): void {
    if (this.phase === CLOSED) return;
    this.socket.destroy();
    this.onClose();
  }

  // ---- request side ----

  private onConnect(): void {
    if (this.phase !== CONNECTING) return;
    this.socket.setKeepAlive(true, 60_000);
    if (this.job === null) {
      this.phase = IDLE;
      this.deadline = performance.now() + this.keepAliveMs;
      this.owner.released(this);
      return;
    }
    this.sendRequest();
  }

  private sendRequest(): void {
    const job = this.job as ForwardJob;
    this.phase = REQUEST;
    const head = requestHead(job, this.owner.where);
    if (head === null) {
      this.fail("bad-request", "a request header holds a control character or a line break");
      return;
    }
    this.socket.write(head.text, "latin1");
    if (job.body === null) {
      this.deadline = performance.now() + this.owner.settings.headersTimeoutMs;
      return;
    }
    this.deadline = Number.POSITIVE_INFINITY;
    this.pump.start(job.body, head.chunked, performance.now());
  }

  bodyDone(): void {
    if (this.phase === REQUEST) {
      this.deadline = performance.now() + this.owner.settings.headersTimeoutMs;
    }
  }

  bodyBroken(): void {
    // The client's request broke off (aborted upload): the upstream has a partial request.
    this.fail("aborted", "the client's request body was cut");
  }

  // ---- response side ----

  private onData(data: Buffer): void {
    if (this.phase === BODY && !this.awaitingDrain) {
      this.deadline = performance.now() + this.owner.settings.bodyTimeoutMs;
    }
    let r: ReturnType<NativeParser["execute"]>;
    try {
      r = this.parser.execute(data);
    } catch (err) {
      // A throw from a callback (a bug above us): fail this exchange, never the process.
      this.fail("protocol", `${this.owner.where}: ${(err as Error).message}`);
      return;
    }
    if (this.complete && this.job !== null) {
      // Bytes after a complete response (an error here) only forbid reusing the connection.
      if (typeof r !== "number") this.reusable = false;
      this.finishExchange();
    } else if (typeof r !== "number") {
      this.fail("protocol", `${this.owner.where}: invalid response (${r.code ?? r.message})`);
    }
  }

  private onHead(
    raw: string[] | undefined,
    status: number,
    upgrade: boolean,
    keepAlive: boolean,
  ): number {
    let headers = raw;
    if (headers === undefined || this.partialHeaders !== null) {
      headers = this.partialHeaders ?? [];
      if (raw !== undefined) for (const h of raw) headers.push(h);
      this.partialHeaders = null;
    }
    const job = this.job;
    if (job === null || this.phase !== REQUEST) {
      this.fail("protocol", `${this.owner.where}: a response nobody asked for`);
      return 1;
    }
    if (upgrade) {
      this.fail("protocol", `${this.owner.where}: unexpected protocol upgrade (${status})`);
      return 1;
    }
    if (status < 200) {
      this.informational = true;
      return 0;
    }
    this.phase = BODY;
    this.deadline = performance.now() + this.owner.settings.bodyTimeoutMs;
    this.reusable = keepAlive;
    const hint = keepAliveHint(headers);
    if (hint >= 0) this.keepAliveMs = Math.min(this.keepAliveMs, hint * 1000 - 1000);
    if (status === 503 && job.interceptAppUnavailable) {
      this.discard = peerRefusal(headers);
      if (this.discard !== null) return this.headRequest ? 1 : 0;
    }
    stripResponseHopHeaders(headers);
    try {
      job.res.writeHead(status, headers);
    } catch {
      // A header Node refuses to send (e.g. an invalid character): a bad answer.
      this.fail("protocol", `${this.owner.where}: a response header cannot be passed on`);
      return 1;
    }
    this.settled = true;
    job.onHead(status);
    job.settle({ ok: true, status });
    return this.headRequest ? 1 : 0;
  }

  private onBody(chunk: Buffer): void {
    const job = this.job;
    if (job === null || this.discard !== null || this.phase !== BODY) return;
    if (job.res.destroyed) {
      this.fail("aborted", "the client closed the connection");
      return;
    }
    if (!job.res.write(chunk) && !this.awaitingDrain) {
      // The client reads slower than the instance sends: stop reading (and the body timer).
      this.awaitingDrain = true;
      this.deadline = Number.POSITIVE_INFINITY;
      this.socket.pause();
      job.res.once("drain", this.onClientDrain);
    }
  }

  private readonly onClientDrain = (): void => {
    this.awaitingDrain = false;
    if (this.phase !== BODY) return;
    this.deadline = performance.now() + this.owner.settings.bodyTimeoutMs;
    this.socket.resume();
  };

  private onMessageComplete(): void {
    if (this.informational) {
      this.informational = false;
      return;
    }
    if (this.job === null || this.phase !== BODY) return;
    this.complete = true;
    // The exchange finishes after llhttp returns (onData), or when the request body is done.
  }

  /**
   * The response is complete: end the client's response, then reuse the connection, or close it
   * when the request body was not sent completely (an early answer) or keep-alive is off.
   */
  private finishExchange(): void {
    const job = this.job as ForwardJob;
    const discarded = this.discard;
    const whole = this.pump.done;
    this.complete = false;
    this.releaseJob(job);
    if (discarded !== null) {
      job.settle({
        ok: false,
        kind: discarded,
        detail:
          discarded === "overloaded"
            ? `the sidecar at ${this.owner.where} is overloaded`
            : `the app behind ${this.owner.where} is unavailable`,
        retryable: job.body === null,
      });
    } else {
      const trailers = this.partialHeaders;
      this.partialHeaders = null;
      if (trailers !== null) passTrailers(job.res, trailers);
      job.res.end();
    }
    if (!this.reusable || !whole || this.keepAliveMs <= 0) {
      this.destroy();
      return;
    }
    this.phase = IDLE;
    this.deadline = performance.now() + this.keepAliveMs;
    this.owner.released(this);
  }

  private releaseJob(job: ForwardJob): void {
    this.job = null;
    this.pump.stop();
    job.res.off("close", this.onClientClose);
    if (this.awaitingDrain) {
      job.res.off("drain", this.onClientDrain);
      this.awaitingDrain = false;
      this.socket.resume();
    }
  }

  private readonly onClientClose = (): void => {
    const job = this.job;
    if (job === null || job.res.writableFinished) return;
    this.fail("aborted", "the client closed the connection");
  };

  // ---- failures and the end of the connection ----

  private onEnd(): void {
    // The instance closed its side: completes a close-delimited body, else cuts the exchange.
    if (this.job !== null && this.phase === BODY) {
      const r = this.parser.finish();
      if (r === undefined && this.complete) {
        this.reusable = false;
        this.finishExchange();
        return;
      }
    }
    this.destroy();
  }

  private onSocketError(err: Error & { code?: string }): void {
    const where = this.owner.where;
    if (this.phase === CONNECTING) {
      // Nothing was sent yet, whatever the cause (refused, unreachable, DNS, timeout).
      const detail =
        err.code === "ECONNREFUSED" ? `connection refused by ${where}` : `${where}: ${err.message}`;
      this.fail("connect", detail);
      return;
    }
    this.fail("reset", `connection to ${where} closed before a response`);
  }

  private onClose(): void {
    if (this.phase === CLOSED) return;
    if (this.job !== null) {
      const where = this.owner.where;
      if (this.phase === CONNECTING)
        this.fail("connect", `${where}: connection closed while connecting`);
      else this.fail("reset", `connection to ${where} closed before a response`);
      return;
    }
    this.phase = CLOSED;
    this.deadline = Number.POSITIVE_INFINITY;
    this.socket.destroy();
    const parser = this.parser;
    setImmediate(() => parser.close());
    this.owner.closed(this);
  }

  /** The attempt in flight failed: report it (or cut the response), then close the connection. */
  private fail(kind: ForwardFailureKind, detail: string): void {
    const job = this.job;
    if (job !== null) {
      this.releaseJob(job);
      if (this.settled) {
        // The head went out: cut the response so the client cannot take it for complete.
        if (!job.res.writableFinished) job.res.destroy(new Error(detail));
      } else {
        const retryable =
          (kind === "connect" || kind === "reset") && (job.body === null || !this.pump.sent);
        job.settle({ ok: false, kind, detail, retryable });
      }
    }
    this.destroy();
  }
}
