/**
 * HTML listing pages (PROTOCOL.md §2.12): a small, tolerant HTML reader for GRIN's table, written
 * for this one well-defined structure (tables, rows, cells, `span.hd3` headings, links, checkboxes)
 * rather than pulling in a browser-grade parser. Nothing here recurses: the tree is built and walked
 * with explicit stacks, and a page nesting deeper than any listing does is refused (HtmlTooDeepError),
 * so a hostile or broken page is an error of its listing, never a stack overflow of the worker.
 */
import { PipelineError } from '../common/errors';

// ---------------------------------------------------------------------------------------------
// A minimal DOM: elements with attributes and children, built from a forgiving tokenizer.

export interface HtmlElement {
  tag: string;
  attrs: Record<string, string>;
  children: HtmlNode[];
  parent?: HtmlElement;
}
export type HtmlNode = HtmlElement | string;

const VOID_TAGS = new Set(['area', 'base', 'br', 'col', 'embed', 'hr', 'img', 'input', 'link', 'meta', 'source', 'track', 'wbr']);
const RAW_TEXT_TAGS = new Set(['script', 'style', 'textarea', 'title']);
/** Opening one of these closes an open element of the listed kinds (within the same table). */
const IMPLIED_CLOSE: Record<string, string[]> = {
  td: ['td', 'th'],
  th: ['td', 'th'],
  tr: ['tr', 'td', 'th'],
  tbody: ['tbody', 'thead', 'tfoot', 'tr', 'td', 'th'],
  thead: ['tbody', 'thead', 'tfoot', 'tr', 'td', 'th'],
  tfoot: ['tbody', 'thead', 'tfoot', 'tr', 'td', 'th'],
  p: ['p'],
  li: ['li'],
  option: ['option'],
};
const TABLE_TAGS = new Set(['table', 'thead', 'tbody', 'tfoot', 'tr', 'td', 'th']);
const SCOPE_BOUNDARY = new Set(['table', 'html', 'body']);

/** GRIN's listing pages nest a dozen elements deep; a page nesting this deep is not a listing. */
export const MAX_HTML_DEPTH = 1_000;

/**
 * The page nests elements deeper than MAX_HTML_DEPTH (unclosed tags by the thousand). Transient:
 * GRIN may send a sound page next time; the caller names the listing (GrinFormatError).
 */
export class HtmlTooDeepError extends PipelineError {
  constructor(readonly depth: number) {
    super(
      `the page nests elements more than ${depth} levels deep (GRIN's listing pages nest about a dozen); ` +
        'it is not a listing this client can read, so it is refused instead of parsed',
      { retryable: true },
    );
  }
}

const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ', '#39': "'" };

export function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#[0-9]+|[a-z]+);?/gi, (whole, name: string) => {
    if (name[0] === '#') {
      const code = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
      return Number.isFinite(code) && code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    const v = NAMED_ENTITIES[name.toLowerCase()];
    return v ?? whole;
  });
}

const ATTR_RE = /([^\s"'<>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;

function parseAttrs(src: string): Record<string, string> {
  const attrs: Record<string, string> = {};
  for (const m of src.matchAll(ATTR_RE)) {
    const name = m[1]!.toLowerCase();
    if (!(name in attrs)) attrs[name] = decodeEntities(m[2] ?? m[3] ?? m[4] ?? '');
  }
  return attrs;
}

/**
 * Parses an HTML document into a root element. Broken markup gives a best-effort tree; only a page
 * nesting deeper than `maxDepth` throws (HtmlTooDeepError).
 */
export function parseHtml(html: string, maxDepth = MAX_HTML_DEPTH): HtmlElement {
  const root: HtmlElement = { tag: '#root', attrs: {}, children: [] };
  let current = root;
  /** Open elements above `current`'s children (root = 0); kept in step with every move of `current`. */
  let depth = 0;
  const depthOf = (el: HtmlElement): number => {
    let d = 0;
    for (let e = el; e !== root && e.parent; e = e.parent) d++;
    return d;
  };
  let i = 0;
  const n = html.length;

  const appendText = (text: string) => {
    if (text !== '') current.children.push(text);
  };
  const closeTo = (tag: string): boolean => {
    // Close the nearest open `tag`, but not across a table boundary unless it is that table.
    for (let el: HtmlElement | undefined = current; el && el !== root; el = el.parent) {
      if (el.tag === tag) {
        current = el.parent ?? root;
        depth = depthOf(current);
        return true;
      }
      if (SCOPE_BOUNDARY.has(el.tag)) return false;
    }
    return false;
  };

  // Opening e.g. a <td> ends the open <td> of the same row, even through unclosed inline elements.
  const implicitClose = (tag: string) => {
    const closes = IMPLIED_CLOSE[tag];
    if (!closes) return;
    if (!TABLE_TAGS.has(tag)) {
      while (closes.includes(current.tag)) current = current.parent ?? root;
      depth = depthOf(current);
      return;
    }
    for (;;) {
      let el = current;
      while (el !== root && !TABLE_TAGS.has(el.tag)) el = el.parent ?? root;
      if (el === root || !closes.includes(el.tag)) return;
      current = el.parent ?? root;
      depth = depthOf(current);
    }
  };

  while (i < n) {
    const lt = html.indexOf('<', i);
    if (lt < 0) {
      appendText(html.slice(i));
      break;
    }
    appendText(html.slice(i, lt));
    if (html.startsWith('<!--', lt)) {
      const end = html.indexOf('-->', lt + 4);
      i = end < 0 ? n : end + 3;
      continue;
    }
    if (html[lt + 1] === '!' || html[lt + 1] === '?') {
      const end = html.indexOf('>', lt);
      i = end < 0 ? n : end + 1;
      continue;
    }
    const m = /^<(\/?)([a-zA-Z][a-zA-Z0-9:-]*)((?:[^>"']|"[^"]*"|'[^']*')*)>/.exec(html.slice(lt, lt + 4096));
    if (!m) {
      appendText('<');
      i = lt + 1;
      continue;
    }
    i = lt + m[0].length;
    const closing = m[1] === '/';
    const tag = m[2]!.toLowerCase();
    if (closing) {
      closeTo(tag);
      continue;
    }
    implicitClose(tag);
    const el: HtmlElement = { tag, attrs: parseAttrs(m[3] ?? ''), children: [], parent: current };
    current.children.push(el);
    const selfClosing = /\/\s*$/.test(m[3] ?? '');
    if (VOID_TAGS.has(tag) || selfClosing) continue;
    if (RAW_TEXT_TAGS.has(tag)) {
      const endRe = new RegExp(`</${tag}\\s*>`, 'i');
      const rest = html.slice(i);
      const em = endRe.exec(rest);
      el.children.push(em ? rest.slice(0, em.index) : rest);
      i = em ? i + em.index + em[0].length : n;
      continue;
    }
    if (++depth > maxDepth) throw new HtmlTooDeepError(maxDepth);
    current = el;
  }
  return root;
}

/** Descendants in document order (of `tag`, if given), walked with a stack rather than recursion. */
export function* descendants(el: HtmlElement, tag?: string): Generator<HtmlElement> {
  yield* walk(
    el,
    (child) => !tag || child.tag === tag,
    () => true,
  );
}

/** Descendants of `tag`, not looking inside nested tables (a row of this table, not of a table in a cell). */
function ownDescendants(el: HtmlElement, tag: string): Generator<HtmlElement> {
  return walk(
    el,
    (child) => child.tag === tag,
    (child) => child.tag !== 'table',
  );
}

/** Pre-order walk below `el`: yields elements `pick` accepts, descends into those `enter` accepts. */
function* walk(el: HtmlElement, pick: (e: HtmlElement) => boolean, enter: (e: HtmlElement) => boolean): Generator<HtmlElement> {
  const pending: HtmlElement[] = [];
  const pushChildren = (parent: HtmlElement) => {
    for (let i = parent.children.length - 1; i >= 0; i--) {
      const child = parent.children[i]!;
      if (typeof child !== 'string') pending.push(child);
    }
  };
  pushChildren(el);
  while (pending.length > 0) {
    const child = pending.pop()!;
    if (pick(child)) yield child;
    if (enter(child)) pushChildren(child);
  }
}

/** The text of a node and everything below it, in document order (no recursion). */
export function textContent(el: HtmlNode): string {
  if (typeof el === 'string') return el;
  const parts: string[] = [];
  const pending: HtmlNode[] = [el];
  while (pending.length > 0) {
    const node = pending.pop()!;
    if (typeof node === 'string') parts.push(node);
    else for (let i = node.children.length - 1; i >= 0; i--) pending.push(node.children[i]!);
  }
  return parts.join('');
}

function cleanText(raw: string): string {
  return decodeEntities(raw).replace(/\s+/g, ' ').trim();
}

function hasClass(el: HtmlElement, cls: string): boolean {
  return (el.attrs.class ?? '').split(/\s+/).includes(cls);
}

function cellsOf(row: HtmlElement): HtmlElement[] {
  return row.children.filter((c): c is HtmlElement => typeof c !== 'string' && (c.tag === 'td' || c.tag === 'th'));
}

// ---------------------------------------------------------------------------------------------
// GRIN listing pages.

/** Header text → key: lower-case, space and `-` → `_`, apostrophes dropped (`OCR'd Date` → `ocrd_date`). */
export function normaliseHeader(label: string): string {
  return label
    .trim()
    .toLowerCase()
    .replace(/['\u2019]/g, '')
    .replace(/[\s-]+/g, '_');
}

export interface HtmlListingRow {
  /** Barcode from the `barcode` column's text, a `filename` column, or the row's checkbox value. */
  barcode: string;
  /** Values by normalised header key: a cell's first link href if it has one, else its text. */
  values: Record<string, string>;
  /** Cell texts by normalised header key (the text even where `values` holds a link). */
  texts: Record<string, string>;
}

export interface HtmlListingPage {
  /** False when the page has no table with a `tr.heading` row. */
  hasTable: boolean;
  /** Normalised header keys in column order ('' for a column without a name, e.g. the checkbox). */
  columns: string[];
  rows: HtmlListingRow[];
  /** The "Next" link's href as written in the page (not yet resolved), if any. */
  nextHref?: string;
  /** The page is GRIN's refusal page ("Your request is unavailable"). */
  unavailable: boolean;
}

export const REQUEST_UNAVAILABLE_TEXT = 'Your request is unavailable';

/** Parses one HTML listing page by header name (rules of PROTOCOL.md §2.12). Throws HtmlTooDeepError. */
export function parseListingPage(html: string, directory = ''): HtmlListingPage {
  const unavailable = html.toLowerCase().includes(REQUEST_UNAVAILABLE_TEXT.toLowerCase());
  const root = parseHtml(html);
  const nextHref = findNextHref(root);
  const page: HtmlListingPage = { hasTable: false, columns: [], rows: [], nextHref, unavailable };

  for (const table of descendants(root, 'table')) {
    const allRows = [...ownDescendants(table, 'tr')];
    const heading = allRows.find((r) => hasClass(r, 'heading'));
    if (!heading) continue;
    page.hasTable = true;
    page.columns = cellsOf(heading).map((cell) => {
      const span = [...descendants(cell, 'span')].find((s) => hasClass(s, 'hd3'));
      return normaliseHeader(cleanText(textContent(span ?? cell)));
    });
    const headerTexts = cellsOf(heading).map((c) => cleanText(textContent(c)));
    for (const tr of allRows) {
      if (tr === heading || hasClass(tr, 'heading')) continue;
      const cells = cellsOf(tr);
      if (cells.length < 2) continue;
      const texts = cells.map((c) => cleanText(textContent(c)));
      // A repeated heading row without the class (e.g. in a tbody) is not a book.
      if (texts.every((t, i) => t === (headerTexts[i] ?? ''))) continue;
      const row = rowFromCells(page.columns, cells, texts, directory);
      if (row) page.rows.push(row);
    }
    break; // The first table with a heading row is the data table.
  }
  return page;
}

function rowFromCells(columns: string[], cells: HtmlElement[], texts: string[], directory: string): HtmlListingRow | null {
  const values: Record<string, string> = {};
  const cellTexts: Record<string, string> = {};
  let barcode = '';
  let checkboxValue = '';
  cells.forEach((cell, i) => {
    const checkbox = [...descendants(cell, 'input')].find((inp) => (inp.attrs.name ?? '') === 'barcodes');
    if (checkbox && checkbox.attrs.value) checkboxValue = checkbox.attrs.value.trim();
    const key = columns[i] ?? '';
    if (key === '') return;
    const text = texts[i] ?? '';
    const link = [...descendants(cell, 'a')].find((a) => a.attrs.href !== undefined);
    cellTexts[key] = text;
    values[key] = link ? link.attrs.href! : text;
    if (key === 'barcode') {
      values[key] = text;
      barcode = text;
    } else if (key === 'filename' && text.endsWith('.tar.gz.gpg') && !barcode) {
      values[key] = text;
      let stem = text.slice(0, -'.tar.gz.gpg'.length);
      if (directory && stem.startsWith(`${directory}_`)) stem = stem.slice(directory.length + 1);
      barcode = stem;
    }
  });
  if (!barcode) barcode = checkboxValue;
  if (!barcode || /^barcode$/i.test(barcode)) return null;
  return { barcode, values, texts: cellTexts };
}

function findNextHref(root: HtmlElement): string | undefined {
  for (const a of descendants(root, 'a')) {
    const href = a.attrs.href;
    if (!href || !/[?&](first|ctoken)=/.test(href)) continue;
    const text = cleanText(textContent(a));
    if (/next/i.test(text) || text.includes('>')) return href;
  }
  return undefined;
}

/**
 * Resolves a Next href against the page it came from. Absolute-path links (`/libraries/...`) go to
 * the base URL's origin (grin-transfer hard-codes Google's host, PROTOCOL.md §11.4). An absolute
 * link to another origin is re-rooted onto the base origin when its path lies under the base path,
 * so the bearer token is never sent elsewhere; otherwise null (not followed).
 */
export function resolveNextUrl(href: string, pageUrl: string, baseUrl: string): string | null {
  const base = new URL(baseUrl);
  const resolved = new URL(href, pageUrl);
  if (resolved.origin === base.origin) return resolved.toString();
  const basePath = base.pathname.replace(/\/+$/, '') + '/';
  if (resolved.pathname.startsWith(basePath)) {
    return new URL(resolved.pathname + resolved.search, base.origin).toString();
  }
  return null;
}
