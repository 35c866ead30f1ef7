// An upstream answer's HTTP/1.1 trailers (llhttp's trailing header list) handed to the client's response, sent with the end of its chunked body; it never writes anything else.
import type { ResponseSink } from "../contract.js";

/** Add `flat` ([name, value, …]) as trailers; a trailer Node refuses drops them, not the answer. */
export function passTrailers(res: ResponseSink, flat: readonly string[]): void {
  if (res.addTrailers === undefined) return;
  const pairs: [string, string][] = [];
  for (let i = 0; i < flat.length - 1; i += 2)
    pairs.push([flat[i] as string, flat[i + 1] as string]);
  try {
    res.addTrailers(pairs);
  } catch {
    // An invalid character in a trailer: the answer goes on without its trailers.
  }
}
