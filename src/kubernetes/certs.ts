// X.509 certificates for the injection webhook made with node:crypto alone (ECDSA P-256, DER written by hand): a CA, a serving certificate it signs, and the rotation decision over the Secret that holds them; pure computation, it must never talk to a cluster or write files.
import {
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
  sign,
  X509Certificate,
} from "node:crypto";
import { CONTROL_PLANE } from "./names.js";

export interface CertAndKey {
  /** PEM certificate. */
  cert: string;
  /** PEM PKCS#8 private key. */
  key: string;
}

// --- DER, just what a certificate needs -----------------------------------------------------

function tlv(tag: number, content: Buffer): Buffer {
  const n = content.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v >>= 8) bytes.unshift(v & 0xff);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, content]);
}

const seq = (...items: Buffer[]) => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]) => tlv(0x31, Buffer.concat(items));
const octets = (b: Buffer) => tlv(0x04, b);
const bits = (b: Buffer, unused = 0) => tlv(0x03, Buffer.concat([Buffer.from([unused]), b]));
const utf8 = (s: string) => tlv(0x0c, Buffer.from(s, "utf8"));
const bool = (v: boolean) => tlv(0x01, Buffer.from([v ? 0xff : 0]));
const explicit = (n: number, inner: Buffer) => tlv(0xa0 + n, inner);

function int(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0 && ((b[i + 1] as number) & 0x80) === 0) i++;
  const body = b.subarray(i);
  return tlv(0x02, (body[0] as number) & 0x80 ? Buffer.concat([Buffer.from([0]), body]) : body);
}

function oid(dotted: string): Buffer {
  const parts = dotted.split(".").map(Number);
  const out: number[] = [40 * (parts[0] as number) + (parts[1] as number)];
  for (const p of parts.slice(2)) {
    const chunk: number[] = [p & 0x7f];
    for (let v = p >>> 7; v > 0; v >>>= 7) chunk.unshift((v & 0x7f) | 0x80);
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

function time(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, "").slice(0, 14); // YYYYMMDDHHMMSS
  return d.getUTCFullYear() < 2050
    ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`))
    : tlv(0x18, Buffer.from(`${iso}Z`));
}

const ECDSA_SHA256 = seq(oid("1.2.840.10045.4.3.2"));
const name = (cn: string) => seq(set(seq(oid("2.5.4.3"), utf8(cn))));
const ext = (id: string, critical: boolean, value: Buffer) =>
  seq(oid(id), ...(critical ? [bool(true)] : []), octets(value));

function pem(label: string, der: Buffer): string {
  const b64 = der.toString("base64").replace(/(.{64})/g, "$1\n");
  return `-----BEGIN ${label}-----\n${b64.endsWith("\n") ? b64 : `${b64}\n`}-----END ${label}-----\n`;
}

interface CertSpec {
  subject: string;
  issuer: string;
  publicKey: KeyObject;
  signer: KeyObject;
  /** The signer's key id (its subjectKeyIdentifier); a self-signed cert uses its own. */
  issuerKeyId: Buffer;
  notBefore: Date;
  notAfter: Date;
  ca: boolean;
  dnsNames: string[];
}

function keyId(publicKey: KeyObject): Buffer {
  return createHash("sha1")
    .update(publicKey.export({ type: "spki", format: "der" }))
    .digest();
}

function build(s: CertSpec): string {
  const extensions: Buffer[] = [
    ext("2.5.29.19", true, s.ca ? seq(bool(true), tlv(0x02, Buffer.from([0]))) : seq()),
    // keyCertSign + cRLSign for the CA; digitalSignature for the server.
    ext("2.5.29.15", true, s.ca ? bits(Buffer.from([0x06]), 1) : bits(Buffer.from([0x80]), 7)),
    ext("2.5.29.14", false, octets(keyId(s.publicKey))),
    ext("2.5.29.35", false, seq(tlv(0x80, s.issuerKeyId))),
  ];
  if (!s.ca) {
    extensions.push(ext("2.5.29.37", false, seq(oid("1.3.6.1.5.5.7.3.1"))));
    extensions.push(
      ext("2.5.29.17", false, seq(...s.dnsNames.map((d) => tlv(0x82, Buffer.from(d, "ascii"))))),
    );
  }
  const serial = randomBytes(16);
  serial[0] = (serial[0] as number) & 0x7f;
  const tbs = seq(
    explicit(0, int(Buffer.from([2]))),
    int(serial),
    ECDSA_SHA256,
    name(s.issuer),
    seq(time(s.notBefore), time(s.notAfter)),
    name(s.subject),
    s.publicKey.export({ type: "spki", format: "der" }),
    explicit(3, seq(...extensions)),
  );
  const signature = sign("sha256", tbs, s.signer);
  return pem("CERTIFICATE", seq(tbs, ECDSA_SHA256, bits(signature)));
}

const DAY = 86_400_000;

function newKey(): { privateKey: KeyObject; publicKey: KeyObject } {
  return generateKeyPairSync("ec", { namedCurve: "prime256v1" });
}

/** A self-signed CA (ECDSA P-256); valid from a minute before `now` (clock skew) for `days`. */
export function createCertificateAuthority(
  opts: { commonName?: string; now?: Date; days?: number } = {},
): CertAndKey {
  const now = opts.now ?? new Date();
  const { privateKey, publicKey } = newKey();
  const cn = opts.commonName ?? "lanemesh webhook CA";
  const cert = build({
    subject: cn,
    issuer: cn,
    publicKey,
    signer: privateKey,
    issuerKeyId: keyId(publicKey),
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + (opts.days ?? 365) * DAY),
    ca: true,
    dnsNames: [],
  });
  return { cert, key: privateKey.export({ type: "pkcs8", format: "pem" }) as string };
}

/** A serving certificate for `dnsNames`, signed by `ca`. */
export function issueServingCertificate(
  ca: CertAndKey,
  opts: { dnsNames: string[]; now?: Date; days?: number },
): CertAndKey {
  const now = opts.now ?? new Date();
  const caCert = new X509Certificate(ca.cert);
  const caKey = createPrivateKey(ca.key);
  const { privateKey, publicKey } = newKey();
  const cert = build({
    subject: opts.dnsNames[0] ?? "lanemesh",
    issuer: caCert.subject.replace(/^CN=/, ""),
    publicKey,
    signer: caKey,
    issuerKeyId: keyId(caCert.publicKey),
    notBefore: new Date(now.getTime() - 60_000),
    notAfter: new Date(now.getTime() + (opts.days ?? 90) * DAY),
    ca: false,
    dnsNames: opts.dnsNames,
  });
  return { cert, key: privateKey.export({ type: "pkcs8", format: "pem" }) as string };
}

/** The names the API server may dial the webhook Service by. */
export function webhookDnsNames(namespace: string, service = CONTROL_PLANE): string[] {
  return [
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.cluster.local`,
    `${service}.${namespace}`,
    service,
  ];
}

/** The Secret's data (PEM strings): the CA, the serving pair, and the bundle the webhook trusts. */
export interface WebhookTls {
  "ca.crt": string;
  "ca.key": string;
  "tls.crt": string;
  "tls.key": string;
  /** The caBundle written into the MutatingWebhookConfiguration: the CA, and the previous CA while it still signs a live cert. */
  "bundle.crt": string;
}

/** Renew when less than a third of the certificate's life is left. */
function due(certPem: string | undefined, now: Date): boolean {
  if (certPem === undefined) return true;
  try {
    const c = new X509Certificate(certPem);
    const from = Date.parse(c.validFrom);
    const to = Date.parse(c.validTo);
    return now.getTime() > to - (to - from) / 3;
  } catch {
    return true;
  }
}

/**
 * The rotation decision: given the Secret's current data (or none), what it should hold now.
 * The CA lives a year and the serving cert 90 days, each renewed with a third of its life left;
 * a new CA is trusted beside the old one until the old one expires, so a replica still serving
 * a cert from the old CA keeps working while the others pick up the new Secret.
 */
export function planWebhookTls(
  current: Partial<WebhookTls> | undefined,
  opts: { namespace: string; now?: Date },
): { data: WebhookTls; changed: boolean } {
  const now = opts.now ?? new Date();
  const dnsNames = webhookDnsNames(opts.namespace);
  let ca: CertAndKey | undefined =
    current?.["ca.crt"] && current["ca.key"]
      ? { cert: current["ca.crt"], key: current["ca.key"] }
      : undefined;
  let previousCa: string | undefined;
  let changed = false;
  if (ca === undefined || due(ca.cert, now)) {
    previousCa = ca?.cert;
    ca = createCertificateAuthority({ now });
    changed = true;
  }
  let serving: CertAndKey | undefined =
    !changed && current?.["tls.crt"] && current["tls.key"]
      ? { cert: current["tls.crt"], key: current["tls.key"] }
      : undefined;
  if (serving !== undefined) {
    const c = new X509Certificate(serving.cert);
    const names = c.subjectAltName ?? "";
    if (
      !dnsNames.every((d) => names.includes(`DNS:${d}`)) ||
      !c.checkIssued(new X509Certificate(ca.cert))
    )
      serving = undefined;
  }
  if (serving === undefined || due(serving.cert, now)) {
    serving = issueServingCertificate(ca, { dnsNames, now });
    changed = true;
  }
  const stillValid = (p: string | undefined) =>
    p !== undefined && Date.parse(new X509Certificate(p).validTo) > now.getTime();
  const keep = [ca.cert];
  const older = previousCa ?? current?.["bundle.crt"]?.split(/(?<=-----END CERTIFICATE-----\n)/)[1];
  if (older !== undefined && older !== ca.cert && stillValid(older)) keep.push(older);
  const bundle = keep.join("");
  if (bundle !== current?.["bundle.crt"]) changed = true;
  return {
    data: {
      "ca.crt": ca.cert,
      "ca.key": ca.key,
      "tls.crt": serving.cert,
      "tls.key": serving.key,
      "bundle.crt": bundle,
    },
    changed,
  };
}
