import type {
  AttributeValue,
  BatchGetItemCommandOutput,
  CancellationReason,
  TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { TransientError } from '@shardline/core';
import { forEachLimit } from './concurrency.js';
import { LeaseBatchError } from './errors.js';

/** BatchGetItem's own limit of keys per request. */
export const BATCH_GET_MAX_KEYS = 100;
/** Requests per batch of keys while DynamoDB leaves some unprocessed (`batchGetRows` with 'retry'). */
const UNPROCESSED_KEYS_ATTEMPTS = 3;
/** TransactWriteItems' own limit of actions per request. */
export const TRANSACT_MAX_ITEMS = 100;
/**
 * Transactions in flight per `createLeases` / `deleteLeases` call: 400 writes at once, as many as
 * the 32 single writes they replace would take ~12 round trips to make.
 */
export const TRANSACTIONS_IN_FLIGHT = 4;
/** Single conditional writes in flight when a cancelled transaction falls back to them. */
const FALLBACK_WRITES_IN_FLIGHT = 8;

/** Positional, one per action (`None` for an action that was fine, missing when unknown). */
export type CancellationReasons = readonly (CancellationReason | undefined)[];

/**
 * The single requests a batch is made of, sent by LeaseStore: it stays the one owner of
 * lease-table I/O and of SDK error translation; this module only decides how a batch is cut,
 * retried and completed.
 */
export interface BatchRequests {
  readonly tableName: string;
  /** One strongly consistent BatchGetItem of at most BATCH_GET_MAX_KEYS keys. */
  batchGet(keys: Record<string, AttributeValue>[], signal?: AbortSignal): Promise<BatchGetItemCommandOutput>;
  /** One TransactWriteItems: undefined when written, the reasons when DynamoDB cancelled it. */
  transact(operation: string, actions: TransactWriteItem[]): Promise<CancellationReasons | undefined>;
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * The rows of these keys (unmarshalled, unvalidated), BatchGet's 100 keys a request. `retry`:
 * unprocessed keys are asked again, then reported as a TransientError (the caller's next read
 * tries again; a missing leader item would look like a vacancy). `skip`: one request per chunk,
 * what DynamoDB left unprocessed is simply read next time. The keys must be distinct.
 */
export async function batchGetRows(
  requests: BatchRequests,
  keys: readonly string[],
  unprocessed: 'retry' | 'skip',
  signal?: AbortSignal,
): Promise<Array<Record<string, unknown>>> {
  const { tableName } = requests;
  const attempts = unprocessed === 'retry' ? UNPROCESSED_KEYS_ATTEMPTS : 1;
  const rows: Array<Record<string, unknown>> = [];
  for (const part of chunk(keys, BATCH_GET_MAX_KEYS)) {
    let request = part.map((leaseKey): Record<string, AttributeValue> => ({ leaseKey: { S: leaseKey } }));
    for (let attempt = 0; request.length > 0 && attempt < attempts; attempt++) {
      const answer = await requests.batchGet(request, signal);
      for (const item of answer.Responses?.[tableName] ?? []) rows.push(unmarshall(item));
      request = answer.UnprocessedKeys?.[tableName]?.Keys ?? [];
    }
    if (unprocessed === 'retry' && request.length > 0)
      throw new TransientError(`BatchGetItem on lease table ${tableName} left keys unprocessed`);
  }
  return rows;
}

/**
 * Writes `items` in transactions of up to TRANSACT_MAX_ITEMS (TRANSACTIONS_IN_FLIGHT at a time)
 * instead of a request each; returns the items written. A transaction is cancelled whole when
 * one condition fails: then the items its `CancellationReasons` name as `ConditionalCheckFailed`
 * are left alone (their condition is the answer), and every other item (no reason given, a
 * conflict, a throttle) is written again on its own by `single` (false: its condition failed),
 * so one failed condition never fails the other 99. `proceed` is asked before each request. Any
 * other error ends the call, once the requests in flight are done, with a LeaseBatchError
 * carrying the items written meanwhile.
 */
export async function writeInTransactions<T>(
  requests: BatchRequests,
  operation: string,
  items: readonly T[],
  proceed: () => boolean,
  action: (item: T) => TransactWriteItem,
  single: (item: T) => Promise<boolean>,
): Promise<T[]> {
  const written: T[] = [];
  let failure: unknown;
  // After a failure no new request starts, and those in flight are let finish: what they wrote
  // is reported with the error, so the caller still tells the workers concerned.
  const go = () => failure === undefined && proceed();
  const writeAlone = async (batch: readonly T[]) =>
    forEachLimit(batch, FALLBACK_WRITES_IN_FLIGHT, async (item) => {
      try {
        if (go() && (await single(item))) written.push(item);
      } catch (err) {
        failure ??= err;
      }
    });
  const writeBatch = async (batch: readonly T[]) => {
    // One item needs no transaction (which would also cost it twice the write units).
    if (batch.length === 1) return writeAlone(batch);
    const reasons = await requests.transact(operation, batch.map(action));
    if (reasons === undefined) {
      written.push(...batch);
      return;
    }
    // An action with no reason is unknown, never taken to have failed its condition.
    await writeAlone(batch.filter((_, i) => reasons[i]?.Code !== 'ConditionalCheckFailed'));
  };
  await forEachLimit(chunk(items, TRANSACT_MAX_ITEMS), TRANSACTIONS_IN_FLIGHT, async (batch) => {
    if (!go()) return;
    try {
      await writeBatch(batch);
    } catch (err) {
      failure ??= err;
    }
  });
  if (failure !== undefined) throw new LeaseBatchError(operation, written, failure);
  return written;
}
