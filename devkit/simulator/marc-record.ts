/**
 * Invented but plausible catalogue records for generated books: the MARC21 values, their MARCXML
 * (MARC21-slim) form for the METS file, and the values an extractor following PROTOCOL.md §6.4
 * should read back out of it.
 */
import type { MarcRecord } from '../../src/archive/types';
import { SeededRandom } from './book-random';

export interface InventedRecord {
  leader: string;
  controlNumber: string; // 001
  field008: string; // 40 characters
  dateType: string; // 008/06
  date1: string; // 008/07-10, may hold 'u' for unknown digits
  date2: string; // 008/11-14, blanks when there is none
  language: string; // 008/35-37
  lccn: string; // 010$a
  isbns: string[]; // 020$a
  systemNumbers: string[]; // 035$a, OCLC ones start with "(OCoLC)"
  lcCallNumbers: string[]; // 050$a
  lcItemNumber: string; // 050$b
  personalAuthor?: string; // 100$a
  authorDates?: string; // 100$d
  corporateAuthor?: string; // 110$a
  title: string; // 245$a
  titleRemainder: string; // 245$b
  publicationPlace: string; // 260$a
  publisher: string; // 260$b
  notes: string[]; // 500$a
  subjects: string[]; // 650$a, with the cataloguer's trailing '.'
  genres: string[]; // 655$a, with trailing '.'
  holdingLibrary: string; // 955$a
  barcode: string; // 955$b
}

const ADJECTIVES = [
  'ancient',
  'forgotten',
  'northern',
  'silent',
  'natural',
  'moral',
  'golden',
  'rural',
  'modern',
  'curious',
  'naïve',
  'lesser',
  'remarkable',
  'early',
  'western',
  'quiet',
];
const NOUNS = [
  'river',
  'harbour',
  'garden',
  'parish',
  'chronicle',
  'voyage',
  'mountain',
  'orchard',
  'mill',
  'frontier',
  'lighthouse',
  'library',
  'abbey',
  'valley',
  'café',
  'manor',
  'railway',
  'island',
];
const PLACES = [
  'Cornwall',
  'New England',
  'the Hebrides',
  'Lower Canada',
  'Provence',
  'the Ohio Valley',
  'Bohemia',
  'Zürich',
  'the Levant',
  'Northumberland',
  'Québec',
  'the Carolinas',
];
const TOPICS = [
  'agriculture',
  'navigation',
  'botany',
  'geology',
  'church history',
  'education',
  'political economy',
  'architecture',
  'natural history',
  'folklore',
  'commerce',
  'music',
];
const SURNAMES = [
  'Ashworth',
  'Bellamy',
  'Carrington',
  'Delacroix',
  'Everard',
  'Fairweather',
  'Gallagher',
  'Hollis',
  'Ingram',
  'Jennings',
  'Kessler',
  'Lefèvre',
  'Marchbanks',
  'Northcote',
  'Okafor',
  'Pemberton',
];
const GIVEN_NAMES = [
  'Abigail',
  'Benjamin',
  'Charlotte',
  'Édouard',
  'Frederick',
  'Harriet',
  'Josiah',
  'Louisa',
  'Matthias',
  'Prudence',
  'Silas',
  'Theodora',
];
const CORPORATE_BODIES = [
  'Royal Society of Antiquaries',
  'Massachusetts Horticultural Society',
  'Society for the Diffusion of Useful Knowledge',
  'Geological Survey of Canada',
];
const PUBLISHERS = [
  'Smith, Elder & Co.',
  'Harper & Brothers',
  'Longmans, Green',
  'Ticknor and Fields',
  'J. Murray',
  'Hachette',
  'D. Appleton & Company',
];
const PUBLICATION_PLACES = ['London', 'New York', 'Boston', 'Edinburgh', 'Paris', 'Philadelphia', 'Leipzig'];
const PLACE_CODES = ['enk', 'nyu', 'mau', 'stk', 'fr ', 'pau', 'gw '];
const GENRES = ['Fiction.', 'Travel writing.', 'Essays.', 'Biographies.', 'Sermons.', 'Handbooks and manuals.', 'Poetry.'];
const LC_CLASSES = ['PR', 'PS', 'DA', 'F', 'QH', 'QE', 'BX', 'HD', 'NA', 'ML', 'GR', 'S'];
const LANGUAGES: readonly string[] = ['eng', 'eng', 'eng', 'eng', 'eng', 'eng', 'eng', 'fre', 'ger', 'spa', 'lat'];

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function titleMain(random: SeededRandom): string {
  switch (random.int(0, 4)) {
    case 0:
      return `The ${random.pick(ADJECTIVES)} ${random.pick(NOUNS)}`;
    case 1:
      return `A history of the ${random.pick(NOUNS)} of ${random.pick(PLACES)}`;
    case 2:
      return `${capitalize(random.pick(NOUNS))}s and ${random.pick(NOUNS)}s of ${random.pick(PLACES)}`;
    case 3:
      return `Letters from ${random.pick(PLACES)}`;
    default:
      return `Notes on ${random.pick(TOPICS)} in ${random.pick(PLACES)}`;
  }
}

function titleRemainder(random: SeededRandom): string {
  switch (random.int(0, 3)) {
    case 0:
      return `with an account of its ${random.pick(TOPICS)}`;
    case 1:
      return `being observations made during a residence in ${random.pick(PLACES)}`;
    case 2:
      return `a tale in ${random.pick(['two', 'three', 'four'])} volumes`;
    default:
      return 'from the earliest times to the present day';
  }
}

/** Deterministic invented title (245$a) of a book, the same one its archive's MARC record carries. */
export function inventTitle(seed: number, barcode: string): string {
  return titleMain(new SeededRandom(`${seed}|${barcode}|title`));
}

function isbn10(random: SeededRandom): string {
  const digits = Array.from({ length: 9 }, () => random.int(0, 9));
  const sum = digits.reduce((total, digit, index) => total + digit * (10 - index), 0);
  const check = (11 - (sum % 11)) % 11;
  return digits.join('') + (check === 10 ? 'X' : String(check));
}

function digits(random: SeededRandom, count: number): string {
  return Array.from({ length: count }, () => random.int(0, 9)).join('');
}

/** A year that survives the §6.4 date filter (numeric, no "999"). */
function plainYear(random: SeededRandom): number {
  return random.int(1820, 1985);
}

function datesFor(random: SeededRandom): { dateType: string; date1: string; date2: string } {
  const year = plainYear(random);
  const roll = random.next();
  if (roll < 0.6) return { dateType: 's', date1: String(year), date2: '    ' };
  if (roll < 0.8) return { dateType: 'm', date1: String(year), date2: String(year + random.int(1, 9)) };
  if (roll < 0.9) return { dateType: 'm', date1: String(year), date2: '9999' }; // still being published
  return { dateType: 's', date1: `${String(year).slice(0, 2)}uu`, date2: '    ' }; // century known only
}

/** Every value of the invented catalogue record of one book, from seed and barcode alone. */
export function inventRecord(seed: number, barcode: string, directory: string, title?: string): InventedRecord {
  const random = new SeededRandom(`${seed}|${barcode}|marc`);
  const { dateType, date1, date2 } = datesFor(random);
  const language = random.pick(LANGUAGES);
  const entered = `${String(random.int(70, 99))}${String(random.int(1, 12)).padStart(2, '0')}${String(random.int(1, 28)).padStart(2, '0')}`;
  const placeCode = random.pick(PLACE_CODES);
  // 008 for books: entered, dates, place, illustrations, audience, form, contents, gov, conf, festschrift,
  // index, undefined, literary form, biography, language, modified, cataloguing source.
  const field008 = `${entered}${dateType}${date1}${date2}${placeCode}a   ||b   |001 0 ${language} d`;
  if (field008.length !== 40) throw new Error(`internal: 008 must be 40 characters, built ${field008.length}`);

  const isbnCount = random.int(1, 2);
  const isbns = Array.from({ length: isbnCount }, () => isbn10(random));
  const systemNumbers = [`(OCoLC)${random.int(1_000_000, 99_999_999)}`];
  if (random.chance(0.5)) systemNumbers.push(`(${random.pick(['MiU', 'NjP', 'CU', 'NN'])})99${digits(random, 8)}`);

  const lcClass = random.pick(LC_CLASSES);
  const lcCallNumbers = [`${lcClass}${random.int(1, 9999)}`];
  const surname = random.pick(SURNAMES);
  const lcItemNumber = `.${surname.charAt(0)}${random.int(10, 99)} ${date1.replace(/u/g, '0')}`;

  const corporate = random.chance(0.15);
  const born = Number(date1.replace(/u/g, '0')) - random.int(25, 60);
  const subjectCount = random.int(1, 3);
  const subjects = Array.from({ length: subjectCount }, () => `${capitalize(random.pick(TOPICS))} -- ${random.pick(PLACES)}.`);
  const notes = ['Includes index.'];
  if (random.chance(0.6))
    notes.push(`Originally published: ${random.pick(PUBLICATION_PLACES)} : ${random.pick(PUBLISHERS)}, ${born + 30}.`);

  return {
    leader: `0${digits(random, 4)}cam a2200${digits(random, 3)} a 4500`,
    controlNumber: `${random.int(100_000, 9_999_999)}`,
    field008,
    dateType,
    date1,
    date2,
    language,
    lccn: `${date1.slice(2, 4).replace(/u/g, '0')}${digits(random, 6)}`,
    isbns,
    systemNumbers,
    lcCallNumbers,
    lcItemNumber,
    personalAuthor: corporate ? undefined : `${surname}, ${random.pick(GIVEN_NAMES)}`,
    authorDates: corporate ? undefined : `${born}-${born + random.int(40, 85)}.`,
    corporateAuthor: corporate ? random.pick(CORPORATE_BODIES) : undefined,
    title: title ?? inventTitle(seed, barcode),
    titleRemainder: titleRemainder(random),
    publicationPlace: random.pick(PUBLICATION_PLACES),
    publisher: random.pick(PUBLISHERS),
    notes,
    subjects,
    genres: [random.pick(GENRES)],
    holdingLibrary: directory,
    barcode,
  };
}

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function datafield(tag: string, ind1: string, ind2: string, subfields: Array<[string, string | undefined]>): string {
  const present = subfields.filter((entry): entry is [string, string] => entry[1] !== undefined);
  const inner = present.map(([code, value]) => `<marc:subfield code="${code}">${escapeXml(value)}</marc:subfield>`).join('');
  return `<marc:datafield tag="${tag}" ind1="${ind1}" ind2="${ind2}">${inner}</marc:datafield>`;
}

/** 245 second indicator: how many leading characters (an initial article) sorting skips. */
function nonfilingCharacters(title: string): number {
  const article = /^(The|A|An) /.exec(title);
  return article ? article[0].length : 0;
}

/** The record as a MARC21-slim `marc:record` element (one field per line, indented for METS). */
export function marcRecordXml(record: InventedRecord, indent = ''): string {
  const lines = [
    `<marc:record xmlns:marc="http://www.loc.gov/MARC21/slim">`,
    `  <marc:leader>${record.leader}</marc:leader>`,
    `  <marc:controlfield tag="001">${escapeXml(record.controlNumber)}</marc:controlfield>`,
    `  <marc:controlfield tag="008">${escapeXml(record.field008)}</marc:controlfield>`,
    `  ${datafield('010', ' ', ' ', [['a', record.lccn]])}`,
    ...record.isbns.map((isbn) => `  ${datafield('020', ' ', ' ', [['a', isbn]])}`),
    ...record.systemNumbers.map((number) => `  ${datafield('035', ' ', ' ', [['a', number]])}`),
    ...record.lcCallNumbers.map(
      (call) =>
        `  ${datafield('050', '0', '0', [
          ['a', call],
          ['b', record.lcItemNumber],
        ])}`,
    ),
  ];
  if (record.personalAuthor)
    lines.push(
      `  ${datafield('100', '1', ' ', [
        ['a', record.personalAuthor],
        ['d', record.authorDates],
      ])}`,
    );
  if (record.corporateAuthor) lines.push(`  ${datafield('110', '2', ' ', [['a', record.corporateAuthor]])}`);
  lines.push(
    `  ${datafield('245', '1', String(nonfilingCharacters(record.title)), [
      ['a', record.title],
      ['b', record.titleRemainder],
    ])}`,
    `  ${datafield('260', ' ', ' ', [
      ['a', record.publicationPlace],
      ['b', record.publisher],
      ['c', `${record.date1}.`],
    ])}`,
    ...record.notes.map((note) => `  ${datafield('500', ' ', ' ', [['a', note]])}`),
    ...record.subjects.map((subject) => `  ${datafield('650', ' ', '0', [['a', subject]])}`),
    ...record.genres.map(
      (genre) =>
        `  ${datafield('655', ' ', '7', [
          ['a', genre],
          ['2', 'lcgft'],
        ])}`,
    ),
    `  ${datafield('955', ' ', ' ', [
      ['a', record.holdingLibrary],
      ['b', record.barcode],
    ])}`,
    `</marc:record>`,
  );
  return lines.map((line) => indent + line).join('\n');
}

/** §6.4's date filter: a date that is not four digits, or contains "999", is dropped. */
function keptDate(value: string): string | undefined {
  return /^\d{4}$/.test(value) && !value.includes('999') ? value : undefined;
}

function withoutTrailingPeriod(value: string): string {
  return value.replace(/\.$/, '');
}

/** What an extractor following PROTOCOL.md §6.4 reads back out of `record`. */
export function extractedMarc(record: InventedRecord): MarcRecord {
  return {
    controlNumber: record.controlNumber,
    dateType: record.dateType,
    date1: keptDate(record.date1),
    date2: keptDate(record.date2),
    language: record.language,
    lccn: record.lccn,
    lcCallNumbers: [...record.lcCallNumbers],
    isbns: [...record.isbns],
    oclcNumbers: record.systemNumbers.filter((number) => number.includes('(OCoLC)')),
    title: record.title,
    titleRemainder: record.titleRemainder,
    personalAuthor: record.personalAuthor,
    corporateAuthor: record.corporateAuthor,
    meetingAuthor: undefined,
    subjects: record.subjects.map(withoutTrailingPeriod),
    genres: record.genres.map(withoutTrailingPeriod),
    notes: [...record.notes],
  };
}
