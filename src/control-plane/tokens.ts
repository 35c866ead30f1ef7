// Bootstrap tokens of lanemesh proxies: HS256 JWTs with one fixed header, signed and verified with the control plane's key; pure crypto, it never reads files nor decides what a token may do.
import { createHash, createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** The roles a proxy says hello as. */
export type ProxyRole = "sidecar" | "gateway";

/** What a token says about its bearer (the JWT's claims, minus the standard ones). */
export interface TokenClaims {
  /** Token id (`jti`): names the token in logs, and is the identity its registrations are bound to. */
  id: string;
  role: ProxyRole;
  /** Services (Hello.app) a sidecar token covers; empty for a gateway token. */
  services: string[];
  /** Gateway names (Hello.gateway) a gateway token covers; empty for a sidecar token. */
  gateways: string[];
  /** Seconds since the epoch. */
  issuedAt: number;
  expiresAt: number;
}

export type TokenErrorCode =
  | "LANEMESH_TOKEN_MALFORMED"
  | "LANEMESH_TOKEN_BAD_SIGNATURE"
  | "LANEMESH_TOKEN_EXPIRED";

export class TokenError extends Error {
  constructor(
    readonly code: TokenErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/*
 * Format: `base64url(header).base64url(payload).base64url(HMAC-SHA256(key, header.payload))`,
 * a JWT (RFC 7519) that standard tools can decode. The header is always exactly HEADER below
 * (alg HS256, typ JWT, kid = the key's id): a token with any other header is refused before its
 * signature is looked at, so no `alg: none` or algorithm confusion can apply. Claims: `iss` and
 * `aud` "lanemesh", `jti`, `iat`, `exp`, and `role`, `services`, `gateways`.
 */
const ISSUER = "lanemesh";

/** The id of a signing key, as tokens name it in their header (`kid`). */
export function keyId(key: Buffer): string {
  return createHash("sha256").update(key).digest("hex").slice(0, 12);
}

function header(key: Buffer): string {
  return b64(JSON.stringify({ alg: "HS256", typ: "JWT", kid: keyId(key) }));
}

function b64(s: string | Buffer): string {
  return Buffer.from(s).toString("base64url");
}

function mac(key: Buffer, signed: string): Buffer {
  return createHmac("sha256", key).update(signed).digest();
}

/** A new token for these claims; `nowSeconds` and `ttlSeconds` give iat and exp. */
export function signToken(
  key: Buffer,
  c: { role: ProxyRole; services?: string[]; gateways?: string[]; ttlSeconds: number },
  nowSeconds = Math.floor(Date.now() / 1000),
): { token: string; claims: TokenClaims } {
  const claims: TokenClaims = {
    id: randomBytes(8).toString("hex"),
    role: c.role,
    services: [...(c.services ?? [])],
    gateways: [...(c.gateways ?? [])],
    issuedAt: nowSeconds,
    expiresAt: nowSeconds + Math.max(1, Math.floor(c.ttlSeconds)),
  };
  const payload = b64(
    JSON.stringify({
      iss: ISSUER,
      aud: ISSUER,
      jti: claims.id,
      iat: claims.issuedAt,
      exp: claims.expiresAt,
      role: claims.role,
      services: claims.services,
      gateways: claims.gateways,
    }),
  );
  const signed = `${header(key)}.${payload}`;
  return { token: `${signed}.${mac(key, signed).toString("base64url")}`, claims };
}

const strings = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((x) => typeof x === "string");

/** The claims of a token signed with `key` and not expired at `nowSeconds`; else a TokenError. */
export function verifyToken(
  key: Buffer,
  token: string,
  nowSeconds = Math.floor(Date.now() / 1000),
): TokenClaims {
  const parts = token.trim().split(".");
  if (parts.length !== 3) throw new TokenError("LANEMESH_TOKEN_MALFORMED", "not a lanemesh token");
  const [h, p, sig] = parts as [string, string, string];
  if (h !== header(key))
    throw new TokenError(
      "LANEMESH_TOKEN_BAD_SIGNATURE",
      "the token was not signed by this control plane's key (another key, or another header)",
    );
  const want = mac(key, `${h}.${p}`);
  const got = Buffer.from(sig, "base64url");
  if (got.length !== want.length || !timingSafeEqual(got, want))
    throw new TokenError("LANEMESH_TOKEN_BAD_SIGNATURE", "bad token signature");
  let c: Record<string, unknown>;
  try {
    c = JSON.parse(Buffer.from(p, "base64url").toString("utf8")) as Record<string, unknown>;
  } catch {
    throw new TokenError("LANEMESH_TOKEN_MALFORMED", "token payload is not JSON");
  }
  if (
    c.iss !== ISSUER ||
    c.aud !== ISSUER ||
    typeof c.jti !== "string" ||
    typeof c.iat !== "number" ||
    typeof c.exp !== "number" ||
    (c.role !== "sidecar" && c.role !== "gateway") ||
    !strings(c.services) ||
    !strings(c.gateways)
  )
    throw new TokenError("LANEMESH_TOKEN_MALFORMED", "token claims are not lanemesh's");
  if (c.exp <= nowSeconds)
    throw new TokenError(
      "LANEMESH_TOKEN_EXPIRED",
      `token ${c.jti} expired at ${new Date(c.exp * 1000).toISOString()}`,
    );
  return {
    id: c.jti,
    role: c.role,
    services: c.services,
    gateways: c.gateways,
    issuedAt: c.iat,
    expiresAt: c.exp,
  };
}
