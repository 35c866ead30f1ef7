// Where a redirected connection was going before iptables REDIRECT sent it to the sidecar (SO_ORIGINAL_DST, through the one native addon in native/); it never reads or writes the connection.
import { createRequire } from "node:module";
import type { Socket } from "node:net";

/*
 * Node has no SO_ORIGINAL_DST, so native/original_dst.c (about 80 lines of C over N-API, built
 * by `npm ci` with the node-gyp that ships with npm) reads it; this file loads it once. The call
 * is synchronous and takes a few microseconds. The socket's file descriptor comes from its libuv
 * handle (`_handle.fd`, defined for TCP sockets on Linux).
 */

export interface OriginalDestination {
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
}

/** The socket's original destination, or null when it cannot be told (not redirected, no fd). */
export type OriginalDestinationReader = (socket: Socket) => OriginalDestination | null;

interface Addon {
  originalDestination(fd: number): OriginalDestination | null;
}

const ADDON = new URL("../../../../native/build/Release/original_dst.node", import.meta.url);

let loaded: Addon | Error | undefined;

function addon(): Addon | Error {
  if (loaded === undefined) {
    try {
      loaded = createRequire(import.meta.url)(ADDON.pathname) as Addon;
    } catch (err) {
      loaded = new Error(
        process.platform === "linux"
          ? `the native addon ${ADDON.pathname} did not load (${(err as Error).message.split("\n")[0]}): it is built by \`npm ci\` (needs python3, make and a C compiler); rebuild with \`npm run build:native\``
          : `transparent interception needs Linux (SO_ORIGINAL_DST); this is ${process.platform}`,
      );
    }
  }
  return loaded;
}

/** The reader over the native addon; throws an Error saying why when the addon cannot load. */
export function nativeOriginalDestination(): OriginalDestinationReader {
  const a = addon();
  if (a instanceof Error) throw a;
  return (socket) => {
    const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (fd === undefined || fd < 0) return null;
    return a.originalDestination(fd);
  };
}
