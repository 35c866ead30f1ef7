// The proxy's credential for the control plane: its token file, read again at every (re)connect so the token can rotate, sent as `authorization: Bearer`; it never logs the token.
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";

export type Credential = { ok: true; metadata: grpc.Metadata } | { ok: false; error: string };

/** The stream metadata for `tokenFile` (none given: no credential, for `--proxy-auth none`). */
export function readCredential(tokenFile: string | undefined): Credential {
  const metadata = new grpc.Metadata();
  if (tokenFile === undefined) return { ok: true, metadata };
  let token: string;
  try {
    token = readFileSync(tokenFile, "utf8").trim();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : (err as Error).message;
    return { ok: false, error: `cannot read the token file ${tokenFile}: ${why}` };
  }
  if (token === "" || /\s/.test(token))
    return { ok: false, error: `the token file ${tokenFile} holds no token (one line expected)` };
  metadata.set("authorization", `Bearer ${token}`);
  return { ok: true, metadata };
}
