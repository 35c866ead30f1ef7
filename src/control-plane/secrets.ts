// The control plane's secrets in its data dir (the token signing key, the HTTP API's admin token), created 0600 at first start and read after; it never logs or prints a secret.
import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, stat } from "node:fs/promises";
import { join } from "node:path";

/** In the data dir: 32 random bytes, hex. Deleting it (and restarting) revokes every token. */
export const SIGNING_KEY_FILE = "token-signing.key";
/** In the data dir: the bearer token every change through the HTTP API needs. */
export const ADMIN_TOKEN_FILE = "admin.token";

export class SecretError extends Error {
  readonly code = "LANEMESH_SECRET_UNREADABLE";
}

export interface Secrets {
  signingKey: Buffer;
  adminToken: string;
  /** Where the admin token was read from (the data dir's, or --api-token-file). */
  adminTokenFile: string;
  /** Files created by this call (first start). */
  created: string[];
  /** Secret files that others than their owner may read (group or world bits set). */
  looseModes: string[];
}

/** Create `path` with `content` readable by its owner only, unless it exists; true if created. */
async function createExclusive(path: string, content: string): Promise<boolean> {
  let file: Awaited<ReturnType<typeof open>>;
  try {
    file = await open(path, "wx", 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw new SecretError(`cannot create ${path}: ${(err as Error).message}`);
  }
  try {
    await file.writeFile(`${content}\n`, "utf8");
    await file.sync();
  } finally {
    await file.close();
  }
  return true;
}

async function readSecret(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new SecretError(`cannot read ${path}: ${(err as Error).message}`);
  }
  const v = text.trim();
  if (v === "") throw new SecretError(`${path} is empty`);
  return v;
}

function parseKey(path: string, hex: string): Buffer {
  if (!/^[0-9a-f]{64,}$/i.test(hex))
    throw new SecretError(`${path}: not a signing key (64 or more hex digits)`);
  return Buffer.from(hex, "hex");
}

async function loose(path: string): Promise<boolean> {
  try {
    return ((await stat(path)).mode & 0o077) !== 0;
  } catch {
    return false;
  }
}

/**
 * The data dir's secrets, created on first start (the dir itself 0700 when it is created): the
 * signing key always; the admin token unless `apiTokenFile` names where an operator keeps it.
 */
export async function ensureSecrets(
  dataDir: string,
  opts: { apiTokenFile?: string } = {},
): Promise<Secrets> {
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const created: string[] = [];
  const keyFile = join(dataDir, SIGNING_KEY_FILE);
  if (await createExclusive(keyFile, randomBytes(32).toString("hex"))) created.push(keyFile);
  const adminTokenFile = opts.apiTokenFile ?? join(dataDir, ADMIN_TOKEN_FILE);
  if (opts.apiTokenFile === undefined) {
    if (await createExclusive(adminTokenFile, randomBytes(24).toString("base64url")))
      created.push(adminTokenFile);
  }
  const signingKey = parseKey(keyFile, await readSecret(keyFile));
  const adminToken = await readSecret(adminTokenFile);
  const looseModes: string[] = [];
  for (const f of [keyFile, adminTokenFile]) if (await loose(f)) looseModes.push(f);
  return { signingKey, adminToken, adminTokenFile, created, looseModes };
}

/** The signing key of an existing data dir (`lanemesh token create --data-dir`). */
export async function readSigningKey(dataDir: string): Promise<Buffer> {
  const keyFile = join(dataDir, SIGNING_KEY_FILE);
  return parseKey(keyFile, await readSecret(keyFile));
}
