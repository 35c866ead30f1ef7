// Where the control plane keeps its store and secrets when --data-dir is not given: an absolute path, never one relative to the working directory; it creates nothing.
import { accessSync, constants, existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

/** The system-wide data dir, used when this user may write it (or create it). */
export const SYSTEM_DATA_DIR = "/var/lib/lanemesh";

function writable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * `/var/lib/lanemesh` when this user can write it (or create it in a writable /var/lib), else
 * `$HOME/.lanemesh/control-plane`. A control plane started from any directory finds its store.
 */
export function defaultDataDir(
  fs: { exists(p: string): boolean; writable(p: string): boolean; home(): string } = {
    exists: existsSync,
    writable,
    home: homedir,
  },
): string {
  const system = fs.exists(SYSTEM_DATA_DIR)
    ? fs.writable(SYSTEM_DATA_DIR)
    : fs.writable("/var/lib");
  return system ? SYSTEM_DATA_DIR : join(fs.home(), ".lanemesh", "control-plane");
}
