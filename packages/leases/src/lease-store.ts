import {
  BatchGetItemCommand,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  TransactWriteItemsCommand,
  UpdateItemCommand,
  type AttributeValue,
  type CancellationReason,
  type TransactWriteItem,
  type BatchGetItemCommandOutput,
  type GetItemCommandOutput,
  type ScanCommandOutput,
  type UpdateItemCommandOutput,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { batchGetRows, writeInTransactions, type BatchRequests, type CancellationReasons } from './lease-batches.js';
import { ensureLeaseTable } from './lease-table-setup.js';
import {
  checkpointWrite,
  ITEM_ABSENT,
  deleteLeaseCondition,
  epochBumpWrites,
  resetWrite,
  claimFreeWrite,
  transferWrite,
  unchangedCondition,
} from './lease-writes.js';
import type { Notices } from './notices.js';
import { retry, systemClock, type Clock, type RetryOptions } from '@shardline/core';
import { LeaseConflictError, translateLeaseError } from './errors.js';
import {
  classifyItems,
  INBOX_PREFIX,
  LEADER_KEY,
  NOTICE_PREFIX,
  leaseItemSchema,
  workerItemSchema,
  workerKey,
  type AuditItem,
  type LeaderItem,
  type LeaseItem,
  type TableSnapshot,
  type WorkerItem,
} from './items.js';

/**
 * The retry of a write no next cycle would make again (see "Who retries what" in
 * docs/architecture.md): `ensureTable` at start, a release or hand-off's `transfer`, the
 * children of a finished shard, the leader and heartbeat items at stop. Retryable errors only
 * (throttling, transient faults): a lost condition is an answer, never retried.
 */
export const ONE_SHOT_RETRY = { maxAttempts: 3, baseMs: 50, capMs: 1_000 } as const satisfies Pick<
  RetryOptions,
  'maxAttempts' | 'baseMs' | 'capMs'
>;

/** For the calls that are sometimes one-shot: `true` when no next cycle will try again (then ONE_SHOT_RETRY applies). */
export interface OneShotOption {
  oneShot?: boolean;
}

/** The new owner of a lease: a worker and its current process incarnation. */
export interface OwnerRef {
  workerId: string;
  sessionId: string;
}

/**
 * All lease-table I/O, nothing else: every write is conditional on what the caller read
 * (owner, counter, session), and every SDK error leaves here translated
 * (ConditionalCheckFailed → LeaseConflictError / LeaseLostError, throttles → ThrottledError).
 */
export class LeaseStore {
  readonly tableName: string;
  readonly #client: DynamoDBClient;
  readonly #clock: Clock;
  /** The single requests `lease-batches.ts` makes its batches of, sent here. */
  readonly #batchRequests: BatchRequests;

  constructor(client: DynamoDBClient, tableName: string, clock: Clock = systemClock) {
    this.#client = client;
    this.tableName = tableName;
    this.#clock = clock;
    this.#batchRequests = {
      tableName,
      batchGet: (keys, signal) =>
        this.#send<BatchGetItemCommandOutput>(
          'BatchGetItem',
          undefined,
          new BatchGetItemCommand({ RequestItems: { [tableName]: { Keys: keys, ConsistentRead: true } } }),
          signal,
        ),
      transact: (operation, actions) => this.#transact(operation, actions),
    };
  }

  /** Creates the table when missing and waits until it is ACTIVE (`ensureLeaseTable`; one-shot: retried here). */
  ensureTable(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    return this.#oneShot(
      'ensureTable',
      () => ensureLeaseTable(this.#client, this.tableName, this.#clock, options),
      options.signal,
    );
  }

  /** The whole table, strongly consistent, every page; rows failing their schema come back in `invalid`. */
  async scan(signal?: AbortSignal): Promise<TableSnapshot> {
    const rows: Array<Record<string, unknown>> = [];
    let start: Record<string, AttributeValue> | undefined;
    do {
      const out = await this.#send<ScanCommandOutput>(
        'Scan',
        undefined,
        new ScanCommand({ TableName: this.tableName, ConsistentRead: true, ExclusiveStartKey: start }),
        signal,
      );
      for (const item of out.Items ?? []) rows.push(unmarshall(item));
      start = out.LastEvaluatedKey;
    } while (start);
    return classifyItems(rows);
  }

  async getLease(leaseKey: string): Promise<LeaseItem | undefined> {
    const out = await this.#send<GetItemCommandOutput>(
      'GetItem',
      leaseKey,
      new GetItemCommand({ TableName: this.tableName, Key: key(leaseKey), ConsistentRead: true }),
    );
    if (!out.Item) return undefined;
    const parsed = leaseItemSchema.safeParse(unmarshall(out.Item));
    return parsed.success ? parsed.data : undefined;
  }

  /**
   * The leases of these keys, strongly consistent, BatchGet's 100 keys a request; missing and
   * invalid rows are left out (as `getLease` gives undefined for them). Unprocessed keys are
   * asked again, then reported as a TransientError (the caller's next read tries again).
   */
  async getLeases(leaseKeys: readonly string[], signal?: AbortSignal): Promise<LeaseItem[]> {
    const rows = await batchGetRows(this.#batchRequests, [...new Set(leaseKeys)], 'retry', signal);
    const out: LeaseItem[] = [];
    for (const row of rows) {
      const parsed = leaseItemSchema.safeParse(row);
      if (parsed.success) out.push(parsed.data);
    }
    return out;
  }

  /** The leader item and the given workers' heartbeat items, in one strongly consistent BatchGet. */
  async getLeaderAndWorkers(
    workerIds: readonly string[],
    signal?: AbortSignal,
  ): Promise<{ leader: LeaderItem | undefined; workers: WorkerItem[] }> {
    const keys = [LEADER_KEY, ...workerIds.map(workerKey)];
    const snapshot = classifyItems(await batchGetRows(this.#batchRequests, keys, 'retry', signal));
    return { leader: snapshot.leader, workers: snapshot.workers };
  }

  /**
   * Tells other workers that leases changed (see `epoch` on the leader item): all of them, or
   * only those `notices` names — a bare notice moves the worker's `notice#` counter, lease keys
   * go to its `inbox#` set; `targetedEpoch` moves with `epoch`, so the others see nothing meant
   * for them.
   */
  async bumpEpoch(notices?: Notices): Promise<void> {
    for (const write of epochBumpWrites(notices)) {
      try {
        await this.#send(
          'bumpEpoch',
          LEADER_KEY,
          new UpdateItemCommand({ TableName: this.tableName, Key: key(LEADER_KEY), ...write }),
        );
      } catch (err) {
        // No leader item: the next leader's first full read finds everything anyway.
        if (!(err instanceof LeaseConflictError)) throw err;
      }
    }
  }

  /** Removes lease keys from a worker's inbox (read and acted on), or the whole inbox and notice (a worker gone). */
  async clearInbox(workerId: string, leaseKeys?: readonly string[]): Promise<void> {
    const names = { '#i': `${INBOX_PREFIX}${workerId}`, '#n': `${NOTICE_PREFIX}${workerId}` };
    try {
      await this.#send(
        'clearInbox',
        LEADER_KEY,
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: key(LEADER_KEY),
          ConditionExpression: 'attribute_exists(leaseKey)',
          ...(leaseKeys === undefined
            ? { UpdateExpression: 'REMOVE #i, #n', ExpressionAttributeNames: names }
            : {
                UpdateExpression: 'DELETE #i :keys',
                ExpressionAttributeNames: { '#i': names['#i'] },
                ExpressionAttributeValues: marshall({ ':keys': new Set(leaseKeys) }),
              }),
        }),
      );
    } catch (err) {
      if (!(err instanceof LeaseConflictError)) throw err;
    }
  }

  /**
   * The heartbeat items of these workers (strongly consistent, BatchGet's 100 keys a request): the
   * leader's cheap way to see heartbeats change sooner than a full read would. Items missing or
   * invalid are left out; unprocessed keys are simply read next time.
   */
  async getWorkers(workerIds: readonly string[], signal?: AbortSignal): Promise<WorkerItem[]> {
    const rows = await batchGetRows(this.#batchRequests, workerIds.map(workerKey), 'skip', signal);
    const out: WorkerItem[] = [];
    for (const row of rows) {
      const parsed = workerItemSchema.safeParse(row);
      if (parsed.success) out.push(parsed.data);
    }
    return out;
  }

  /** Writes this worker's heartbeat; a new session overwrites an old incarnation's item. */
  async heartbeat(item: WorkerItem, previousSession: string | undefined, signal?: AbortSignal): Promise<void> {
    await this.#send(
      'heartbeat',
      item.leaseKey,
      new PutItemCommand({
        TableName: this.tableName,
        Item: marshall(item, { removeUndefinedValues: true }),
        ...(previousSession === undefined
          ? {}
          : {
              ConditionExpression: 'attribute_not_exists(leaseKey) OR sessionId = :session',
              ExpressionAttributeValues: marshall({ ':session': previousSession }),
            }),
      }),
      signal,
    );
  }

  /** Deletes this worker's heartbeat item at stop (one-shot: retried here). */
  async deleteWorker(workerId: string, sessionId: string): Promise<void> {
    await this.#oneShot('deleteWorker', () =>
      this.#send(
        'DeleteItem',
        workerKey(workerId),
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: key(workerKey(workerId)),
          ConditionExpression: 'sessionId = :session',
          ExpressionAttributeValues: marshall({ ':session': sessionId }),
        }),
      ),
    );
  }

  /** Creates a lease unless one exists; false when it already did. */
  async createLease(item: LeaseItem, options: OneShotOption = {}): Promise<boolean> {
    const send = () =>
      this.#send(
        'createLease',
        item.leaseKey,
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall(item, { removeUndefinedValues: true }),
          ...ITEM_ABSENT,
        }),
      );
    try {
      await (options.oneShot ? this.#oneShot('createLease', send) : send());
      return true;
    } catch (err) {
      if (err instanceof LeaseConflictError) return false;
      throw err;
    }
  }

  /**
   * Creates the leases that do not exist yet, in transactions of up to TRANSACT_MAX_ITEMS
   * (TRANSACTIONS_IN_FLIGHT at a time) instead of a request each: a new application of 10,000
   * shards is 100 requests, not 10,000. Returns the items created. A transaction is cancelled
   * whole when one condition fails (a lease that exists, e.g. a child the worker ending its
   * parent created): then the items its `CancellationReasons` name as `ConditionalCheckFailed`
   * exist and are left alone, and every other item (no reason given, a conflict, a throttle) is
   * written again on its own with the same condition, so one existing lease never fails the
   * other 99. `proceed` is asked before each request (the leader checks it still leads). Any
   * other error ends the call, once the requests in flight are done, with a LeaseBatchError
   * carrying the items written meanwhile (the leader's next cycle decides the rest again).
   */
  async createLeases(items: readonly LeaseItem[], proceed: () => boolean = () => true): Promise<LeaseItem[]> {
    return writeInTransactions(
      this.#batchRequests,
      'createLeases',
      items,
      proceed,
      (item) => ({
        Put: {
          TableName: this.tableName,
          Item: marshall(item, { removeUndefinedValues: true }),
          ...ITEM_ABSENT,
        },
      }),
      (item) => this.createLease(item),
    );
  }

  /**
   * Deletes leases conditional on the counter read, in transactions as `createLeases` does; a
   * lease whose counter moved is left (not returned). Returns the leases deleted.
   */
  async deleteLeases(leases: readonly LeaseItem[], proceed: () => boolean = () => true): Promise<LeaseItem[]> {
    return writeInTransactions(
      this.#batchRequests,
      'deleteLeases',
      leases,
      proceed,
      (lease) => ({
        Delete: {
          TableName: this.tableName,
          Key: key(lease.leaseKey),
          ...deleteLeaseCondition(lease),
        },
      }),
      async (lease) => {
        try {
          await this.deleteLease(lease);
          return true;
        } catch (err) {
          if (err instanceof LeaseConflictError) return false;
          throw err;
        }
      },
    );
  }

  /**
   * Moves a lease to `to` (or to nobody) with a counter bump, conditional on the counter and
   * owner the caller read. Clears any pending hand-off. A lease that had an owner and is still
   * at LATEST moves at TRIM_HORIZON.
   */
  async transfer(
    lease: LeaseItem,
    to: OwnerRef | undefined,
    options: { lostOnConflict?: boolean } & OneShotOption = {},
  ): Promise<LeaseItem> {
    const write = transferWrite(lease, to, this.#iso());
    const send = () =>
      this.#send<UpdateItemCommandOutput>(
        'transfer',
        lease.leaseKey,
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: key(lease.leaseKey),
          ...write,
          ReturnValues: 'ALL_NEW',
        }),
        undefined,
        options.lostOnConflict,
      );
    const out = await (options.oneShot ? this.#oneShot('transfer', send) : send());
    return leaseItemSchema.parse(unmarshall(out.Attributes ?? {}));
  }

  /**
   * Takes a lease nobody owns without reading it first (`claimFreeWrite`): the taken row, or
   * undefined when the row is not free to take that way (owned, finished, at LATEST, or absent).
   */
  async claimFree(leaseKey: string, to: OwnerRef): Promise<LeaseItem | undefined> {
    try {
      const out = await this.#send<UpdateItemCommandOutput>(
        'claimFree',
        leaseKey,
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: key(leaseKey),
          ...claimFreeWrite(to, this.#iso()),
          ReturnValues: 'ALL_NEW',
        }),
      );
      return leaseItemSchema.parse(unmarshall(out.Attributes ?? {}));
    } catch (err) {
      if (err instanceof LeaseConflictError) return undefined;
      throw err;
    }
  }

  /** Asks the live owner to hand the lease to `to`; the owner's `release` performs the move. */
  async requestHandOff(lease: LeaseItem, to: OwnerRef): Promise<void> {
    if (lease.leaseOwner === undefined) throw new TypeError(`requestHandOff needs an owned lease (${lease.leaseKey})`);
    await this.#send(
      'requestHandOff',
      lease.leaseKey,
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: key(lease.leaseKey),
        UpdateExpression:
          'SET pendingOwner = :to, pendingOwnerSession = :session, handOffRequestedAt = :now, updatedAt = :now',
        ConditionExpression: 'leaseCounter = :expected AND leaseOwner = :owner',
        ExpressionAttributeValues: marshall({
          ':to': to.workerId,
          ':session': to.sessionId,
          ':now': this.#iso(),
          ':expected': lease.leaseCounter,
          ':owner': lease.leaseOwner,
        }),
      }),
    );
  }

  /**
   * Records a checkpoint, fenced on owner and counter (LeaseLostError otherwise). SHARD_END
   * also gives the lease up (owner removed, counter bumped): a finished shard is nobody's work.
   */
  async checkpoint(
    leaseKey: string,
    owner: string,
    counter: number,
    checkpoint: string,
    session?: string,
    processorState?: string,
  ): Promise<LeaseItem> {
    const write = checkpointWrite(
      {
        owner,
        counter,
        checkpoint,
        ...(session === undefined ? {} : { session }),
        ...(processorState === undefined ? {} : { processorState }),
      },
      this.#iso(),
    );
    const out = await this.#send<UpdateItemCommandOutput>(
      'checkpoint',
      leaseKey,
      new UpdateItemCommand({ TableName: this.tableName, Key: key(leaseKey), ...write, ReturnValues: 'ALL_NEW' }),
      undefined,
      true,
    );
    return leaseItemSchema.parse(unmarshall(out.Attributes ?? {}));
  }

  /**
   * An operator's move of a lease (`shardline reset`): the new checkpoint, owner and pending
   * hand-off removed, counter bumped, conditional on the counter, owner and checkpoint read.
   * The bump fences a live owner: its next checkpoint fails and it stops the shard.
   */
  async resetLease(lease: LeaseItem, checkpoint: string): Promise<LeaseItem> {
    const out = await this.#send<UpdateItemCommandOutput>(
      'resetLease',
      lease.leaseKey,
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: key(lease.leaseKey),
        ...resetWrite(lease, checkpoint, this.#iso()),
        ReturnValues: 'ALL_NEW',
      }),
    );
    return leaseItemSchema.parse(unmarshall(out.Attributes ?? {}));
  }

  /** Records an operator action (one new item each time; one-shot: retried here). */
  async putAudit(item: AuditItem): Promise<void> {
    await this.#oneShot('putAudit', () =>
      this.#send(
        'putAudit',
        item.leaseKey,
        new PutItemCommand({
          TableName: this.tableName,
          Item: marshall(item, { removeUndefinedValues: true }),
          ...ITEM_ABSENT,
        }),
      ),
    );
  }

  /** Records children found for a finished shard (for humans and for cleanup; one-shot: retried here). */
  async setChildren(lease: LeaseItem, childShardIds: string[]): Promise<void> {
    await this.#oneShot('setChildren', () =>
      this.#send(
        'setChildren',
        lease.leaseKey,
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: key(lease.leaseKey),
          UpdateExpression: 'SET childShardIds = :children',
          ConditionExpression: 'attribute_exists(leaseKey)',
          ExpressionAttributeValues: marshall({ ':children': childShardIds }),
        }),
      ),
    );
  }

  async deleteLease(lease: LeaseItem): Promise<void> {
    await this.#send(
      'deleteLease',
      lease.leaseKey,
      new DeleteItemCommand({
        TableName: this.tableName,
        Key: key(lease.leaseKey),
        ...deleteLeaseCondition(lease),
      }),
    );
  }

  /**
   * Takes the leader item: creates it when absent, or replaces `previous` (read by the caller,
   * its holder judged dead) conditional on its counter.
   */
  async acquireLeader(me: OwnerRef, previous: LeaderItem | undefined): Promise<LeaderItem> {
    const now = this.#iso();
    const item: LeaderItem = {
      leaseKey: LEADER_KEY,
      itemType: 'leader',
      leaseOwner: me.workerId,
      ownerSession: me.sessionId,
      leaseCounter: previous ? previous.leaseCounter + 1 : 0,
      epoch: previous ? previous.epoch + 1 : 0,
      // A new item: no notices yet (every worker reads the table when the leader changes anyway).
      targetedEpoch: 0,
      electedAt: now,
      updatedAt: now,
    };
    await this.#send(
      'acquireLeader',
      LEADER_KEY,
      new PutItemCommand({
        TableName: this.tableName,
        Item: marshall(item),
        ...(previous
          ? {
              ConditionExpression: 'leaseCounter = :expected AND ownerSession = :session',
              ExpressionAttributeValues: marshall({
                ':expected': previous.leaseCounter,
                ':session': previous.ownerSession,
              }),
            }
          : ITEM_ABSENT),
      }),
    );
    return item;
  }

  /** A row as stored, unvalidated (to replace a garbage row only if it is still what we saw). */
  async getRaw(leaseKey: string): Promise<Record<string, AttributeValue> | undefined> {
    const out = await this.#send<GetItemCommandOutput>(
      'GetItem',
      leaseKey,
      new GetItemCommand({ TableName: this.tableName, Key: key(leaseKey), ConsistentRead: true }),
    );
    return out.Item;
  }

  /**
   * Deletes a row only if it still holds the values read (scalars compared, other attributes
   * required to exist): a row someone fixed meanwhile is left alone (LeaseConflictError).
   */
  async deleteIfUnchanged(leaseKey: string, raw: Record<string, AttributeValue>): Promise<void> {
    await this.#send(
      'deleteIfUnchanged',
      leaseKey,
      new DeleteItemCommand({ TableName: this.tableName, Key: key(leaseKey), ...unchangedCondition(raw) }),
    );
  }

  /** Gives the leader item up at stop (one-shot: retried here). */
  async releaseLeader(held: LeaderItem): Promise<void> {
    await this.#oneShot('releaseLeader', () =>
      this.#send(
        'releaseLeader',
        LEADER_KEY,
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: key(LEADER_KEY),
          ConditionExpression: 'leaseCounter = :expected AND ownerSession = :session',
          ExpressionAttributeValues: marshall({ ':expected': held.leaseCounter, ':session': held.ownerSession }),
        }),
      ),
    );
  }

  /** One TransactWriteItems: a cancellation is an answer (its reasons), any other error is translated. */
  async #transact(operation: string, actions: TransactWriteItem[]): Promise<CancellationReasons | undefined> {
    try {
      await this.#client.send(new TransactWriteItemsCommand({ TransactItems: actions }));
      return undefined;
    } catch (err) {
      if ((err as { name?: string }).name !== 'TransactionCanceledException')
        throw translateLeaseError(err, { operation, tableName: this.tableName });
      return (err as { CancellationReasons?: CancellationReason[] }).CancellationReasons ?? [];
    }
  }

  #oneShot<T>(operation: string, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    return retry(operation, fn, { ...ONE_SHOT_RETRY, clock: this.#clock, ...(signal ? { signal } : {}) });
  }

  async #send<T = unknown>(
    operation: string,
    leaseKey: string | undefined,
    command: { input: unknown },
    signal?: AbortSignal,
    lostOnConflict = false,
  ): Promise<T> {
    try {
      // The SDK's send is overloaded per command; one cast here keeps the call sites typed.
      const send = this.#client.send.bind(this.#client) as (
        c: unknown,
        o?: { abortSignal?: AbortSignal },
      ) => Promise<T>;
      return await send(command, signal ? { abortSignal: signal } : undefined);
    } catch (err) {
      throw translateLeaseError(err, { operation, leaseKey, tableName: this.tableName, lostOnConflict, signal });
    }
  }

  #iso(): string {
    return new Date(this.#clock.now()).toISOString();
  }
}

function key(leaseKey: string): Record<string, AttributeValue> {
  return { leaseKey: { S: leaseKey } };
}
