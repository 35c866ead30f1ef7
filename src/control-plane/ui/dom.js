// The web console's small DOM and number helpers (HTML and SVG elements built without markup strings, rates, percentages, milliseconds); shared by its modules, it fetches nothing.

const SVG = "http://www.w3.org/2000/svg";

export const $ = (id) => document.getElementById(id);

/** An element with attributes (`class`, `data-*`, …) and children (nodes or text). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs))
    if (v !== undefined && v !== null) el.setAttribute(k, v);
  for (const c of children) if (c !== undefined && c !== null) el.append(c);
  return el;
}

/** The same in SVG. */
export function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs))
    if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children) if (c !== undefined && c !== null) el.append(c);
  return el;
}

export const rate = (n) => (n === 0 ? "0" : n < 10 ? n.toFixed(2) : n.toFixed(1));
export const pct = (r) => (r === null || r === undefined ? "–" : `${(r * 100).toFixed(1)} %`);
export const ms = (n) =>
  n === null || n === undefined ? "–" : n < 10 ? n.toFixed(1) : String(Math.round(n));
