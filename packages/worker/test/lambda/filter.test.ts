import { ConfigError } from '@shardline/core';
import { describe, expect, it } from 'vitest';
import type { LambdaDynamoDBRecord } from '../../src/lambda/event.js';
import { compileFilterCriteria, MAX_FILTERS, MAX_PATTERN_LENGTH } from '../../src/lambda/filter.js';

/** One filter per pattern, as `FilterCriteria` carries them (patterns are JSON strings). */
const criteria = (...patterns: unknown[]) => ({
  Filters: patterns.map((p) => ({ Pattern: typeof p === 'string' ? p : JSON.stringify(p) })),
});
const passes = (record: unknown, ...patterns: unknown[]) =>
  compileFilterCriteria(criteria(...patterns)).matches(record as LambdaDynamoDBRecord);
const refusal = (...patterns: unknown[]): string => {
  try {
    compileFilterCriteria(criteria(...patterns));
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('the criteria were accepted');
};

// https://docs.aws.amazon.com/lambda/latest/dg/with-ddb-filtering.html — the page's example record.
const customer: LambdaDynamoDBRecord = {
  eventID: '1',
  eventVersion: '1.0',
  dynamodb: {
    ApproximateCreationDateTime: 1678831218.0,
    Keys: { CustomerName: { S: 'AnyCompany Industries' } },
    NewImage: {
      AccountManager: { S: 'Pat Candella' },
      PaymentTerms: { S: '60 days' },
      CustomerName: { S: 'AnyCompany Industries' },
    },
    SequenceNumber: '111',
    SizeBytes: 26,
    StreamViewType: 'NEW_IMAGE',
  },
};

// https://docs.aws.amazon.com/lambda/latest/dg/invocation-eventfiltering.html — "Multi-level filtering".
const item101: LambdaDynamoDBRecord = {
  eventName: 'INSERT',
  dynamodb: {
    Keys: { Id: { N: '101' } },
    NewImage: { Message: { S: 'New item!' }, Id: { N: '101' } },
    SequenceNumber: '111',
    SizeBytes: 26,
    StreamViewType: 'NEW_AND_OLD_IMAGES',
  },
};

describe('FilterCriteria: the examples of Lambda’s documentation', () => {
  it('filters on the table key (with-ddb-filtering: "Filtering with table keys")', () => {
    const pattern = { dynamodb: { Keys: { CustomerName: { S: ['AnyCompany Industries'] } } } };
    expect(passes(customer, pattern)).toBe(true);
    expect(passes(customer, { dynamodb: { Keys: { CustomerName: { S: ['Other Co'] } } } })).toBe(false);
  });

  it('filters on a NewImage attribute with alternatives (with-ddb-filtering: "Filtering with table attributes")', () => {
    const pattern = { dynamodb: { NewImage: { AccountManager: { S: ['Pat Candella', 'Shirley Rodriguez'] } } } };
    expect(passes(customer, pattern)).toBe(true);
    const shirley = structuredClone(customer);
    shirley.dynamodb!.NewImage!.AccountManager = { S: 'Shirley Rodriguez' };
    expect(passes(shirley, pattern)).toBe(true);
    const other = structuredClone(customer);
    other.dynamodb!.NewImage!.AccountManager = { S: 'Someone Else' };
    expect(passes(other, pattern)).toBe(false);
  });

  it('matches a key nested several levels down (invocation-eventfiltering: "Multi-level filtering")', () => {
    // The pattern string as the page gives it, once its inner quotes are escaped.
    const pattern = '{ "dynamodb": { "Keys": { "Id": { "N": [ "101" ] } } } }';
    expect(passes(item101, pattern)).toBe(true);
    const item102 = structuredClone(item101);
    item102.dynamodb!.Keys!.Id = { N: '102' };
    expect(passes(item102, pattern)).toBe(false);
  });

  it('uses the last of duplicate keys (invocation-eventfiltering: "Duplicate keys")', () => {
    const pattern =
      '{ "Metadata1": [ "pattern1" ], "data": { "duplicateKey" : ["hello"], "uniqueKey" : ["test123"], "duplicateKey" : ["world"] } }';
    const record = (duplicateKey: string) => ({ Metadata1: 'pattern1', data: { uniqueKey: 'test123', duplicateKey } });
    expect(passes(record('world'), pattern)).toBe(true);
    expect(passes(record('hello'), pattern)).toBe(false);
  });

  it('matches one of several values (the console example `{ "a" : [ 1, 2 ] }`)', () => {
    expect(passes({ a: 1 }, { a: [1, 2] })).toBe(true);
    expect(passes({ a: 2 }, { a: [1, 2] })).toBe(true);
    expect(passes({ a: 3 }, { a: [1, 2] })).toBe(false);
    expect(passes({ a: '1' }, { a: [1, 2] })).toBe(false);
  });

  it('compares a numeric range (invocation-eventfiltering: Temperature > 50 and <= 60)', () => {
    const pattern = { data: { Temperature: [{ numeric: ['>', 50, '<=', 60] }] } };
    expect([50, 50.5, 60, 61].map((t) => passes({ data: { Temperature: t } }, pattern))).toEqual([
      false,
      true,
      true,
      false,
    ]);
  });

  it('matches every comparison operator of the "Filter rule syntax" table', () => {
    const table: Array<[string, unknown, unknown, unknown]> = [
      // name, pattern, a matching record, a record that does not match
      ['Null', { UserID: [null] }, { UserID: null }, { UserID: 'u1' }],
      ['Empty', { LastName: [''] }, { LastName: '' }, { LastName: 'Doe' }],
      ['Equals', { Name: ['Alice'] }, { Name: 'Alice' }, { Name: 'alice' }],
      ['Equals (ignore case)', { Name: [{ 'equals-ignore-case': 'alice' }] }, { Name: 'ALICE' }, { Name: 'Alicia' }],
      [
        'And',
        { Location: ['New York'], Day: ['Monday'] },
        { Location: 'New York', Day: 'Monday' },
        { Location: 'New York', Day: 'Friday' },
      ],
      ['Or', { PaymentType: ['Credit', 'Debit'] }, { PaymentType: 'Debit' }, { PaymentType: 'Cash' }],
      [
        'Or (multiple fields)',
        { $or: [{ Location: ['New York'] }, { Day: ['Monday'] }] },
        { Location: 'Boston', Day: 'Monday' },
        { Location: 'Boston', Day: 'Friday' },
      ],
      ['Not', { Weather: [{ 'anything-but': ['Raining'] }] }, { Weather: 'Sunny' }, { Weather: 'Raining' }],
      ['Numeric (equals)', { Price: [{ numeric: ['=', 100] }] }, { Price: 100 }, { Price: 101 }],
      ['Numeric (range)', { Price: [{ numeric: ['>', 10, '<=', 20] }] }, { Price: 20 }, { Price: 10 }],
      ['Exists', { ProductName: [{ exists: true }] }, { ProductName: 'x' }, { Other: 'x' }],
      ['Does not exist', { ProductName: [{ exists: false }] }, { Other: 'x' }, { ProductName: 'x' }],
      ['Begins with', { Region: [{ prefix: 'us-' }] }, { Region: 'us-east-1' }, { Region: 'eu-west-1' }],
      ['Ends with', { FileName: [{ suffix: '.png' }] }, { FileName: 'photo.png' }, { FileName: 'photo.jpg' }],
    ];
    for (const [name, pattern, yes, no] of table) {
      expect([name, passes(yes, pattern), passes(no, pattern)]).toEqual([name, true, false]);
    }
  });

  it('selects TTL deletes by their service principal (DynamoDB guide: time-to-live-ttl-streams)', () => {
    const pattern = { userIdentity: { type: ['Service'], principalId: ['dynamodb.amazonaws.com'] } };
    const ttl = {
      ...item101,
      eventName: 'REMOVE',
      userIdentity: { type: 'Service', principalId: 'dynamodb.amazonaws.com' },
    };
    expect(passes(ttl, pattern)).toBe(true);
    expect(passes({ ...item101, eventName: 'REMOVE' }, pattern)).toBe(false);
  });
});

describe('FilterCriteria: semantics', () => {
  it('passes a record when any filter matches (OR), and only then', () => {
    const inserts = { eventName: ['INSERT'] };
    const removes = { eventName: ['REMOVE'] };
    expect(passes(item101, removes, inserts)).toBe(true);
    expect(passes(item101, removes)).toBe(false);
    expect(compileFilterCriteria(undefined).matches(item101)).toBe(true);
    expect(compileFilterCriteria({ Filters: [] }).matches(item101)).toBe(true);
  });

  it('applies exists to leaves: a typed attribute is found through its type key', () => {
    // EventBridge: "Exists matching only works on leaf nodes"; a DynamoDB attribute is { "S": … }.
    expect(passes(customer, { dynamodb: { NewImage: { AccountManager: { S: [{ exists: true }] } } } })).toBe(true);
    expect(passes(customer, { dynamodb: { NewImage: { AccountManager: [{ exists: true }] } } })).toBe(false);
    expect(passes(customer, { dynamodb: { OldImage: { AccountManager: { S: [{ exists: false }] } } } })).toBe(true);
  });

  it('compares DynamoDB numbers (N strings, NS elements) numerically, other strings never', () => {
    const qty = (n: string) => ({ dynamodb: { NewImage: { qty: { N: n }, tags: { NS: ['1', n] }, code: { S: n } } } });
    const n = (range: unknown[]) => ({ dynamodb: { NewImage: { qty: { N: [{ numeric: range }] } } } });
    expect(passes(qty('15'), n(['>', 10, '<=', 20]))).toBe(true);
    expect(passes(qty('1.5e1'), n(['=', 15]))).toBe(true);
    expect(passes(qty('25'), n(['>', 10, '<=', 20]))).toBe(false);
    expect(passes(qty('25'), { dynamodb: { NewImage: { tags: { NS: [{ numeric: ['>', 20] }] } } } })).toBe(true);
    expect(passes(qty('25'), { dynamodb: { NewImage: { code: { S: [{ numeric: ['>', 20] }] } } } })).toBe(false);
  });

  it('matches a list in the record when any element matches', () => {
    const record = { dynamodb: { NewImage: { tags: { SS: ['red', 'blue'] } } } };
    expect(passes(record, { dynamodb: { NewImage: { tags: { SS: ['blue'] } } } })).toBe(true);
    expect(passes(record, { dynamodb: { NewImage: { tags: { SS: ['green'] } } } })).toBe(false);
  });

  it('prefix, suffix and anything-but with their case-insensitive and affix forms', () => {
    const file = (name: string) => ({ name });
    expect(passes(file('IMG_1.PNG'), { name: [{ suffix: { 'equals-ignore-case': '.png' } }] })).toBe(true);
    expect(passes(file('img_1.png'), { name: [{ prefix: { 'equals-ignore-case': 'IMG_' } }] })).toBe(true);
    expect(passes(file('init-x'), { name: [{ 'anything-but': { prefix: 'init' } }] })).toBe(false);
    expect(passes(file('main-x'), { name: [{ 'anything-but': { prefix: 'init' } }] })).toBe(true);
    expect(passes(file('a.tmp'), { name: [{ 'anything-but': { suffix: '.tmp' } }] })).toBe(false);
    expect(passes(file('ALPHA'), { name: [{ 'anything-but': { 'equals-ignore-case': ['alpha', 'beta'] } }] })).toBe(
      false,
    );
    expect(passes(file('gamma'), { name: [{ 'anything-but': { 'equals-ignore-case': ['alpha', 'beta'] } }] })).toBe(
      true,
    );
    expect(passes(file('x'), { name: [{ 'anything-but': 'x' }] })).toBe(false);
    expect(passes({ n: 5 }, { n: [{ 'anything-but': [4, 6] }] })).toBe(true);
    // anything-but needs the field to be there.
    expect(passes({ other: 1 }, { name: [{ 'anything-but': 'x' }] })).toBe(false);
  });

  it('wildcard: * matches any run of characters, \\* a literal star', () => {
    const key = (k: string) => ({ k });
    expect(passes(key('dir/sub/file.png'), { k: [{ wildcard: 'dir/*.png' }] })).toBe(true);
    expect(passes(key('dir/file.jpg'), { k: [{ wildcard: 'dir/*.png' }] })).toBe(false);
    expect(passes(key('a*b'), { k: [{ wildcard: 'a\\*b' }] })).toBe(true);
    expect(passes(key('axb'), { k: [{ wildcard: 'a\\*b' }] })).toBe(false);
    expect(passes(key('x.y'), { k: [{ wildcard: 'x.y' }] })).toBe(true);
    expect(passes(key('xzy'), { k: [{ wildcard: 'x.y' }] })).toBe(false);
    expect(passes(key('w1'), { k: [{ 'anything-but': { wildcard: 'w*' } }] })).toBe(false);
  });

  it('$or nests, and combines with the fields beside it (AND)', () => {
    const pattern = {
      eventName: ['MODIFY'],
      dynamodb: { $or: [{ NewImage: { status: { S: ['done'] } } }, { OldImage: { status: { S: ['open'] } } }] },
    };
    const record = (eventName: string, newStatus: string, oldStatus: string) => ({
      eventName,
      dynamodb: { NewImage: { status: { S: newStatus } }, OldImage: { status: { S: oldStatus } } },
    });
    expect(passes(record('MODIFY', 'done', 'x'), pattern)).toBe(true);
    expect(passes(record('MODIFY', 'x', 'open'), pattern)).toBe(true);
    expect(passes(record('MODIFY', 'x', 'x'), pattern)).toBe(false);
    expect(passes(record('INSERT', 'done', 'open'), pattern)).toBe(false);
  });

  it('keeps attribute names with dots apart from nesting', () => {
    expect(passes({ 'a.b': 'x' }, { a: { b: ['x'] } })).toBe(false);
    expect(passes({ a: { b: 'x' } }, { 'a.b': ['x'] })).toBe(false);
    expect(passes({ 'a.b': 'x' }, { 'a.b': ['x'] })).toBe(true);
  });
});

describe('FilterCriteria: what Lambda refuses is refused at start-up, with the reason', () => {
  it('more filters than any account may have', () => {
    const many = Array.from({ length: MAX_FILTERS + 1 }, () => ({ eventName: ['INSERT'] }));
    expect(refusal(...many)).toMatch(/11 filters; Lambda allows 10 .*5 without a quota increase/);
    expect(() => compileFilterCriteria(criteria(...many.slice(1)))).not.toThrow();
  });

  it('a pattern longer than 4096 characters', () => {
    const long = { eventName: ['x'.repeat(MAX_PATTERN_LENGTH)] };
    expect(refusal(long)).toMatch(/characters; Lambda allows 4096/);
  });

  it.each([
    ['invalid JSON', '{ "eventName": [ "INSERT" ', /not valid JSON/],
    ['a pattern that is not an object', '["INSERT"]', /must be a JSON object/],
    ['a dynamodb part that is not JSON', { dynamodb: ['x'] }, /"dynamodb" must be an object/],
    ['a bare value instead of a list', { eventName: 'INSERT' }, /"eventName" must be an object or a list/],
    ['an empty list', { eventName: [] }, /empty list/],
    ['an unknown operator', { eventName: [{ 'begins-with': 'IN' }] }, /unknown operator "begins-with"/],
    ['two operators in one object', { n: [{ prefix: 'a', suffix: 'b' }] }, /exactly one operator/],
    ['exists without a boolean', { n: [{ exists: 'yes' }] }, /"exists" takes true or false/],
    ['prefix without a string', { n: [{ prefix: 1 }] }, /"prefix" takes a string/],
    ['numeric bounds in the wrong order', { n: [{ numeric: ['<', 5, '>', 1] }] }, /lower bound .* then an upper bound/],
    ['an empty numeric range', { n: [{ numeric: ['>', 10, '<', 5] }] }, /the range is empty/],
    ['an open range on one point', { n: [{ numeric: ['>', 5, '<=', 5] }] }, /the range is empty/],
    ['"=" inside a range', { n: [{ numeric: ['=', 1, '<', 5] }] }, /lower bound/],
    ['an unknown comparison', { n: [{ numeric: ['~', 3] }] }, /unknown comparison ~/],
    ['a non-number bound', { n: [{ numeric: ['>', '3'] }] }, /"3" is not a number/],
    ['a bound outside ±5e9', { n: [{ numeric: ['<', 6e9] }] }, /outside -5.0e9..5.0e9/],
    ['consecutive wildcards', { n: [{ wildcard: 'a**b' }] }, /consecutive wildcard/],
    ['an escape other than \\* or \\\\', { n: [{ wildcard: 'a\\nb' }] }, /may be escaped/],
    ['an empty anything-but list', { n: [{ 'anything-but': [] }] }, /empty list/],
    ['anything-but on an object value', { n: [{ 'anything-but': [{ a: 1 }] }] }, /strings or numbers/],
    ['$or that is not a list of patterns', { $or: { a: ['x'] } }, /"\$or" must be a non-empty list/],
  ])('%s', (_name, pattern, reason) => {
    expect(refusal(pattern)).toMatch(reason);
  });

  it('names the filter at fault', () => {
    expect(refusal({ eventName: ['INSERT'] }, { eventName: [] })).toMatch(/^FilterCriteria\.Filters\[1\]\.Pattern: /);
  });
});
