/**
 * Lambda's partial batch response for streams, as a pure decision
 * (https://docs.aws.amazon.com/lambda/latest/dg/services-ddb-batchfailurereporting.html):
 *
 * - success: a null or absent response, an empty object, a null or absent `batchItemFailures`,
 *   an empty `batchItemFailures` list;
 * - partial: `{ batchItemFailures: [{ itemIdentifier: <SequenceNumber> }, …] }` — Lambda
 *   checkpoints before the record with the lowest reported sequence number and retries every
 *   record from it on (records after it that succeeded are retried too);
 * - failed (the whole batch, retried under the retry policy): an empty-string or null
 *   `itemIdentifier`, an entry without an `itemIdentifier` key ("a bad key name"), and, as
 *   shardline reads "bad", an identifier that is not the sequence number of a record of this
 *   invocation, or a response of the wrong shape.
 *
 * Lambda ignores the response unless `FunctionResponseTypes` has `ReportBatchItemFailures`;
 * then every resolved invocation is a success.
 */

export type BatchResponseOutcome =
  | { kind: 'success' }
  /**
   * Records before `retryIndex` are done; the invocation's records from it on are retried.
   * `reported`: how many records the function listed as failed.
   */
  | { kind: 'partial'; retryIndex: number; retryFrom: string; reported: number }
  | { kind: 'failed'; reason: string };

/**
 * `sequenceNumbers`: the `dynamodb.SequenceNumber` of each record of the invocation, in stream
 * order (so the lowest reported sequence number is the one with the lowest index).
 */
export function interpretBatchResponse(
  sequenceNumbers: readonly string[],
  response: unknown,
  reportBatchItemFailures: boolean,
): BatchResponseOutcome {
  if (!reportBatchItemFailures || response === null || response === undefined) return { kind: 'success' };
  if (typeof response !== 'object' || Array.isArray(response))
    return failed(`the response must be an object or null, got ${shape(response)}`);
  const failures = (response as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === null || failures === undefined) return { kind: 'success' };
  if (!Array.isArray(failures)) return failed(`batchItemFailures must be a list, got ${shape(failures)}`);
  if (failures.length === 0) return { kind: 'success' };
  const index = new Map<string, number>();
  sequenceNumbers.forEach((sequenceNumber, i) => {
    if (!index.has(sequenceNumber)) index.set(sequenceNumber, i);
  });
  let lowest = Number.POSITIVE_INFINITY;
  for (const [i, failure] of (failures as unknown[]).entries()) {
    if (typeof failure !== 'object' || failure === null || Array.isArray(failure))
      return failed(`batchItemFailures[${i}] must be an object, got ${shape(failure)}`);
    if (!('itemIdentifier' in failure))
      return failed(
        `batchItemFailures[${i}] has no itemIdentifier (keys: ${Object.keys(failure).join(', ') || 'none'})`,
      );
    const id: unknown = failure.itemIdentifier;
    if (id === null || id === '') return failed(`batchItemFailures[${i}].itemIdentifier is ${JSON.stringify(id)}`);
    if (typeof id !== 'string')
      return failed(`batchItemFailures[${i}].itemIdentifier must be a sequence number string, got ${shape(id)}`);
    const at = index.get(id);
    if (at === undefined)
      return failed(`batchItemFailures[${i}].itemIdentifier ${JSON.stringify(id)} is not a record of this batch`);
    lowest = Math.min(lowest, at);
  }
  return { kind: 'partial', retryIndex: lowest, retryFrom: sequenceNumbers[lowest]!, reported: failures.length };
}

function failed(reason: string): BatchResponseOutcome {
  return { kind: 'failed', reason };
}

function shape(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'string') return `the string ${JSON.stringify(value.slice(0, 40))}`;
  return typeof value;
}
