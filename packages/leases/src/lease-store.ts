import {
  BatchGetItemCommand,
  CreateTableCommand,
  DeleteItemCommand,
  DescribeTableCommand,
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
  type TableDescription,
} from '@aws-sdk/client-dynamodb';
import { marshall, unmarshall } from '@aws-sdk/util-dynamodb';
import { forEachLimit } from './concurrency.js';
import type { Notices } from './notices.js';
import { ConfigError, TransientError, retry, systemClock, type Clock, type RetryOptions } from '@shardline/core';
import { LeaseBatchError, LeaseConflictError, translateLeaseError } from './errors.js';
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

/** How long `ensureTable` waits for a table to become ACTIVE (a new table takes seconds; DynamoDB Local none). */
const TABLE_ACTIVE_TIMEOUT_MS = 120_000;
/** How often `ensureTable` asks for the table status meanwhile. */
const TABLE_STATUS_POLL_MS = 500;
/** BatchGetItem's own limit of keys per request. */
const BATCH_GET_MAX_KEYS = 100;
/** Worker notices per epoch bump (an update expression may be 4 KB; worker ids are short). */
const NOTICES_PER_BUMP = 50;

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** TransactWriteItems' own limit of actions per request. */
export const TRANSACT_MAX_ITEMS = 100;
/**
 * Transactions in flight per `createLeases` / `deleteLeases` call: 400 writes at once, as many as
 * the 32 single writes they replace would take ~12 round trips to make.
 */
export const TRANSACTIONS_IN_FLIGHT = 4;
/** Single conditional writes in flight when a cancelled transaction falls back to them. */
const FALLBACK_WRITES_IN_FLIGHT = 8;

/** Requests per batch of keys in `getLeaderAndWorkers` while DynamoDB leaves some unprocessed. */
const UNPROCESSED_KEYS_ATTEMPTS = 3;

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

  constructor(client: DynamoDBClient, tableName: string, clock: Clock = systemClock) {
    this.#client = client;
    this.tableName = tableName;
    this.#clock = clock;
  }

  /**
   * Creates the table when missing (PAY_PER_REQUEST) and waits until it is ACTIVE. An existing
   * table must have exactly the `leaseKey` string hash key: anything else is someone else's
   * table, and we never write into it.
   */
  ensureTable(options: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<void> {
    return this.#oneShot('ensureTable', () => this.#ensureTable(options), options.signal);
  }

  async #ensureTable(options: { timeoutMs?: number; signal?: AbortSignal }): Promise<void> {
    const deadline = this.#clock.now() + (options.timeoutMs ?? TABLE_ACTIVE_TIMEOUT_MS);
    let table = await this.#describe();
    if (!table) {
      try {
        await this.#client.send(
          new CreateTableCommand({
            TableName: this.tableName,
            AttributeDefinitions: [{ AttributeName: 'leaseKey', AttributeType: 'S' }],
            KeySchema: [{ AttributeName: 'leaseKey', KeyType: 'HASH' }],
            BillingMode: 'PAY_PER_REQUEST',
          }),
        );
      } catch (err) {
        // Another worker created it first: fine, wait for it like ours.
        if ((err as { name?: string }).name !== 'ResourceInUseException') {
          throw translateLeaseError(err, { operation: 'CreateTable', tableName: this.tableName });
        }
      }
      table = await this.#describe();
    }
    for (;;) {
      if (!table) throw new ConfigError(`lease table ${this.tableName} vanished while it was being created`);
      checkKeySchema(this.tableName, table);
      if (table.TableStatus === 'ACTIVE') return;
      if (table.TableStatus === 'DELETING')
        throw new ConfigError(`lease table ${this.tableName} is being deleted; wait and start again`);
      if (this.#clock.now() >= deadline)
        throw new ConfigError(
          `lease table ${this.tableName} did not become ACTIVE in time (status ${table.TableStatus})`,
        );
      await this.#clock.sleep(TABLE_STATUS_POLL_MS, options.signal);
      table = await this.#describe();
    }
  }

  async #describe(): Promise<TableDescription | undefined> {
    try {
      const out = await this.#client.send(new DescribeTableCommand({ TableName: this.tableName }));
      return out.Table;
    } catch (err) {
      if ((err as { name?: string }).name === 'ResourceNotFoundException') return undefined;
      throw translateLeaseError(err, { operation: 'DescribeTable', tableName: this.tableName });
    }
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
    const out: LeaseItem[] = [];
    for (const keys of chunk([...new Set(leaseKeys)], BATCH_GET_MAX_KEYS)) {
      let request: Record<string, AttributeValue>[] = keys.map(key);
      for (let attempt = 0; request.length > 0 && attempt < UNPROCESSED_KEYS_ATTEMPTS; attempt++) {
        const answer = await this.#send<BatchGetItemCommandOutput>(
          'BatchGetItem',
          undefined,
          new BatchGetItemCommand({ RequestItems: { [this.tableName]: { Keys: request, ConsistentRead: true } } }),
          signal,
        );
        for (const item of answer.Responses?.[this.tableName] ?? []) {
          const parsed = leaseItemSchema.safeParse(unmarshall(item));
          if (parsed.success) out.push(parsed.data);
        }
        request = answer.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
      }
      if (request.length > 0)
        throw new TransientError(`BatchGetItem on lease table ${this.tableName} left keys unprocessed`);
    }
    return out;
  }

  /** The leader item and the given workers' heartbeat items, in one strongly consistent BatchGet. */
  async getLeaderAndWorkers(
    workerIds: readonly string[],
    signal?: AbortSignal,
  ): Promise<{ leader: LeaderItem | undefined; workers: WorkerItem[] }> {
    const keys = [LEADER_KEY, ...workerIds.map(workerKey)];
    const rows: Array<Record<string, unknown>> = [];
    for (let i = 0; i < keys.length; i += BATCH_GET_MAX_KEYS) {
      let request: Record<string, AttributeValue>[] = keys.slice(i, i + BATCH_GET_MAX_KEYS).map(key);
      // Unprocessed keys are asked again: a missing leader item would look like a vacancy.
      for (let attempt = 0; request.length > 0 && attempt < UNPROCESSED_KEYS_ATTEMPTS; attempt++) {
        const answer = await this.#send<BatchGetItemCommandOutput>(
          'BatchGetItem',
          undefined,
          new BatchGetItemCommand({ RequestItems: { [this.tableName]: { Keys: request, ConsistentRead: true } } }),
          signal,
        );
        for (const item of answer.Responses?.[this.tableName] ?? []) rows.push(unmarshall(item));
        request = answer.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
      }
      if (request.length > 0)
        throw new TransientError(`BatchGetItem on lease table ${this.tableName} left keys unprocessed`);
    }
    const snapshot = classifyItems(rows);
    return { leader: snapshot.leader, workers: snapshot.workers };
  }

  /**
   * Tells other workers that leases changed (see `epoch` on the leader item): all of them, or
   * only those `notices` names — a bare notice moves the worker's `notice#` counter, lease keys
   * go to its `inbox#` set; `targetedEpoch` moves with `epoch`, so the others see nothing meant
   * for them.
   */
  async bumpEpoch(notices?: Notices): Promise<void> {
    const bare = new Set(notices?.bare() ?? []);
    const inbox = notices?.inbox() ?? new Map<string, string[]>();
    const ids = [...new Set([...bare, ...inbox.keys()])];
    // An update expression is limited to 4 KB: notices go out in chunks, each a bump of its own.
    const chunks = notices === undefined ? [undefined] : chunk(ids, NOTICES_PER_BUMP);
    for (const targets of chunks) {
      const names: Record<string, string> = {};
      const values: Record<string, unknown> = { ':one': 1 };
      const adds = ['epoch :one'];
      if (targets !== undefined) adds.push('targetedEpoch :one');
      (targets ?? []).forEach((id, i) => {
        if (bare.has(id)) {
          names[`#n${i}`] = `${NOTICE_PREFIX}${id}`;
          adds.push(`#n${i} :one`);
        }
        const keys = inbox.get(id);
        if (keys && keys.length > 0) {
          names[`#i${i}`] = `${INBOX_PREFIX}${id}`;
          values[`:i${i}`] = new Set(keys);
          adds.push(`#i${i} :i${i}`);
        }
      });
      try {
        await this.#send(
          'bumpEpoch',
          LEADER_KEY,
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: key(LEADER_KEY),
            UpdateExpression: `ADD ${adds.join(', ')}`,
            ConditionExpression: 'attribute_exists(leaseKey)',
            ...(Object.keys(names).length > 0 ? { ExpressionAttributeNames: names } : {}),
            ExpressionAttributeValues: marshall(values),
          }),
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
    const out: WorkerItem[] = [];
    for (let i = 0; i < workerIds.length; i += BATCH_GET_MAX_KEYS) {
      const keys = workerIds.slice(i, i + BATCH_GET_MAX_KEYS).map((id) => key(workerKey(id)));
      const answer = await this.#send<BatchGetItemCommandOutput>(
        'BatchGetItem',
        undefined,
        new BatchGetItemCommand({ RequestItems: { [this.tableName]: { Keys: keys, ConsistentRead: true } } }),
        signal,
      );
      for (const item of answer.Responses?.[this.tableName] ?? []) {
        const parsed = workerItemSchema.safeParse(unmarshall(item));
        if (parsed.success) out.push(parsed.data);
      }
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
          ConditionExpression: 'attribute_not_exists(leaseKey)',
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
    return this.#writeAll(
      'createLeases',
      items,
      proceed,
      (item) => ({
        Put: {
          TableName: this.tableName,
          Item: marshall(item, { removeUndefinedValues: true }),
          ConditionExpression: 'attribute_not_exists(leaseKey)',
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
    return this.#writeAll(
      'deleteLeases',
      leases,
      proceed,
      (lease) => ({
        Delete: {
          TableName: this.tableName,
          Key: key(lease.leaseKey),
          ConditionExpression: 'leaseCounter = :expected',
          ExpressionAttributeValues: marshall({ ':expected': lease.leaseCounter }),
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

  async #writeAll<T extends { leaseKey: string }>(
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
    await forEachLimit(chunk(items, TRANSACT_MAX_ITEMS), TRANSACTIONS_IN_FLIGHT, async (batch) => {
      if (!go()) return;
      try {
        await this.#writeBatch(operation, batch, action, writeAlone, written);
      } catch (err) {
        failure ??= err;
      }
    });
    if (failure !== undefined) throw new LeaseBatchError(operation, written, failure);
    return written;
  }

  async #writeBatch<T>(
    operation: string,
    batch: readonly T[],
    action: (item: T) => TransactWriteItem,
    writeAlone: (batch: readonly T[]) => Promise<void>,
    written: T[],
  ): Promise<void> {
    // One item needs no transaction (which would also cost it twice the write units).
    if (batch.length === 1) return writeAlone(batch);
    let reasons: readonly (CancellationReason | undefined)[];
    try {
      await this.#client.send(new TransactWriteItemsCommand({ TransactItems: batch.map(action) }));
      written.push(...batch);
      return;
    } catch (err) {
      if ((err as { name?: string }).name !== 'TransactionCanceledException')
        throw translateLeaseError(err, { operation, tableName: this.tableName });
      reasons = (err as { CancellationReasons?: CancellationReason[] }).CancellationReasons ?? [];
    }
    // Reasons are positional (one per action, `None` for an action that was fine); an action
    // with no reason is unknown, never taken to have failed its condition.
    await writeAlone(batch.filter((_, i) => reasons[i]?.Code !== 'ConditionalCheckFailed'));
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
    const values: Record<string, unknown> = {
      ':expected': lease.leaseCounter,
      ':next': lease.leaseCounter + 1,
      ':one': 1,
      ':zero': 0,
      ':now': this.#iso(),
    };
    let condition = 'leaseCounter = :expected';
    if (lease.leaseOwner === undefined) condition += ' AND attribute_not_exists(leaseOwner)';
    else {
      condition += ' AND leaseOwner = :previous';
      values[':previous'] = lease.leaseOwner;
    }
    let update =
      'SET leaseCounter = :next, updatedAt = :now, ownerSwitchesSinceCheckpoint = if_not_exists(ownerSwitchesSinceCheckpoint, :zero) + :one';
    let remove = 'REMOVE pendingOwner, pendingOwnerSession, handOffRequestedAt';
    if (to) {
      update += ', leaseOwner = :owner, ownerSession = :session';
      values[':owner'] = to.workerId;
      values[':session'] = to.sessionId;
    } else remove += ', leaseOwner, ownerSession';
    // LATEST is where the first owner started reading, at a moment only it knows: a later owner
    // asking for LATEST again would skip what arrived in between. History is read again instead
    // (duplicates, never loss), conditional on the checkpoint not having moved meanwhile.
    if (lease.checkpoint === 'LATEST' && (lease.leaseOwner !== undefined || lease.ownerSwitchesSinceCheckpoint > 0)) {
      condition += ' AND checkpoint = :latest';
      update += ', checkpoint = :trimHorizon';
      values[':latest'] = 'LATEST';
      values[':trimHorizon'] = 'TRIM_HORIZON';
    }
    const send = () =>
      this.#send<UpdateItemCommandOutput>(
        'transfer',
        lease.leaseKey,
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: key(lease.leaseKey),
          UpdateExpression: `${update} ${remove}`,
          ConditionExpression: condition,
          ExpressionAttributeValues: marshall(values),
          ReturnValues: 'ALL_NEW',
        }),
        undefined,
        options.lostOnConflict,
      );
    const out = await (options.oneShot ? this.#oneShot('transfer', send) : send());
    return leaseItemSchema.parse(unmarshall(out.Attributes ?? {}));
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
    const finished = checkpoint === 'SHARD_END';
    // The processor's state goes with this checkpoint or is removed: an older state never
    // stands beside a newer checkpoint. A finished shard keeps none.
    const withState = processorState !== undefined && !finished;
    const update = finished
      ? 'SET checkpoint = :cp, ownerSwitchesSinceCheckpoint = :zero, updatedAt = :now, leaseCounter = :next REMOVE leaseOwner, ownerSession, pendingOwner, pendingOwnerSession, handOffRequestedAt, processorState'
      : withState
        ? 'SET checkpoint = :cp, ownerSwitchesSinceCheckpoint = :zero, updatedAt = :now, processorState = :state'
        : 'SET checkpoint = :cp, ownerSwitchesSinceCheckpoint = :zero, updatedAt = :now REMOVE processorState';
    const values: Record<string, unknown> = {
      ':cp': checkpoint,
      ':zero': 0,
      ':now': this.#iso(),
      ':owner': owner,
      ':expected': counter,
    };
    if (finished) values[':next'] = counter + 1;
    if (withState) values[':state'] = processorState;
    if (session !== undefined) values[':session'] = session;
    const out = await this.#send<UpdateItemCommandOutput>(
      'checkpoint',
      leaseKey,
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: key(leaseKey),
        UpdateExpression: update,
        ConditionExpression: `leaseOwner = :owner AND leaseCounter = :expected${session === undefined ? '' : ' AND ownerSession = :session'}`,
        ExpressionAttributeValues: marshall(values),
        ReturnValues: 'ALL_NEW',
      }),
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
    const values: Record<string, unknown> = {
      ':expected': lease.leaseCounter,
      ':next': lease.leaseCounter + 1,
      ':from': lease.checkpoint,
      ':cp': checkpoint,
      ':zero': 0,
      ':now': this.#iso(),
    };
    let condition = 'leaseCounter = :expected AND checkpoint = :from';
    if (lease.leaseOwner === undefined) condition += ' AND attribute_not_exists(leaseOwner)';
    else {
      condition += ' AND leaseOwner = :owner';
      values[':owner'] = lease.leaseOwner;
    }
    const out = await this.#send<UpdateItemCommandOutput>(
      'resetLease',
      lease.leaseKey,
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: key(lease.leaseKey),
        UpdateExpression:
          'SET checkpoint = :cp, leaseCounter = :next, ownerSwitchesSinceCheckpoint = :zero, updatedAt = :now REMOVE leaseOwner, ownerSession, pendingOwner, pendingOwnerSession, handOffRequestedAt',
        ConditionExpression: condition,
        ExpressionAttributeValues: marshall(values),
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
          ConditionExpression: 'attribute_not_exists(leaseKey)',
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
        ConditionExpression: 'leaseCounter = :expected',
        ExpressionAttributeValues: marshall({ ':expected': lease.leaseCounter }),
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
          : { ConditionExpression: 'attribute_not_exists(leaseKey)' }),
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
    const names: Record<string, string> = {};
    const values: Record<string, AttributeValue> = {};
    const terms: string[] = [];
    Object.entries(raw).forEach(([name, value], i) => {
      names[`#a${i}`] = name;
      if ('S' in value || 'N' in value || 'B' in value || 'BOOL' in value) {
        values[`:v${i}`] = value;
        terms.push(`#a${i} = :v${i}`);
      } else terms.push(`attribute_exists(#a${i})`);
    });
    await this.#send(
      'deleteIfUnchanged',
      leaseKey,
      new DeleteItemCommand({
        TableName: this.tableName,
        Key: key(leaseKey),
        ConditionExpression: terms.join(' AND '),
        ExpressionAttributeNames: names,
        ...(Object.keys(values).length > 0 ? { ExpressionAttributeValues: values } : {}),
      }),
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

function checkKeySchema(tableName: string, table: TableDescription): void {
  const keys = table.KeySchema ?? [];
  const hash = keys[0];
  const type = table.AttributeDefinitions?.find((a) => a.AttributeName === 'leaseKey')?.AttributeType;
  if (keys.length !== 1 || hash?.AttributeName !== 'leaseKey' || hash.KeyType !== 'HASH' || type !== 'S') {
    const found = keys.map((k) => `${k.AttributeName ?? '?'} ${k.KeyType ?? '?'}`).join(', ') || 'none';
    throw new ConfigError(
      `table ${tableName} exists but is not a shardline lease table (key schema: ${found}; expected leaseKey string HASH only). Choose another leaseTableName; shardline never writes into a table it did not make.`,
    );
  }
}
