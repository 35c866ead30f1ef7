// The request side of an upstream connection: the head as one checked string, the body streamed with backpressure (as is or chunked); it never reads responses.
import type { Socket } from "node:net";
import type { Readable } from "node:stream";
import type { ForwardJob } from "../contract.js";

/*
 * The head is written as one latin1 string; a request whose headers lack `host` gets the
 * instance's address (HTTP/1.1 requires one). A body goes as it comes: as is when the headers
 * carry Content-Length (the client's parser already framed it to that length), else with chunked
 * framing. The head is checked for line injection before anything is written: every CR and LF
 * must be one the writer put at a line end, and no other control character but TAB may appear,
 * so a header from any source can never add a line.
 */

export interface RequestHead {
  readonly text: string;
  /** The body must be framed chunked (it has no Content-Length). */
  readonly chunked: boolean;
}

/** True when `head` holds exactly `lines` CR and LF and no other control character but TAB. */
function headIsClean(head: string, lines: number): boolean {
  let cr = 0;
  let lf = 0;
  for (let i = 0; i < head.length; i++) {
    const c = head.charCodeAt(i);
    if (c >= 0x20 && c !== 0x7f) continue;
    if (c === 0x0d) cr++;
    else if (c === 0x0a) lf++;
    else if (c !== 0x09) return false;
  }
  return cr === lines && lf === lines;
}

/** The request head of `job` for the instance at `where`; null when a header would add a line. */
export function requestHead(
  job: Pick<ForwardJob, "method" | "path" | "headers" | "body">,
  where: string,
): RequestHead | null {
  let text = `${job.method} ${job.path} HTTP/1.1\r\n`;
  let lines = 2;
  let host = false;
  let length = false;
  const headers = job.headers;
  for (let i = 0; i < headers.length - 1; i += 2) {
    const name = headers[i] as string;
    if (name.length === 4 && !host && name.toLowerCase() === "host") host = true;
    else if (name.length === 14 && name.toLowerCase() === "content-length") length = true;
    text += `${name}: ${headers[i + 1]}\r\n`;
    lines++;
  }
  if (!host) {
    text += `host: ${where}\r\n`;
    lines++;
  }
  const chunked = job.body !== null && !length;
  if (chunked) {
    text += "transfer-encoding: chunked\r\n";
    lines++;
  }
  text += "\r\n";
  return headIsClean(text, lines) ? { text, chunked } : null;
}

/** What the pump reports to its connection. */
export interface PumpOwner {
  /** The whole body went out (the final chunk written when chunked). */
  bodyDone(): void;
  /** The client's body broke off (aborted upload) before its end. */
  bodyBroken(): void;
}

const CHUNKED_END = "0\r\n\r\n";

/*
 * A request body that makes no progress for the client body timeout (nginx's client_body_timeout)
 * ends the attempt (connection.ts): the client stopped sending (408), or, when the pump waits for
 * the instance's socket to drain (`blocked`), the instance stopped taking it (504). Progress is a
 * flag set per chunk and read by the forwarder's ticker (no clock read per chunk), so a stall is
 * noticed between the timeout and the timeout plus one tick.
 */

/** Streams one request body at a time into the connection's socket; one pump per connection. */
export class BodyPump {
  /** Some body byte was handed to the socket (the attempt can no longer be replayed). */
  sent = false;
  /** The whole body (or no body) went out. */
  done = true;
  /** A chunk came (or the socket drained) since the connection's ticker last looked. */
  progressed = false;
  /** Paused because the instance's socket is full (the instance is the slow side). */
  blocked = false;
  /** Since when no progress was seen (performance.now() ms, at the ticker's precision). */
  private stallSince = 0;
  private body: Readable | null = null;
  private chunked = false;

  constructor(
    private readonly socket: Socket,
    private readonly owner: PumpOwner,
  ) {
    socket.on("drain", this.resume);
  }

  /** A body is being streamed (started, not ended, broken or stopped). */
  get streaming(): boolean {
    return this.body !== null;
  }

  /** The ticker's look: true once no progress was seen for `ms` (`now`: performance.now()). */
  stalled(now: number, ms: number): boolean {
    if (this.progressed) {
      this.progressed = false;
      this.stallSince = now;
      return false;
    }
    return now - this.stallSince >= ms;
  }

  /** Start streaming `body` (after the head was written at `now`). */
  start(body: Readable, chunked: boolean, now: number): void {
    this.stallSince = now;
    this.body = body;
    this.chunked = chunked;
    this.sent = false;
    this.done = false;
    this.progressed = false;
    this.blocked = false;
    body.on("data", this.onData);
    body.on("end", this.onEnd);
    body.on("error", this.onBroken);
    body.on("close", this.onClose);
    if (body.isPaused()) body.resume();
  }

  /** A request without a body: nothing to stream. */
  none(): void {
    this.sent = false;
    this.done = true;
  }

  /** Let go of the body; data not sent yet stays in the (paused) stream for another attempt. */
  stop(): void {
    const body = this.body;
    if (body === null) return;
    this.body = null;
    if (!this.done) body.pause();
    body.off("data", this.onData);
    body.off("end", this.onEnd);
    body.off("error", this.onBroken);
    body.off("close", this.onClose);
  }

  private readonly onData = (chunk: Buffer): void => {
    this.sent = true;
    this.progressed = true;
    const socket = this.socket;
    let flushed: boolean;
    if (this.chunked) {
      socket.cork();
      socket.write(`${chunk.length.toString(16)}\r\n`, "latin1");
      socket.write(chunk);
      flushed = socket.write("\r\n", "latin1");
      socket.uncork();
    } else {
      flushed = socket.write(chunk);
    }
    if (!flushed && this.body !== null) {
      this.blocked = true;
      this.body.pause();
    }
  };

  private readonly resume = (): void => {
    if (this.body === null || this.done) return;
    if (this.blocked) {
      this.blocked = false;
      this.progressed = true;
    }
    this.body.resume();
  };

  private readonly onEnd = (): void => {
    if (this.chunked) this.socket.write(CHUNKED_END, "latin1");
    this.done = true;
    this.stop();
    this.owner.bodyDone();
  };

  private readonly onBroken = (): void => {
    if (this.done) return;
    this.stop();
    this.owner.bodyBroken();
  };

  private readonly onClose = (): void => {
    if (!this.done) this.onBroken();
  };
}
