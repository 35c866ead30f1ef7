// What a lane tag may look like and where an instance carries one; pure definitions, it reads no headers.

/**
 * A lane tag token: starts with a letter or digit, then letters, digits, `.`, `_`, `-`; 1 to 63
 * characters. Every character is a valid baggage octet and header value character, so a tag can be
 * written into a header or a baggage member without escaping (no header injection possible).
 */
export const LANE_TAG_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/** True when `value` is a valid lane tag token (see LANE_TAG_PATTERN). */
export function isLaneTag(value: string): boolean {
  return LANE_TAG_PATTERN.test(value);
}

/** Instance metadata keys (Nacos, Instance documents) that may carry the tag, first wins. */
export const TAG_METADATA_KEYS = ["lanemesh.io/tag", "alicloud.service.tag"] as const;
