// Remembers where parsed YAML documents came from so validation errors can name a line; never parses or validates.
import { type Document, isMap, isSeq, type LineCounter, type Node } from "yaml";

interface Source {
  doc: Document;
  lines: LineCounter;
}

/** Keyed by the RawDocument (or any object) that parseDocuments produced. */
const sources = new WeakMap<object, Source>();

export function rememberSource(key: object, doc: Document, lines: LineCounter): void {
  sources.set(key, { doc, lines });
}

/**
 * The 1-based line of the deepest node along `path` (field names and list indexes) in the
 * document `key` came from; undefined when the document was not parsed from text here.
 */
export function lineOf(key: object, path: readonly (string | number)[]): number | undefined {
  const src = sources.get(key);
  if (src === undefined) return undefined;
  let node: unknown = src.doc.contents;
  let offset = (node as Node | null)?.range?.[0];
  for (const seg of path) {
    let next: unknown;
    if (isMap(node)) next = node.get(seg, true) ?? node.get(String(seg), true);
    else if (isSeq(node) && typeof seg === "number") next = node.get(seg, true);
    if (next === undefined || next === null) break;
    node = next;
    const start = (node as Node).range?.[0];
    if (start !== undefined) offset = start;
  }
  if (offset === undefined) return undefined;
  const pos = src.lines.linePos(offset);
  return pos.line === 0 ? 1 : pos.line;
}
