import { PipelineError } from '../../src/common/errors';
import {
  HtmlTooDeepError,
  MAX_HTML_DEPTH,
  decodeEntities,
  descendants,
  normaliseHeader,
  parseHtml,
  parseListingPage,
  resolveNextUrl,
  textContent,
  type HtmlElement,
} from '../../src/grin/parse-html';

const HEAD = `<tr class="heading"><td></td><td><span class="hd3">Barcode</span></td><td><span class="hd3">Title</span></td>
<td><span class="hd3">Status</span></td><td><span class="hd3">Scanned Date</span></td><td><span class="hd3">OCR'd Date</span></td>
<td><span class="hd3">Google Books</span></td></tr>`;

const ROW1 = `<tr><td><input type="checkbox" name="barcodes" value="32044099990001"></td>
    <td>32044099990001</td><td>Flora of the Northern States</td><td>PREVIOUSLY_DOWNLOADED</td>
    <td>2008/04/17 10:22</td><td>2015/03/09 11:00</td>
    <td><a href="https://books.google.com/books?id=AbCdEfGhIjkC">Google Books</a></td></tr>`;
const ROW2 = `<tr><td><input type="checkbox" name="barcodes" value="TZ1XH8"></td><td>TZ1XH8</td><td></td>
    <td>NOT_AVAILABLE_FOR_DOWNLOAD</td><td>2008/04/17 10:22</td><td></td><td></td></tr>`;

describe('HTML listing pages (§2.12)', () => {
  it('reads the heading from <thead> and rows by header name', () => {
    const html = `<html><body><table><thead>${HEAD}</thead><tbody>${ROW1}${ROW2}</tbody></table>
      <a href="_all_books?result_count=2&amp;first=2">Next &gt;</a></body></html>`;
    const page = parseListingPage(html);
    expect(page.hasTable).toBe(true);
    expect(page.columns).toEqual(['', 'barcode', 'title', 'status', 'scanned_date', 'ocrd_date', 'google_books']);
    expect(page.rows.map((r) => r.barcode)).toEqual(['32044099990001', 'TZ1XH8']);
    expect(page.rows[0]!.values).toEqual({
      barcode: '32044099990001',
      title: 'Flora of the Northern States',
      status: 'PREVIOUSLY_DOWNLOADED',
      scanned_date: '2008/04/17 10:22',
      ocrd_date: '2015/03/09 11:00',
      google_books: 'https://books.google.com/books?id=AbCdEfGhIjkC',
    });
    expect(page.rows[0]!.texts.google_books).toBe('Google Books');
    expect(page.nextHref).toBe('_all_books?result_count=2&first=2');
    expect(page.unavailable).toBe(false);
  });

  it('never yields a bogus book "Barcode" when the heading row is the first tbody row', () => {
    const html = `<table><tbody>${HEAD}${ROW1}</tbody></table>`;
    const page = parseListingPage(html);
    expect(page.rows.map((r) => r.barcode)).toEqual(['32044099990001']);
  });

  it('skips a repeated heading row that lost its class', () => {
    const plainHead = HEAD.replace(' class="heading"', '');
    const html = `<table><tr class="heading">${HEAD.slice(HEAD.indexOf('>') + 1)}${plainHead}${ROW2}</table>`;
    expect(parseListingPage(html).rows.map((r) => r.barcode)).toEqual(['TZ1XH8']);
  });

  it('is robust to attribute order, quoting, case, whitespace and unclosed cells', () => {
    const html = `<TABLE border=0><TR CLASS='odd heading' id=h>
      <TD><TD ><SPAN id="x" CLASS = "hd3" >Barcode</SPAN><TD><span class=hd3>Title</span>
      <TR class=row><TD><INPUT value='B-1' NAME=barcodes type=checkbox><TD>  B-1 <TD>Caf&eacute; &amp; <b>Co</b>&#39;s
      <TR><TD><INPUT name="barcodes" value="B-2"><TD>B-2<TD>Second
    </TABLE>`;
    const page = parseListingPage(html);
    expect(page.columns).toEqual(['', 'barcode', 'title']);
    expect(page.rows.map((r) => [r.barcode, r.values.title])).toEqual([
      ['B-1', "Caf&eacute; & Co's"],
      ['B-2', 'Second'],
    ]);
  });

  it('uses the first table that has a heading row, ignoring layout tables', () => {
    const html = `<table><tr><td>menu</td><td>links</td></tr></table>
      <table><tr class="heading"><td><span class="hd3">Barcode</span></td><td><span class="hd3">Title</span></td></tr>
      <tr><td>B1</td><td>T1</td></tr></table>
      <table><tr class="heading"><td><span class="hd3">Barcode</span></td></tr><tr><td>WRONG</td><td>x</td></tr></table>`;
    expect(parseListingPage(html).rows.map((r) => r.barcode)).toEqual(['B1']);
  });

  it('skips rows with fewer than 2 cells and rows without a barcode', () => {
    const html = `<table><tr class="heading"><td><span class="hd3">Barcode</span></td><td><span class="hd3">Title</span></td></tr>
      <tr><td colspan="2">Nothing here</td></tr><tr><td></td><td>no barcode</td></tr><tr><td>B1</td><td>T</td></tr></table>`;
    expect(parseListingPage(html).rows.map((r) => r.barcode)).toEqual(['B1']);
  });

  it('falls back to the checkbox value when there is no Barcode column', () => {
    const html = `<table><tr class="heading"><td></td><td><span class="hd3">Title</span></td></tr>
      <tr><td><input type="checkbox" name="barcodes" value="B7"></td><td>T</td></tr></table>`;
    expect(parseListingPage(html).rows.map((r) => r.barcode)).toEqual(['B7']);
  });

  it('_converted: barcode from a Filename column, with or without the <DIR>_ prefix', () => {
    const html = `<table><thead><tr class="heading"><td></td><td><span class="hd3">Filename</span></td><td><span class="hd3">Converted Date</span></td></tr></thead>
      <tbody><tr><td><input type="checkbox" name="barcodes" value="B1"></td><td>B1.tar.gz.gpg</td><td>2019/11/02 06:41</td></tr>
      <tr><td></td><td>PRNC_B2.tar.gz.gpg</td><td>2019/11/02 06:42</td></tr></tbody></table>`;
    const page = parseListingPage(html, 'PRNC');
    expect(page.rows.map((r) => [r.barcode, r.texts.filename])).toEqual([
      ['B1', 'B1.tar.gz.gpg'],
      ['B2', 'PRNC_B2.tar.gz.gpg'],
    ]);
  });

  it('_failed: the four keys GT reads', () => {
    const html = `<table><thead><tr class="heading"><td><span class="hd3">Barcode</span></td><td><span class="hd3">Convert Failed Date</span></td>
      <td><span class="hd3">Convert Failed Info</span></td><td><span class="hd3">Detailed Convert Failed Info</span></td></tr></thead>
      <tbody><tr><td>B1</td><td>2020/05/06 07:08</td><td>Error: Timeout</td><td>Process exceeded 3600s</td></tr></tbody></table>`;
    expect(parseListingPage(html).rows[0]!.texts).toEqual({
      barcode: 'B1',
      convert_failed_date: '2020/05/06 07:08',
      convert_failed_info: 'Error: Timeout',
      detailed_convert_failed_info: 'Process exceeded 3600s',
    });
  });

  it('finds Next links by first= or ctoken=, with "Next", ">" or &gt;', () => {
    const table = `<table><tr class="heading"><td><span class="hd3">Barcode</span></td></tr></table>`;
    const next = (a: string) => parseListingPage(table + a).nextHref;
    expect(next('<a href="?first=10">Previous</a><a href="/libraries/X/_converted?ctoken=AbC">next page</a>')).toBe(
      '/libraries/X/_converted?ctoken=AbC',
    );
    expect(next('<a href="_x?result_count=5&first=5">&gt;&gt;</a>')).toBe('_x?result_count=5&first=5');
    expect(next('<a href="_x?first=5">2</a>')).toBeUndefined();
    expect(next('<a href="_x?page=2">Next</a>')).toBeUndefined();
  });

  it('recognises the refusal page', () => {
    const page = parseListingPage('<html><body><p>Your request is unavailable.</p></body></html>');
    expect(page.unavailable).toBe(true);
    expect(page.hasTable).toBe(false);
    expect(page.rows).toEqual([]);
  });

  it('ignores scripts and comments that look like markup', () => {
    const html = `<script>var s = "<table><tr class='heading'>";</script><!-- <tr><td>X</td><td>Y</td></tr> -->
      <table><tr class="heading"><td><span class="hd3">Barcode</span></td><td><span class="hd3">Title</span></td></tr><tr><td>B1</td><td>T</td></tr></table>`;
    expect(parseListingPage(html).rows.map((r) => r.barcode)).toEqual(['B1']);
  });
});

describe('normaliseHeader', () => {
  it.each([
    ["OCR'd Date", 'ocrd_date'],
    ['Check-In Date', 'check_in_date'],
    ['  Detailed Convert Failed Info ', 'detailed_convert_failed_info'],
    ['Google Books', 'google_books'],
  ])('%s → %s', (label, key) => expect(normaliseHeader(label)).toBe(key));
});

describe('resolveNextUrl (fixes §11.4)', () => {
  const base = 'http://127.0.0.1:4567/libraries';
  const page = 'http://127.0.0.1:4567/libraries/TEST/_all_books?result_count=10';
  it('resolves absolute-path links against the base URL origin, not Google', () => {
    expect(resolveNextUrl('/libraries/TEST/_all_books?first=10', page, base)).toBe(
      'http://127.0.0.1:4567/libraries/TEST/_all_books?first=10',
    );
  });
  it('resolves relative links against the page', () => {
    expect(resolveNextUrl('_all_books?first=10', page, base)).toBe('http://127.0.0.1:4567/libraries/TEST/_all_books?first=10');
  });
  it('re-roots absolute links to another host under the base path; refuses others', () => {
    expect(resolveNextUrl('https://books.google.com/libraries/TEST/_all_books?ctoken=z', page, base)).toBe(
      'http://127.0.0.1:4567/libraries/TEST/_all_books?ctoken=z',
    );
    expect(resolveNextUrl('https://evil.example/steal?first=1', page, base)).toBeNull();
  });
});

describe('the small HTML reader', () => {
  it('decodes entities and keeps text of nested elements', () => {
    expect(decodeEntities('a &amp; b &lt;c&gt; &#x41;&#66; &nbsp;&unknown;')).toBe('a & b <c> AB  &unknown;');
    const root = parseHtml('<div>a<span>b<br/>c</span>d</div>');
    expect(textContent(root)).toBe('abcd');
  });

  describe('deep nesting (a hostile page is refused, never a stack overflow)', () => {
    it('a listing page nesting 10,000 levels deep is a clear, retryable PipelineError', () => {
      const html = `<table>${HEAD}${ROW1}<tr><td>${'<div>'.repeat(10_000)}x</td></tr></table>`;
      let caught: unknown;
      try {
        parseListingPage(html);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(HtmlTooDeepError);
      expect(caught).toBeInstanceOf(PipelineError);
      expect((caught as PipelineError).retryable).toBe(true);
      expect((caught as Error).message).toMatch(/more than 1000 levels deep/);
    });

    it('closed deep nesting counts too, and depth goes down again as elements close', () => {
      const deep = (n: number) => '<span>'.repeat(n) + '</span>'.repeat(n);
      expect(() => parseHtml(deep(MAX_HTML_DEPTH + 1))).toThrow(HtmlTooDeepError);
      // Many siblings, each nesting just under the limit: never deeper than the limit at once.
      const root = parseHtml(deep(MAX_HTML_DEPTH - 1).repeat(20));
      expect([...descendants(root, 'span')]).toHaveLength(20 * (MAX_HTML_DEPTH - 1));
    });

    it('cells implicitly closed by the next row do not add up across a long table', () => {
      const rows = Array.from(
        { length: 5_000 },
        (_, i) => `<tr><td><input type="checkbox" name="barcodes" value="B${i}"><td><font>B${i}<td>t`,
      ).join('');
      const page = parseListingPage(`<table>${HEAD}${rows}</table>`);
      expect(page.rows).toHaveLength(5_000);
      expect(page.rows[4_999]!.barcode).toBe('B4999');
    });

    it('walks and text of a tree at the depth limit need no recursion', () => {
      const n = MAX_HTML_DEPTH;
      const root = parseHtml('<b>'.repeat(n) + 'deep' + '</b>'.repeat(n), n);
      expect(textContent(root)).toBe('deep');
      expect([...descendants(root)]).toHaveLength(n);
      // A tree built by hand far deeper than any stack: the walks still finish.
      const top: HtmlElement = { tag: 'div', attrs: {}, children: [] };
      let el = top;
      for (let i = 0; i < 200_000; i++) {
        const child: HtmlElement = { tag: 'div', attrs: {}, children: [], parent: el };
        el.children.push(child);
        el = child;
      }
      el.children.push('bottom');
      expect(textContent(top)).toBe('bottom');
      expect([...descendants(top, 'div')]).toHaveLength(200_000);
    });
  });
});
