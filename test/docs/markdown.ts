// Test helper: reads the repository's Markdown (sections, tables, code blocks, links, heading anchors) for the docs tests; it parses text, it asserts nothing.
import { readFileSync } from "node:fs";

export interface Section {
  /** The heading's text, `#`s removed; "" for the text before the first heading. */
  heading: string;
  level: number;
  /** The section's lines, code blocks included. */
  lines: string[];
}

/** A fenced code block: its info string (`sh`, `yaml`, "") and its lines. */
export interface CodeBlock {
  info: string;
  lines: string[];
}

/** Lines outside fenced code blocks, and the blocks themselves. */
export function splitCode(text: string): { prose: string[]; blocks: CodeBlock[] } {
  const prose: string[] = [];
  const blocks: CodeBlock[] = [];
  let open: CodeBlock | null = null;
  for (const line of text.split("\n")) {
    const fence = /^\s*```(.*)$/.exec(line);
    if (fence) {
      if (open === null) open = { info: (fence[1] ?? "").trim(), lines: [] };
      else {
        blocks.push(open);
        open = null;
      }
      continue;
    }
    if (open !== null) open.lines.push(line);
    else prose.push(line);
  }
  return { prose, blocks };
}

/** The sections of a Markdown text (headings inside code blocks do not count). */
export function sections(text: string): Section[] {
  const out: Section[] = [{ heading: "", level: 0, lines: [] }];
  let inCode = false;
  for (const line of text.split("\n")) {
    if (/^\s*```/.test(line)) inCode = !inCode;
    const h = inCode ? null : /^(#{1,6})\s+(.*)$/.exec(line);
    if (h) out.push({ heading: (h[2] ?? "").trim(), level: (h[1] ?? "").length, lines: [] });
    else (out.at(-1) as Section).lines.push(line);
  }
  return out;
}

/** The cells of every body row of the tables in `lines` (header and separator rows skipped). */
export function tableRows(lines: readonly string[]): string[][] {
  const rows: string[][] = [];
  let inCode = false;
  const isRow = (l: string | undefined): boolean => l?.trim().startsWith("|") ?? false;
  const isSeparator = (l: string | undefined): boolean =>
    isRow(l) && splitRow((l as string).trim()).every((c) => /^:?-+:?$/.test(c));
  lines.forEach((line, i) => {
    if (/^\s*```/.test(line)) inCode = !inCode;
    if (inCode || !isRow(line) || isSeparator(line) || isSeparator(lines[i + 1])) return;
    rows.push(splitRow(line.trim()));
  });
  return rows;
}

function splitRow(line: string): string[] {
  // `|` inside backticks (`a | b`) is text, not a cell border.
  const cells: string[] = [];
  let cell = "";
  let tick = false;
  for (const ch of line.slice(1, line.endsWith("|") ? -1 : undefined)) {
    if (ch === "`") tick = !tick;
    if (ch === "|" && !tick) {
      cells.push(cell.trim());
      cell = "";
    } else cell += ch;
  }
  cells.push(cell.trim());
  return cells;
}

/** The backticked pieces of a cell: "`a`, `b`" → ["a", "b"]. */
export function ticks(cell: string): string[] {
  return [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string);
}

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as dashes. */
export function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, "")
    .replace(/ /g, "-");
}

/** Relative links of a Markdown text outside code blocks: `[x](target)`. */
export function links(text: string): string[] {
  const prose = splitCode(text)
    .prose.join("\n")
    .replace(/`[^`\n]*`/g, "");
  return [...prose.matchAll(/\]\(([^)\s]+)\)/g)]
    .map((m) => m[1] as string)
    .filter((t) => !/^[a-z]+:/.test(t));
}

export function read(path: string): string {
  return readFileSync(path, "utf8");
}
