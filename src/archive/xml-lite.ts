/**
 * A small, namespace-aware XML reader: enough to find a MARC record inside a METS file without a new
 * dependency. It builds a tree of elements (local name, namespace URI, attributes, direct text),
 * decodes the predefined and numeric entities, keeps CDATA as text, and skips comments, processing
 * instructions and the DOCTYPE. It does not validate; input that cannot be tokenised throws XmlError.
 */
import { PipelineError } from '../common/errors';

export interface XmlElement {
  /** Namespace URI, or null when the element has no namespace. */
  ns: string | null;
  local: string;
  /** Attributes by their name as written (prefix included), values decoded. */
  attrs: Map<string, string>;
  children: XmlElement[];
  /** The element's own text (not its descendants'), decoded. */
  text: string;
}

export class XmlError extends PipelineError {
  constructor(message: string) {
    super(message, { retryable: false });
  }
}

const PREDEFINED: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };

/** Decodes `&lt;`, `&#233;`, `&#xE9;` …; unknown named entities are left as written. */
export function decodeEntities(s: string): string {
  if (!s.includes('&')) return s;
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[A-Za-z][\w.-]*);/g, (whole, ref: string) => {
    if (ref.startsWith('#x') || ref.startsWith('#')) {
      const code = ref.startsWith('#x') ? parseInt(ref.slice(2), 16) : parseInt(ref.slice(1), 10);
      return code > 0 && code <= 0x10ffff ? String.fromCodePoint(code) : whole;
    }
    return PREDEFINED[ref] ?? whole;
  });
}

const NAME = /[A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?/y;
const ATTRIBUTE = /\s+([A-Za-z_][\w.-]*(?::[A-Za-z_][\w.-]*)?)\s*=\s*(?:"([^"]*)"|'([^']*)')/y;
const TAG_END = /\s*(\/?)>/y;

interface Open {
  element: XmlElement;
  qname: string;
  scope: Map<string, string>;
}

function skipPast(xml: string, from: number, marker: string): number {
  const at = xml.indexOf(marker, from);
  if (at < 0) throw new XmlError(`unterminated construct, expected "${marker}"`);
  return at + marker.length;
}

/** Parses `xml` and returns its root element. */
export function parseXml(xml: string): XmlElement {
  const documentNode: XmlElement = { ns: null, local: '#document', attrs: new Map(), children: [], text: '' };
  const stack: Open[] = [{ element: documentNode, qname: '#document', scope: new Map([['xml', 'http://www.w3.org/XML/1998/namespace']]) }];
  let pos = 0;
  while (pos < xml.length) {
    const lt = xml.indexOf('<', pos);
    const top = stack[stack.length - 1];
    if (lt < 0) {
      top.element.text += decodeEntities(xml.slice(pos));
      break;
    }
    if (lt > pos) top.element.text += decodeEntities(xml.slice(pos, lt));
    if (xml.startsWith('<!--', lt)) pos = skipPast(xml, lt + 4, '-->');
    else if (xml.startsWith('<![CDATA[', lt)) {
      const end = xml.indexOf(']]>', lt + 9);
      if (end < 0) throw new XmlError('unterminated CDATA section');
      top.element.text += xml.slice(lt + 9, end);
      pos = end + 3;
    } else if (xml.startsWith('<?', lt)) pos = skipPast(xml, lt + 2, '?>');
    else if (xml.startsWith('<!', lt)) pos = skipDeclaration(xml, lt);
    else if (xml.startsWith('</', lt)) pos = closeElement(xml, lt, stack);
    else pos = openElement(xml, lt, stack);
  }
  const root = documentNode.children[0];
  if (!root) throw new XmlError('no root element');
  return root;
}

/** Skips `<!DOCTYPE …>` including an internal subset in brackets. */
function skipDeclaration(xml: string, lt: number): number {
  let depth = 0;
  for (let i = lt + 2; i < xml.length; i++) {
    const c = xml[i];
    if (c === '[') depth++;
    else if (c === ']') depth--;
    else if (c === '>' && depth <= 0) return i + 1;
  }
  throw new XmlError('unterminated declaration');
}

function closeElement(xml: string, lt: number, stack: Open[]): number {
  const end = xml.indexOf('>', lt);
  if (end < 0) throw new XmlError('unterminated end tag');
  const qname = xml.slice(lt + 2, end).trim();
  // Tolerate mismatches by closing up to the matching element, if it is open at all.
  for (let i = stack.length - 1; i > 0; i--) {
    if (stack[i].qname === qname) {
      stack.length = i;
      break;
    }
  }
  return end + 1;
}

function openElement(xml: string, lt: number, stack: Open[]): number {
  NAME.lastIndex = lt + 1;
  const nameMatch = NAME.exec(xml);
  if (!nameMatch) throw new XmlError(`bad start tag at offset ${lt}`);
  const qname = nameMatch[0];
  let pos = NAME.lastIndex;
  const rawAttrs = new Map<string, string>();
  for (;;) {
    ATTRIBUTE.lastIndex = pos;
    const a = ATTRIBUTE.exec(xml);
    if (!a) break;
    rawAttrs.set(a[1], decodeEntities(a[2] ?? a[3] ?? ''));
    pos = ATTRIBUTE.lastIndex;
  }
  TAG_END.lastIndex = pos;
  const close = TAG_END.exec(xml);
  if (!close) throw new XmlError(`bad start tag <${qname}> at offset ${lt}`);

  const parent = stack[stack.length - 1];
  let scope = parent.scope;
  for (const [name, value] of rawAttrs) {
    if (name === 'xmlns' || name.startsWith('xmlns:')) {
      if (scope === parent.scope) scope = new Map(parent.scope);
      scope.set(name === 'xmlns' ? '' : name.slice(6), value);
    }
  }
  const colon = qname.indexOf(':');
  const prefix = colon < 0 ? '' : qname.slice(0, colon);
  const element: XmlElement = {
    ns: scope.get(prefix) || null,
    local: colon < 0 ? qname : qname.slice(colon + 1),
    attrs: rawAttrs,
    children: [],
    text: '',
  };
  parent.element.children.push(element);
  if (close[1] !== '/') stack.push({ element, qname, scope });
  return TAG_END.lastIndex;
}

/** Depth-first, document order: the first element for which `match` is true. */
export function findFirst(root: XmlElement, match: (e: XmlElement) => boolean): XmlElement | null {
  const pending = [root];
  while (pending.length > 0) {
    const e = pending.pop()!;
    if (match(e)) return e;
    for (let i = e.children.length - 1; i >= 0; i--) pending.push(e.children[i]);
  }
  return null;
}
