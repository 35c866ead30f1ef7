// gRPC's wire form of a status (the codes, the percent-encoded grpc-message, a trailers-only answer's header list); pure, it never decides which status a failure gets (errors.ts does).

/** gRPC status codes (grpc/doc/statuscodes.md). */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

export type GrpcStatus = (typeof GrpcCode)[keyof typeof GrpcCode];

/** True for a gRPC call's content type: `application/grpc`, `application/grpc+proto`, ... */
export function isGrpcContentType(value: string | undefined): boolean {
  if (value === undefined || value.length < 16) return false;
  return value.slice(0, 16).toLowerCase() === "application/grpc";
}

/**
 * grpc-message's encoding (PROTOCOL-HTTP2.md): UTF-8, then every byte outside 0x20-0x7E, and
 * `%` itself, as `%XX`.
 */
export function encodeGrpcMessage(message: string): string {
  let out = "";
  for (const byte of Buffer.from(message, "utf8")) {
    if (byte >= 0x20 && byte <= 0x7e && byte !== 0x25) out += String.fromCharCode(byte);
    else out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * A trailers-only answer's header list (sent with HTTP status 200 and END_STREAM): the status,
 * its message and `errorHeader: code` as metadata the client can read.
 */
export function trailersOnly(
  status: GrpcStatus,
  message: string,
  errorHeader: string,
  code: string,
): string[] {
  return [
    "content-type",
    "application/grpc",
    "grpc-status",
    String(status),
    "grpc-message",
    encodeGrpcMessage(message),
    errorHeader,
    code,
  ];
}
