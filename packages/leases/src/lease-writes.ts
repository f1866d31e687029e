import type { AttributeValue } from '@aws-sdk/client-dynamodb';
import { marshall } from '@aws-sdk/util-dynamodb';
import { chunk } from './lease-batches.js';
import { INBOX_PREFIX, NOTICE_PREFIX, type LeaseItem } from './items.js';
import type { Notices } from './notices.js';
import type { OwnerRef } from './lease-store.js';

/** Worker notices per epoch bump (an update expression may be 4 KB; worker ids are short). */
const NOTICES_PER_BUMP = 50;

/**
 * What a conditional write of LeaseStore says (pure: the fencing conditions and updates, with
 * their values marshalled); LeaseStore adds the table and key and sends it.
 */
export interface ConditionalWrite {
  UpdateExpression?: string;
  ConditionExpression: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, AttributeValue>;
}

/** Written only where no item of that key exists: a new lease, an audit record, a vacant leader item (never replaced). */
export const ITEM_ABSENT: ConditionalWrite = { ConditionExpression: 'attribute_not_exists(leaseKey)' };

/** A lease deleted only while its counter is the one read (moved since, it is left). */
export function deleteLeaseCondition(lease: LeaseItem): ConditionalWrite {
  return {
    ConditionExpression: 'leaseCounter = :expected',
    ExpressionAttributeValues: marshall({ ':expected': lease.leaseCounter }),
  };
}

/**
 * A lease moved to `to` (or to nobody) with a counter bump, conditional on the counter and owner
 * read; any pending hand-off cleared. A lease that had an owner and is still at LATEST moves at
 * TRIM_HORIZON.
 */
export function transferWrite(lease: LeaseItem, to: OwnerRef | undefined, now: string): ConditionalWrite {
  const values: Record<string, unknown> = {
    ':expected': lease.leaseCounter,
    ':next': lease.leaseCounter + 1,
    ':one': 1,
    ':zero': 0,
    ':now': now,
  };
  let condition = `leaseCounter = :expected${ownerAsRead(lease, ':previous', values)}`;
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
  return {
    UpdateExpression: `${update} ${remove}`,
    ConditionExpression: condition,
    ExpressionAttributeValues: marshall(values),
  };
}

/**
 * A lease nobody owns taken by `to` without reading it first (a finished shard's child, whose
 * counter the finisher does not know): conditional on the row being there with no owner, not
 * finished and not at LATEST (moving a LATEST lease needs its row, see `transferWrite`); the
 * counter is bumped in place, so two claimers race on the condition and one of them wins.
 */
export function claimFreeWrite(to: OwnerRef, now: string): ConditionalWrite {
  return {
    UpdateExpression:
      'SET leaseCounter = leaseCounter + :one, leaseOwner = :owner, ownerSession = :session, updatedAt = :now, ownerSwitchesSinceCheckpoint = if_not_exists(ownerSwitchesSinceCheckpoint, :zero) + :one REMOVE pendingOwner, pendingOwnerSession, handOffRequestedAt',
    ConditionExpression:
      'attribute_exists(leaseKey) AND attribute_not_exists(leaseOwner) AND checkpoint <> :shardEnd AND checkpoint <> :latest',
    ExpressionAttributeValues: marshall({
      ':one': 1,
      ':zero': 0,
      ':owner': to.workerId,
      ':session': to.sessionId,
      ':now': now,
      ':shardEnd': 'SHARD_END',
      ':latest': 'LATEST',
    }),
  };
}

/**
 * A checkpoint, fenced on owner and counter (and session when given). SHARD_END also gives the
 * lease up (owner removed, counter bumped): a finished shard is nobody's work.
 */
export function checkpointWrite(
  at: { owner: string; counter: number; checkpoint: string; session?: string; processorState?: string },
  now: string,
): ConditionalWrite {
  const { owner, counter, checkpoint, session, processorState } = at;
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
    ':now': now,
    ':owner': owner,
    ':expected': counter,
  };
  if (finished) values[':next'] = counter + 1;
  if (withState) values[':state'] = processorState;
  if (session !== undefined) values[':session'] = session;
  return {
    UpdateExpression: update,
    ConditionExpression: `leaseOwner = :owner AND leaseCounter = :expected${session === undefined ? '' : ' AND ownerSession = :session'}`,
    ExpressionAttributeValues: marshall(values),
  };
}

/**
 * An operator's move of a lease: the new checkpoint, owner and pending hand-off removed, counter
 * bumped, conditional on the counter, owner and checkpoint read.
 */
export function resetWrite(lease: LeaseItem, checkpoint: string, now: string): ConditionalWrite {
  const values: Record<string, unknown> = {
    ':expected': lease.leaseCounter,
    ':next': lease.leaseCounter + 1,
    ':from': lease.checkpoint,
    ':cp': checkpoint,
    ':zero': 0,
    ':now': now,
  };
  const condition = `leaseCounter = :expected AND checkpoint = :from${ownerAsRead(lease, ':owner', values)}`;
  return {
    UpdateExpression:
      'SET checkpoint = :cp, leaseCounter = :next, ownerSwitchesSinceCheckpoint = :zero, updatedAt = :now REMOVE leaseOwner, ownerSession, pendingOwner, pendingOwnerSession, handOffRequestedAt',
    ConditionExpression: condition,
    ExpressionAttributeValues: marshall(values),
  };
}

/**
 * The leader item's epoch bumps for these notices (see `LeaseStore.bumpEpoch`): one bump for
 * all workers when `notices` is undefined; otherwise a bare notice moves the worker's `notice#`
 * counter and lease keys go to its `inbox#` set, NOTICES_PER_BUMP workers a bump (an update
 * expression is limited to 4 KB), each also moving `targetedEpoch`.
 */
export function epochBumpWrites(notices: Notices | undefined): ConditionalWrite[] {
  const bare = new Set(notices?.bare() ?? []);
  const inbox = notices?.inbox() ?? new Map<string, string[]>();
  const ids = [...new Set([...bare, ...inbox.keys()])];
  const chunks = notices === undefined ? [undefined] : chunk(ids, NOTICES_PER_BUMP);
  return chunks.map((targets) => {
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
    return {
      UpdateExpression: `ADD ${adds.join(', ')}`,
      ConditionExpression: 'attribute_exists(leaseKey)',
      ...(Object.keys(names).length > 0 ? { ExpressionAttributeNames: names } : {}),
      ExpressionAttributeValues: marshall(values),
    };
  });
}

/** The condition that the lease's owner is still the one read (or still none); its value goes to `values`. */
function ownerAsRead(lease: LeaseItem, placeholder: string, values: Record<string, unknown>): string {
  if (lease.leaseOwner === undefined) return ' AND attribute_not_exists(leaseOwner)';
  values[placeholder] = lease.leaseOwner;
  return ` AND leaseOwner = ${placeholder}`;
}

/** A row still holding the values read: scalars compared, other attributes required to exist. */
export function unchangedCondition(raw: Record<string, AttributeValue>): ConditionalWrite {
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
  return {
    ConditionExpression: terms.join(' AND '),
    ExpressionAttributeNames: names,
    ...(Object.keys(values).length > 0 ? { ExpressionAttributeValues: values } : {}),
  };
}
