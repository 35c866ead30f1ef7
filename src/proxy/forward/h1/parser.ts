// Node's own llhttp response parser (the one node:http's client uses), typed for the upstream connections; it parses, it never does I/O.
import { createRequire } from "node:module";

/*
 * Why this and not undici: undici's HTTP/1.1 client costs about 24 µs of CPU per request on the
 * benchmark machine (its wasm parser, Request object, header processing and handler layers), more
 * than Node's whole HTTP server side (~9 µs). Node's native parser is the same strict llhttp the
 * server side uses, with the callbacks below; reaching it goes through `_http_common`, an
 * undocumented module that every Node release since 0.x has kept for compatibility. The binding
 * is checked once at load time: if a future Node removes it, `nativeParserAvailable` is false and
 * the forwarder says so when constructed instead of failing on the first request.
 */

/** The raw parser callbacks' signatures (Node 20–24). Headers are a flat [name, value, …] list. */
export interface NativeParser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  /** Bytes parsed, or an Error with `code` (`HPE_…`) and `reason`. */
  execute(data: Buffer): number | (Error & { code?: string });
  /** End of input: completes a close-delimited body, or an Error when a message is cut. */
  finish(): undefined | (Error & { code?: string });
  close(): void;
  [slot: number]: unknown;
}

interface ParserClass {
  new (): NativeParser;
  readonly REQUEST: number;
  readonly RESPONSE: number;
  readonly kOnHeaders: number;
  readonly kOnHeadersComplete: number;
  readonly kOnBody: number;
  readonly kOnMessageComplete: number;
  readonly kLenientNone: number;
}

export type OnHeaders = (headers: string[], url: string) => void;
/** Returns 0, or 1 to skip the body (a response to HEAD). */
export type OnHeadersComplete = (
  versionMajor: number,
  versionMinor: number,
  headers: string[] | undefined,
  method: undefined,
  url: string | undefined,
  statusCode: number,
  statusMessage: string,
  upgrade: boolean,
  shouldKeepAlive: boolean,
) => number;
export type OnBody = (chunk: Buffer) => void;
export type OnMessageComplete = () => void;

function load(): { P: ParserClass; methods: readonly string[] } | null {
  try {
    const common = createRequire(import.meta.url)("_http_common") as {
      HTTPParser?: ParserClass;
      methods?: readonly string[];
    };
    const P = common.HTTPParser;
    if (typeof P !== "function" || typeof P.kOnHeadersComplete !== "number") return null;
    if (!Array.isArray(common.methods)) return null;
    return { P, methods: common.methods };
  } catch {
    return null;
  }
}

const loaded = load();
const Parser = loaded?.P ?? null;
/** llhttp's method numbers to names (a request parser's `onHeadersComplete` gives the number). */
export const METHODS: readonly string[] = loaded?.methods ?? [];

export const nativeParserAvailable = Parser !== null;

export interface ResponseCallbacks {
  onHeaders: OnHeaders;
  onHeadersComplete: OnHeadersComplete;
  onBody: OnBody;
  onMessageComplete: OnMessageComplete;
}

/** A strict response parser (lenient flags off) with the given callbacks. */
export function responseParser(cb: ResponseCallbacks, maxHeaderSize: number): NativeParser {
  return strictParser("RESPONSE", cb, maxHeaderSize);
}

function strictParser(
  type: "REQUEST" | "RESPONSE",
  cb: ResponseCallbacks | RequestCallbacks,
  maxHeaderSize: number,
): NativeParser {
  if (Parser === null) throw new Error("this Node.js has no native HTTP parser (_http_common)");
  const p = new Parser();
  p.initialize(Parser[type], {}, maxHeaderSize, Parser.kLenientNone);
  p[Parser.kOnHeaders] = cb.onHeaders;
  p[Parser.kOnHeadersComplete] = cb.onHeadersComplete;
  p[Parser.kOnBody] = cb.onBody;
  p[Parser.kOnMessageComplete] = cb.onMessageComplete;
  return p;
}

/** A request's head, as the request parser hands it over (method as llhttp's number). */
export type OnRequestHead = (
  versionMajor: number,
  versionMinor: number,
  headers: string[] | undefined,
  method: number,
  url: string | undefined,
  statusCode: undefined,
  statusMessage: undefined,
  upgrade: boolean,
  shouldKeepAlive: boolean,
) => number;

export interface RequestCallbacks {
  onHeaders: OnHeaders;
  onHeadersComplete: OnRequestHead;
  onBody: OnBody;
  onMessageComplete: OnMessageComplete;
}

/** A strict request parser (lenient flags off), as Node's HTTP server uses it. */
export function requestParser(cb: RequestCallbacks, maxHeaderSize: number): NativeParser {
  return strictParser("REQUEST", cb, maxHeaderSize);
}
