/**
 * MARC derivative (PROTOCOL.md §6.4): the library's MARC21-slim record from the book's METS file,
 * reduced to the fields grin-transfer writes. Lists stay arrays (GT joins them with ", " for its CSV).
 */
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { MarcRecord } from './types';
import { findFirst, parseXml, XmlError, type XmlElement } from './xml-lite';

export const MARC_NS = 'http://www.loc.gov/MARC21/slim';
/** METS files are small; a larger "XML" is not a METS record and is not read whole into memory. */
const MAX_XML_BYTES = 32 * 1024 * 1024;

interface MarcFields {
  control: Map<string, string>;
  data: { tag: string; subfields: { code: string; value: string }[] }[];
}

function isRecord(e: XmlElement): boolean {
  return e.local === 'record' && e.ns === MARC_NS;
}

/** A `record` without the MARC namespace but with MARC children (some exports drop the namespace). */
function looksLikeRecord(e: XmlElement): boolean {
  return e.local === 'record' && e.children.some((c) => c.local === 'controlfield' || c.local === 'datafield');
}

function readFields(record: XmlElement): MarcFields {
  const fields: MarcFields = { control: new Map(), data: [] };
  for (const child of record.children) {
    const tag = (child.attrs.get('tag') ?? '').trim();
    if (child.local === 'controlfield') {
      if (!fields.control.has(tag)) fields.control.set(tag, child.text);
    } else if (child.local === 'datafield') {
      const subfields = child.children
        .filter((s) => s.local === 'subfield')
        .map((s) => ({ code: s.attrs.get('code') ?? '', value: s.text.trim() }));
      fields.data.push({ tag, subfields });
    }
  }
  return fields;
}

/** Every `$code` value of every field with `tag`, in record order, empty values left out. */
function values(fields: MarcFields, tag: string, code: string): string[] {
  return fields.data
    .filter((f) => f.tag === tag)
    .flatMap((f) => f.subfields.filter((s) => s.code === code && s.value !== '').map((s) => s.value));
}

function first(fields: MarcFields, tag: string, code: string): string | undefined {
  return values(fields, tag, code)[0];
}

/** 008 dates: kept only when all digits and free of the "999" filler (PROTOCOL.md §6.4, GT's rule). */
function usableDate(raw: string): string | undefined {
  return /^\d+$/.test(raw) && !raw.includes('999') ? raw : undefined;
}

function nonBlank(raw: string | undefined): string | undefined {
  const t = raw?.trim();
  return t ? t : undefined;
}

const stripFinalPeriod = (s: string): string => s.replace(/\.$/, '');

/** The §6.4 fields of one MARC record element. */
export function marcRecordFromElement(record: XmlElement): MarcRecord {
  const f = readFields(record);
  const f008 = f.control.get('008') ?? '';
  const out: MarcRecord = {
    controlNumber: nonBlank(f.control.get('001')),
    dateType: nonBlank(f008.slice(6, 7)),
    date1: usableDate(f008.slice(7, 11)),
    date2: usableDate(f008.slice(11, 15)),
    language: nonBlank(f008.slice(35, 38)),
    lccn: first(f, '010', 'a'),
    lcCallNumbers: values(f, '050', 'a'),
    isbns: values(f, '020', 'a'),
    oclcNumbers: values(f, '035', 'a').filter((v) => v.includes('(OCoLC)')),
    title: first(f, '245', 'a'),
    titleRemainder: first(f, '245', 'b'),
    personalAuthor: first(f, '100', 'a'),
    corporateAuthor: first(f, '110', 'a'),
    meetingAuthor: first(f, '111', 'a'),
    subjects: values(f, '650', 'a').map(stripFinalPeriod),
    genres: values(f, '655', 'a').map(stripFinalPeriod),
    notes: values(f, '500', 'a'),
  };
  // Leave absent fields out of the JSON rather than writing `undefined`.
  for (const key of Object.keys(out) as (keyof MarcRecord)[]) if (out[key] === undefined) delete out[key];
  return out;
}

/** The MARC record in an XML document, or null if it has none (or is not well-formed enough to read). */
export function marcFromXml(xml: string): MarcRecord | null {
  let root: XmlElement;
  try {
    root = parseXml(xml);
  } catch (err) {
    if (err instanceof XmlError) return null;
    throw err;
  }
  const record = findFirst(root, isRecord) ?? findFirst(root, looksLikeRecord);
  return record ? marcRecordFromElement(record) : null;
}

/** All `*.xml` files under `dir`, top level first, then by name. */
async function xmlFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.toLowerCase().endsWith('.xml'))
    .map((e) => join(e.parentPath, e.name))
    .sort((a, b) => a.split('/').length - b.split('/').length || (a < b ? -1 : a > b ? 1 : 0));
}

async function readSmallFile(file: string): Promise<string | null> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    if (size > MAX_XML_BYTES) return null;
    return (await handle.readFile()).toString('utf8');
  } finally {
    await handle.close();
  }
}

/**
 * The MARC record of the unpacked book in `dir`: from the first `*.xml` that holds one (GT reads only
 * the first `*.xml`; trying the next ones as well costs nothing and finds the record if, say, a stray
 * XML sorts before the METS file). Null when there is none.
 */
export async function extractMarc(dir: string): Promise<MarcRecord | null> {
  for (const file of await xmlFiles(dir)) {
    const xml = await readSmallFile(file);
    const record = xml === null ? null : marcFromXml(xml);
    if (record) return record;
  }
  return null;
}
