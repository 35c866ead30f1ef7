// The listener's one periodic check: finds responses a client stopped reading and tunnels with no traffic, for the listener to close; it never answers and never closes anything itself.
import type { Socket } from "node:net";

/*
 * nginx's send_timeout, measured without a clock read or a listener per write: at each sweep, a
 * response whose socket holds bytes not yet taken by the kernel (`writableLength > 0`) is compared
 * with the previous sweep; the bytes the kernel took (`bytesWritten - writableLength`) not moving
 * for `sendTimeoutMs` means the client stopped reading. A client that reads slowly moves it (a
 * write completes when the kernel took the whole chunk: at most the upstream's chunk, ~64 KiB,
 * must drain within the timeout). Nothing pending: nothing to wait for, not stalled.
 *
 * Tunnels: the client socket's bytes read and written (both directions of the tunnel pass through
 * it) not moving for `tunnelIdleMs` means the tunnel is idle, the handshake still waiting for its
 * answer included.
 *
 * Precision: a stall is noticed between the timeout and the timeout plus one sweep interval
 * (1/8 of the shortest timeout, 10 ms to 1 s). The listener resets a stalled reader's connection
 * (its unread bytes dropped from the kernel at once) and closes an idle tunnel.
 */

export interface WatchLimits {
  /** A response whose client takes no byte for this long is cut (ms). */
  readonly sendTimeoutMs: number;
  /** A tunnel with no byte either way for this long is closed (ms). */
  readonly tunnelIdleMs: number;
}

/** What the sweep reads and marks on each in-flight response (ProxyResponse has these). */
export interface Watchable {
  readonly socket: Socket | null;
  /** Last progress mark seen, -1 when nothing was pending. */
  watchMark: number;
  /** performance.now() when the mark last moved. */
  watchSince: number;
  /** The client's socket when the exchange is a tunnel (Upgrade), else null. */
  tunnelSocket(): Socket | null;
}

export type Stall = "send" | "tunnel-idle";

/** The sweep's period for these limits. */
export function sweepInterval(limits: WatchLimits): number {
  const shortest = Math.min(limits.sendTimeoutMs, limits.tunnelIdleMs);
  return Math.max(10, Math.min(1000, Math.floor(shortest / 8)));
}

/** Mark progress on every item and report the ones stalled past their limit. */
export function sweep(
  items: Iterable<Watchable>,
  now: number,
  limits: WatchLimits,
  stalled: (item: Watchable, kind: Stall) => void,
): void {
  for (const item of items) {
    const tunnel = item.tunnelSocket();
    if (tunnel !== null) {
      if (tunnel.destroyed) continue;
      const mark = tunnel.bytesRead + tunnel.bytesWritten;
      if (mark !== item.watchMark) {
        item.watchMark = mark;
        item.watchSince = now;
      } else if (now - item.watchSince >= limits.tunnelIdleMs) {
        stalled(item, "tunnel-idle");
      }
      continue;
    }
    const socket = item.socket;
    if (socket === null || socket.destroyed) continue;
    const pending = socket.writableLength;
    if (pending === 0) {
      item.watchMark = -1;
      continue;
    }
    const mark = socket.bytesWritten - pending;
    if (mark !== item.watchMark) {
      item.watchMark = mark;
      item.watchSince = now;
    } else if (now - item.watchSince >= limits.sendTimeoutMs) {
      stalled(item, "send");
    }
  }
}
