import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { interpretBatchResponse } from '../../src/lambda/batch-response.js';

// The cases of https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html
const batch = ['111', '222', '333', '444'];

describe('partial batch responses (ReportBatchItemFailures)', () => {
  it.each([
    ['an empty batchItemFailures list', { batchItemFailures: [] }],
    ['a null batchItemFailures list', { batchItemFailures: null }],
    ['an empty EventResponse', {}],
    ['a null EventResponse', null],
    ['no response at all (undefined)', undefined],
  ])('treats %s as complete success', (_name, response) => {
    expect(interpretBatchResponse(batch, response, true)).toEqual({ kind: 'success' });
  });

  it.each([
    ['an empty string itemIdentifier', { batchItemFailures: [{ itemIdentifier: '' }] }, /is ""/],
    ['a null itemIdentifier', { batchItemFailures: [{ itemIdentifier: null }] }, /is null/],
    ['an itemIdentifier with a bad key name', { batchItemFailures: [{ itemIdentifer: '222' }] }, /no itemIdentifier/],
    [
      'an identifier that is no record of the batch',
      { batchItemFailures: [{ itemIdentifier: '999' }] },
      /not a record/,
    ],
    ['a numeric identifier', { batchItemFailures: [{ itemIdentifier: 222 }] }, /must be a sequence number string/],
    ['batchItemFailures that is not a list', { batchItemFailures: { itemIdentifier: '222' } }, /must be a list/],
    ['a response that is a string', 'done', /must be an object or null/],
    ['a response that is a list', [{ itemIdentifier: '222' }], /must be an object or null/],
    ['an entry that is not an object', { batchItemFailures: ['222'] }, /must be an object/],
  ])('treats %s as complete failure', (_name, response, reason) => {
    const outcome = interpretBatchResponse(batch, response, true);
    expect(outcome.kind).toBe('failed');
    expect(outcome.kind === 'failed' && outcome.reason).toMatch(reason);
  });

  it('one bad identifier fails the whole batch even next to good ones', () => {
    const response = { batchItemFailures: [{ itemIdentifier: '333' }, { itemIdentifier: '' }] };
    expect(interpretBatchResponse(batch, response, true).kind).toBe('failed');
  });

  it('retries from the record with the lowest reported sequence number', () => {
    const response = { batchItemFailures: [{ itemIdentifier: '444' }, { itemIdentifier: '222' }] };
    expect(interpretBatchResponse(batch, response, true)).toEqual({
      kind: 'partial',
      retryIndex: 1,
      retryFrom: '222',
      reported: 2,
    });
  });

  it('ignores the response entirely unless ReportBatchItemFailures is on', () => {
    for (const response of [{ batchItemFailures: [{ itemIdentifier: '222' }] }, 'junk', { batchItemFailures: [{}] }]) {
      expect(interpretBatchResponse(batch, response, false)).toEqual({ kind: 'success' });
    }
  });

  const sequenceNumbers = fc
    .uniqueArray(fc.bigInt({ min: 1n, max: 10n ** 30n }), { minLength: 1, maxLength: 30 })
    .map((values) => values.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).map(String));

  it('property: any non-empty set of reported records retries from the lowest of them', () => {
    fc.assert(
      fc.property(
        sequenceNumbers.chain((seqs) =>
          fc.tuple(fc.constant(seqs), fc.array(fc.integer({ min: 0, max: seqs.length - 1 }), { minLength: 1 })),
        ),
        fc.anything(),
        ([seqs, picks], extra) => {
          const response = {
            batchItemFailures: picks.map((i) => ({ itemIdentifier: seqs[i]!, extra })),
            other: extra,
          };
          const lowest = Math.min(...picks);
          expect(interpretBatchResponse(seqs, response, true)).toEqual({
            kind: 'partial',
            retryIndex: lowest,
            retryFrom: seqs[lowest],
            reported: picks.length,
          });
        },
      ),
    );
  });

  it('property: an identifier outside the batch fails it, wherever it sits in the list', () => {
    fc.assert(
      fc.property(sequenceNumbers, fc.string(), fc.nat(), (seqs, stranger, at) => {
        fc.pre(!seqs.includes(stranger));
        const failures = seqs.slice(0, 3).map((s) => ({ itemIdentifier: s }));
        failures.splice(at % (failures.length + 1), 0, { itemIdentifier: stranger });
        expect(interpretBatchResponse(seqs, { batchItemFailures: failures }, true).kind).toBe('failed');
      }),
    );
  });

  it('property: the outcome does not depend on the order of the reported failures', () => {
    fc.assert(
      fc.property(
        sequenceNumbers.chain((seqs) => fc.tuple(fc.constant(seqs), fc.shuffledSubarray(seqs, { minLength: 1 }))),
        ([seqs, reported]) => {
          const forward = reported.map((itemIdentifier) => ({ itemIdentifier }));
          expect(interpretBatchResponse(seqs, { batchItemFailures: forward }, true)).toEqual(
            interpretBatchResponse(seqs, { batchItemFailures: [...forward].reverse() }, true),
          );
        },
      ),
    );
  });
});
