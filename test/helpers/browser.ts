// Test helper: Debian's Chromium (/usr/bin/chromium) driven by playwright-core, headless, in a fresh profile that is removed on close; it never downloads a browser, and a missing Chromium is an error that says how to install it.
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";

/** Where Debian's `chromium` package puts the browser (`.ci/run` installs it when missing). */
export const CHROMIUM = "/usr/bin/chromium";

/** Quiet, offline, no sandbox (tests run as root in a container), no GPU. */
const ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Throws, naming the fix, when Debian's Chromium is not installed: a browser test never skips. */
export function requireChromium(): void {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `Chromium is not installed (${CHROMIUM} missing): this browser test needs Debian's chromium ` +
        "package. Install it with `apt-get install -y chromium` (.ci/run does it when missing); " +
        "never `npx playwright install`.",
    );
}

/** A headless Chromium with a fresh --user-data-dir and one viewport. */
export async function launchChromium(viewport = { width: 1200, height: 800 }): Promise<Browser> {
  requireChromium();
  const profile = mkdtempSync(join(tmpdir(), "lanemesh-chromium-"));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ARGS,
      viewport,
      timeout: 60_000,
    });
  } catch (err) {
    rmSync(profile, { recursive: true, force: true });
    throw err;
  }
  return {
    context,
    close: async () => {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
