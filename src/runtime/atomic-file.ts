// Durable whole-file replacement (write a temp file, fsync, rename, fsync the directory); it never merges or parses.
import { mkdir, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

let sequence = 0;

/** Replace `path` with `data` so a crash leaves either the old or the new file, never a torn one. */
export async function writeFileAtomic(path: string, data: string | Buffer): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${sequence++}.tmp`);
  const file = await open(tmp, "w", 0o644);
  try {
    await file.writeFile(data, "utf8");
    await file.sync();
  } catch (err) {
    await file.close();
    await rm(tmp, { force: true });
    throw err;
  }
  await file.close();
  await rename(tmp, path);
  // Make the rename itself durable; some platforms cannot open a directory, which is fine.
  try {
    const d = await open(dir, "r");
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch {
    // best effort
  }
}

/**
 * Serializes writes of one file and coalesces bursts: while a write runs, later values replace
 * each other and only the newest is written next. `flush()` resolves once the newest is on disk.
 */
export class CoalescingWriter {
  private running: Promise<void> | undefined;
  private pending: string | undefined;

  constructor(
    private readonly path: string,
    private readonly onError: (err: Error) => void = () => {},
  ) {}

  write(data: string): void {
    this.pending = data;
    if (!this.running) this.running = this.drain();
  }

  async flush(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    while (this.pending !== undefined) {
      const data = this.pending;
      this.pending = undefined;
      try {
        await writeFileAtomic(this.path, data);
      } catch (err) {
        this.onError(err as Error);
      }
    }
    this.running = undefined;
  }
}
