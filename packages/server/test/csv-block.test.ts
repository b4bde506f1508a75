import { canonicalBytes } from '@vigil/ledger';
import { EVENT_TYPES } from '@vigil/protocol';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { blockEntries, packEntries } from '../src/audit/copy-rows.js';
import { csvBlock, inCsvSubset } from '../src/audit/csv-block.js';
import { csvLine, rfc3339 } from '../src/audit/csv.js';
import { csvFields } from '../src/audit/pulumi-event.js';

/** The reference: each entry's text parsed whole (`JSON.parse`) and formatted (`csvLine`), as UTF-8. */
function slowLines(entries: readonly Uint8Array[]): string {
  return Buffer.from(
    entries.map((data) => csvLine(csvFields(Buffer.from(data).toString('utf8')))).join(''),
  ).toString('hex');
}

function blockOf(entries: readonly Uint8Array[]) {
  return packEntries(entries.map((data, index) => ({ index, data })));
}

/** The chunk's bytes (as hex: bytes that are not UTF-8 must not hide behind a decoding). */
function fastLines(entries: readonly Uint8Array[], into?: ArrayBuffer): string {
  return csvBlock(blockOf(entries), into).toString('hex');
}

const bytes = (text: string) => new Uint8Array(Buffer.from(text, 'utf8'));
const fast = (data: Uint8Array) => inCsvSubset(data, 0, data.length);

const STACK_ADMIN = EVENT_TYPES.filter((e) => e.requiresStackAdmin).map((e) => e.id);
const EVENT_IDS = EVENT_TYPES.map((e) => e.id);

/** Text a shown field may hold: ordinary, hostile to CSV (quotes, commas, formulas), control characters, non-ASCII. */
const text = fc.oneof(
  fc.constantFrom('', 'user-7', 'Ada Lovelace', '203.0.113.7', '2001:db8::1', ...EVENT_IDS),
  fc.string({ maxLength: 30 }),
  fc.string({ unit: 'grapheme', maxLength: 20 }),
  fc.string({
    unit: fc.constantFrom(
      '"',
      ',',
      '=',
      '+',
      '-',
      '@',
      '\t',
      '\r',
      '\n',
      '\\',
      '/',
      'a',
      'é',
      '🔐',
      '\u2028',
    ),
  }),
);
/** Any JSON value, for fields whose type is wrong and for the fields a line does not show. */
const anyJson = fc.jsonValue({ maxDepth: 3 });
/** A field: usually its own type, sometimes another. */
const maybe = <T>(arb: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 5, arbitrary: arb }, { weight: 1, arbitrary: anyJson });
const time = fc.oneof(
  fc.integer({ min: 0, max: 4_102_444_800_000 }),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(-0, 1e300, -1e21, 8.64e15, 8.64e15 + 1, -62_167_219_200_001, 253_402_300_800_000),
);
const record = fc.record(
  {
    v: fc.constant(1),
    time: maybe(time),
    org: text,
    event: maybe(fc.oneof(fc.constantFrom(...EVENT_IDS, ...STACK_ADMIN), text)),
    description: maybe(text),
    sourceIP: maybe(text),
    actor: maybe(
      fc.record(
        {
          kind: fc.constantFrom('user', 'token', 'system'),
          login: maybe(text),
          name: maybe(text),
          tokenId: text,
          avatarUrl: text,
        },
        { requiredKeys: ['kind'] },
      ),
    ),
    reqOrgAdmin: maybe(fc.boolean()),
    authFailure: maybe(fc.boolean()),
    resource: anyJson,
    extra: fc.dictionary(fc.string({ maxLength: 8 }), anyJson, { maxKeys: 3 }),
  },
  { requiredKeys: ['v'] },
);

describe('CSV lines written from entries’ bytes', () => {
  it('are the lines of the entries parsed whole, for any record the ledger can hold', () => {
    fc.assert(
      fc.property(fc.array(record, { maxLength: 12 }), (records) => {
        const entries = records.map((r) => canonicalBytes(r));
        expect(fastLines(entries)).toBe(slowLines(entries));
      }),
      { numRuns: 500 },
    );
  });

  it('are the same lines from a page of texts (SQLite reads text): packed as their UTF-8 bytes', () => {
    const entry = fc.oneof(
      record.map((r) => canonicalBytes(r)),
      fc.uint8Array({ maxLength: 40 }),
      fc.string({ unit: 'grapheme', maxLength: 30 }).map((t) => bytes(JSON.stringify({ description: t }))),
    );
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 12 }), (entries) => {
        // As SQLite hands them over: each entry's bytes decoded, invalid sequences as U+FFFD.
        const texts = entries.map((data, index) => ({
          index: index * 7,
          data: Buffer.from(data).toString('utf8'),
        }));
        const block = packEntries(texts);
        expect(blockEntries(block)).toEqual(texts);
        expect(csvBlock(block).toString('hex')).toBe(
          Buffer.from(texts.map((t) => csvLine(csvFields(t.data))).join('')).toString('hex'),
        );
      }),
      { numRuns: 300 },
    );
  });

  it('write canonical records with plain shown fields straight from their bytes', () => {
    const plain = fc.string({
      unit: fc.constantFrom('a', 'Z', '0', ' ', ',', '"', '=', '-', 'é', '✓', '🔐'),
    });
    fc.assert(
      fc.property(
        fc.record({
          time: fc.integer({ min: 0, max: 4_102_444_800_000 }),
          event: fc.constantFrom(...EVENT_IDS),
          description: plain,
          sourceIP: plain,
          actor: fc.record({ kind: fc.constant('user'), login: plain, name: plain, tokenId: plain }),
          reqOrgAdmin: fc.boolean(),
          resource: anyJson,
        }),
        (r) => {
          expect(fast(canonicalBytes({ v: 1, ...r }))).toBe(true);
        },
      ),
    );
  });

  it('are the lines of the entries parsed whole, whatever bytes a hand-edited database holds', () => {
    // Canonical records, then edited byte by byte: JSON's own characters, bytes that are not UTF-8, whitespace.
    const edit = fc.record({
      at: fc.nat(),
      cut: fc.nat(4),
      insert: fc.array(
        fc.oneof(
          fc.constantFrom(...'"\\{}[],: \t\n0-.eE+tuflnr'.split('').map((c) => c.charCodeAt(0))),
          fc.constantFrom(0x00, 0x1f, 0x7f, 0x80, 0xbf, 0xc0, 0xc3, 0xe2, 0xed, 0xf0, 0xf4, 0xf5, 0xff),
          fc.integer({ min: 0, max: 255 }),
        ),
        { maxLength: 3 },
      ),
    });
    fc.assert(
      fc.property(record, fc.array(edit, { minLength: 1, maxLength: 4 }), (r, edits) => {
        let data = Buffer.from(canonicalBytes(r));
        for (const { at, cut, insert } of edits) {
          const i = at % (data.length + 1);
          data = Buffer.concat([data.subarray(0, i), Buffer.from(insert), data.subarray(i + cut)]);
        }
        const entries = [
          new Uint8Array(data),
          canonicalBytes({ v: 1, event: 'environment-open', time: 5000 }),
        ];
        expect(fastLines(entries)).toBe(slowLines(entries));
      }),
      { numRuns: 3000 },
    );
  });

  it.each([
    ['whitespace between tokens', '{ "event" : "environment-open", "time": 1000 }'],
    [
      'a duplicated shown field (JSON.parse keeps the last)',
      '{"event":"environment-open","event":"stack-update","time":1}',
    ],
    ['a duplicated actor', '{"actor":{"login":"a","name":"A"},"actor":{"login":"b"}}'],
    [
      'a duplicated actor without the shown fields',
      '{"actor":{"login":"a","name":"A"},"actor":{"kind":"user"}}',
    ],
    ['a duplicated login', '{"actor":{"login":"a","login":"b"}}'],
    ['an escaped property name', '{"ev\\u0065nt":"environment-open","d\\u0065scription":"x"}'],
    ['escapes in a shown field', '{"description":"a\\nb\\tc\\\\d\\/e\\u00e9\\"f","sourceIP":"\\r=1"}'],
    ['a formula behind an escape', '{"description":"\\u003dcmd","actor":{"name":"\\t@x"}}'],
    [
      'bytes that are not UTF-8 in a shown field',
      Buffer.from([...Buffer.from('{"description":"a'), 0xff, 0xc3, ...Buffer.from('"}')]),
    ],
    [
      'a surrogate encoded as UTF-8',
      Buffer.from([...Buffer.from('{"event":"'), 0xed, 0xa0, 0x80, ...Buffer.from('"}')]),
    ],
    [
      'bytes that are not UTF-8 in a skipped field',
      Buffer.from([...Buffer.from('{"org":"'), 0xf0, 0x22, ...Buffer.from(',"event":"x"}')]),
    ],
    [
      'deep nesting in a skipped field',
      `{"event":"environment-open","resource":${'['.repeat(200)}${']'.repeat(200)}}`,
    ],
    [
      'nesting deeper than the scanner follows',
      `{"resource":${'{"a":'.repeat(70)}1${'}'.repeat(70)},"event":"x"}`,
    ],
    [
      'nesting deep enough to exhaust a recursive scan',
      `{"event":"x","resource":${'['.repeat(200_000)}${']'.repeat(200_000)}}`,
    ],
    [
      'shown fields of other types',
      '{"event":7,"description":null,"sourceIP":["10.0.0.1"],"actor":{"login":{},"name":false}}',
    ],
    ['an actor that is not an object', '{"actor":"ada","event":"environment-open"}'],
    ['an empty actor and empty strings', '{"actor":{},"event":"","description":"","sourceIP":""}'],
    ['a name that is empty (the login stands in)', '{"actor":{"login":"ada","name":""}}'],
    ['flags that are not true', '{"reqOrgAdmin":"true","authFailure":1}'],
    ['flags that are true', '{"reqOrgAdmin":true,"authFailure":true,"event":"stack-update"}'],
    ['a time with a fraction and an exponent', '{"time":1.7e12}'],
    ['a negative time', '{"time":-1500}'],
    ['minus zero', '{"time":-0}'],
    ['a time of 16 digits', '{"time":1234567890123456}'],
    ['a time beyond JavaScript dates', '{"time":1e300}'],
    ['a time that overflows', '{"time":1e999}'],
    ['a time before year 0', '{"time":-62167219200001}'],
    ['a time after year 9999', '{"time":253402300800000}'],
    ['a time that is a string', '{"time":"1700000000000"}'],
    ['a number that is not JSON', '{"time":05000}'],
    ['a number cut short', '{"time":5000.}'],
    ['an exponent cut short', '{"time":5e+}'],
    ['a literal cut short', '{"reqOrgAdmin":tru}'],
    ['an empty object', '{}'],
    ['an empty object and more', '{}{}'],
    ['an array', '[1,2,3]'],
    ['null', 'null'],
    ['a string', '"environment-open"'],
    ['trailing bytes', '{"event":"x"} '],
    ['a second value', '{"event":"x"}{"event":"y"}'],
    ['a byte-order mark', '\ufeff{"event":"x"}'],
    ['a record cut short', '{"event":"x","description":"ab'],
    ['an unterminated escape', '{"description":"ab\\'],
    ['a control character in a string', '{"org":"a\u0001b","event":"x"}'],
    ['an unknown escape', '{"org":"\\x41","event":"x"}'],
    ['a short unicode escape', '{"org":"\\u12","event":"x"}'],
    ['a unicode escape that is not hexadecimal', '{"org":"\\uzz1g","event":"x"}'],
    ['nothing', ''],
  ])('are the lines of the entries parsed whole: %s', (_, entry) => {
    const data = typeof entry === 'string' ? bytes(entry) : new Uint8Array(entry);
    // Between two ordinary entries, so that a scan running past its entry's end would show.
    const ordinary = canonicalBytes({
      v: 1,
      event: 'environment-open',
      time: 1_700_000_000_000,
      description: 'ok',
    });
    const entries = [ordinary, data, ordinary];
    expect(fastLines(entries)).toBe(slowLines(entries));
  });

  it.each([
    [[0xc3, 0xa9], 'a two-byte character'],
    [[0xe0, 0xa0, 0x80], 'the first three-byte character'],
    [[0xed, 0x9f, 0xbf], 'the last character before the surrogates'],
    [[0xef, 0xbf, 0xbf], 'the last three-byte character'],
    [[0xf0, 0x90, 0x80, 0x80], 'the first four-byte character'],
    [[0xf4, 0x8f, 0xbf, 0xbf], 'the last character'],
    [[0xc0, 0x80], 'an overlong NUL'],
    [[0xc1, 0xbf], 'an overlong two-byte form'],
    [[0xe0, 0x9f, 0xbf], 'an overlong three-byte form'],
    [[0xed, 0xa0, 0x80], 'a surrogate'],
    [[0xf0, 0x8f, 0xbf, 0xbf], 'an overlong four-byte form'],
    [[0xf4, 0x90, 0x80, 0x80], 'beyond U+10FFFF'],
    [[0xf5, 0x80, 0x80, 0x80], 'a lead byte beyond U+10FFFF'],
    [[0xf7, 0xbf, 0xbf, 0xbf], 'another lead byte beyond U+10FFFF'],
    [[0xc3], 'a sequence cut short'],
    [[0xe2, 0x82], 'a three-byte sequence cut short'],
    [[0xf0, 0x9f, 0x94], 'a four-byte sequence cut short'],
    [[0x80], 'a lone continuation byte'],
  ])(
    'copy %j in a shown field only when it is UTF-8 (%s), as decoding and encoding again would',
    (sequence) => {
      const entry = (field: string) =>
        new Uint8Array(
          Buffer.concat([
            Buffer.from(`{"${field}":"a`),
            Buffer.from(sequence),
            Buffer.from('b","time":1000}'),
          ]),
        );
      for (const field of ['description', 'event', 'sourceIP']) {
        const entries = [entry(field)];
        expect(fastLines(entries)).toBe(slowLines(entries));
      }
    },
  );

  it('write a time beyond JavaScript dates as its seconds, rather than failing the export', () => {
    expect(rfc3339(1e17)).toBe('100000000000000000');
    expect(Buffer.from(fastLines([bytes('{"time":1e20,"event":"x"}')]), 'hex').toString()).toBe(
      '100000000000000000,,,x,,,false,false,false\r\n',
    );
  });

  it('write into a buffer given back, and past it when it is too small', () => {
    const entries = Array.from({ length: 2000 }, (_, n) =>
      canonicalBytes({ v: 1, time: n * 1000, event: 'environment-open', description: `"quoted" ${n}` }),
    );
    const into = new ArrayBuffer(64 * 1024);
    const chunk = csvBlock(blockOf(entries.slice(0, 10)), into);
    expect(chunk.buffer).toBe(into);
    const large = csvBlock(blockOf(entries), into);
    expect(large.byteLength).toBeGreaterThan(into.byteLength);
    expect(large.toString('hex')).toBe(slowLines(entries));
  });
});
