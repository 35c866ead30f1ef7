// Kubernetes objects as YAML that every reader takes the same way (no line folding, no anchors, strings YAML 1.1 would read as booleans or numbers quoted); formatting only, it must never change a value.
import { Document, isScalar, type Node, visit } from "yaml";

/** What YAML 1.1 parsers (kubectl's) would not read as a string when written plain. */
const AMBIGUOUS =
  /^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|~|null|Null|NULL|[-+.]?[0-9][0-9_.:eE+-]*|\.inf|\.nan)$/;

/** Force quotes on every string scalar under `node` that a YAML 1.1 reader could take for another type. */
export function quoteAmbiguous(node: Node | Document): void {
  visit(node, {
    Scalar(_key, s) {
      if (isScalar(s) && typeof s.value === "string" && AMBIGUOUS.test(s.value))
        s.type = "QUOTE_DOUBLE";
    },
  });
}

export const STRINGIFY = { lineWidth: 0, indentSeq: true, flowCollectionPadding: false } as const;

/** `---`-separated documents, each ending in a newline, after an optional `#` comment header. */
export function toYamlStream(objects: readonly unknown[], header: readonly string[] = []): string {
  const head = header.map((l) => (l === "" ? "#\n" : `# ${l}\n`)).join("");
  const docs = objects.map((o) => {
    const doc = new Document(o, { aliasDuplicateObjects: false });
    quoteAmbiguous(doc);
    return `---\n${doc.toString(STRINGIFY)}`;
  });
  return head + docs.join("");
}
