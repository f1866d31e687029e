import { unmarshall } from '@aws-sdk/util-dynamodb';
import { describe, expect, it } from 'vitest';
import type { LeaseItem } from '../src/items.js';
import { claimFreeWrite, epochBumpWrites, resetWrite, transferWrite } from '../src/lease-writes.js';
import { Notices } from '../src/notices.js';

const NOW = '2026-01-01T00:00:00.000Z';

function lease(overrides: Partial<LeaseItem> = {}): LeaseItem {
  return {
    leaseKey: 'shard-1',
    itemType: 'lease',
    shardId: 'shard-1',
    streamArn: 'arn:aws:dynamodb:us-east-1:1:table/t/stream/2026-01-01T00:00:00.000',
    leaseCounter: 4,
    checkpoint: 'TRIM_HORIZON',
    parentShardIds: [],
    ownerSwitchesSinceCheckpoint: 0,
    ...overrides,
  };
}

// The conditions are the lease layer's fencing: pinned here without DynamoDB, beside the
// real-table tests (races.test.ts, failover.test.ts) that show what they do.
describe('the conditional writes LeaseStore sends', () => {
  it('moves an owned lease conditional on its counter and owner, and a LATEST one at TRIM_HORIZON', () => {
    const write = transferWrite(
      lease({ leaseOwner: 'a', checkpoint: 'LATEST' }),
      { workerId: 'b', sessionId: 's' },
      NOW,
    );
    expect(write.ConditionExpression).toBe(
      'leaseCounter = :expected AND leaseOwner = :previous AND checkpoint = :latest',
    );
    expect(write.UpdateExpression).toContain('checkpoint = :trimHorizon');
    expect(unmarshall(write.ExpressionAttributeValues ?? {})).toMatchObject({
      ':expected': 4,
      ':next': 5,
      ':previous': 'a',
      ':owner': 'b',
      ':session': 's',
      ':trimHorizon': 'TRIM_HORIZON',
    });
  });

  it('keeps LATEST for a first owner, and removes the owner when moving to nobody', () => {
    const first = transferWrite(lease({ checkpoint: 'LATEST' }), { workerId: 'b', sessionId: 's' }, NOW);
    expect(first.ConditionExpression).toBe('leaseCounter = :expected AND attribute_not_exists(leaseOwner)');
    expect(first.UpdateExpression).not.toContain('checkpoint');
    const away = transferWrite(lease({ leaseOwner: 'a' }), undefined, NOW);
    expect(away.UpdateExpression).toMatch(/REMOVE .*leaseOwner, ownerSession$/);
  });

  it('claims blind only a row that exists with no owner, not finished and not at LATEST, bumping its counter in place', () => {
    const write = claimFreeWrite({ workerId: 'b', sessionId: 's' }, NOW);
    expect(write.ConditionExpression).toBe(
      'attribute_exists(leaseKey) AND attribute_not_exists(leaseOwner) AND checkpoint <> :shardEnd AND checkpoint <> :latest',
    );
    expect(write.UpdateExpression).toMatch(
      /^SET leaseCounter = leaseCounter \+ :one, leaseOwner = :owner, ownerSession = :session/,
    );
    expect(write.UpdateExpression).toMatch(/REMOVE pendingOwner, pendingOwnerSession, handOffRequestedAt$/);
    expect(unmarshall(write.ExpressionAttributeValues ?? {})).toMatchObject({
      ':owner': 'b',
      ':session': 's',
      ':shardEnd': 'SHARD_END',
      ':latest': 'LATEST',
    });
  });

  it('resets conditional on the counter, checkpoint and owner read', () => {
    const write = resetWrite(lease({ leaseOwner: 'a' }), 'LATEST', NOW);
    expect(write.ConditionExpression).toBe('leaseCounter = :expected AND checkpoint = :from AND leaseOwner = :owner');
    expect(unmarshall(write.ExpressionAttributeValues ?? {})).toMatchObject({
      ':from': 'TRIM_HORIZON',
      ':cp': 'LATEST',
    });
  });

  it('bumps the epoch once for everyone, or in chunks of 50 workers for targeted notices', () => {
    expect(epochBumpWrites(undefined).map((w) => w.UpdateExpression)).toEqual(['ADD epoch :one']);
    const notices = new Notices();
    for (let i = 0; i < 51; i++) notices.add(`w${i}`, i === 0 ? 'shard-1' : undefined);
    const writes = epochBumpWrites(notices);
    expect(writes).toHaveLength(2);
    for (const write of writes) expect(write.UpdateExpression).toMatch(/^ADD epoch :one, targetedEpoch :one, /);
    // Bare notices first (w1…w50), then the inboxes (w0).
    expect(writes[0]?.ExpressionAttributeNames).toMatchObject({ '#n0': 'notice#w1', '#n49': 'notice#w50' });
    expect(writes[1]?.ExpressionAttributeNames).toEqual({ '#i0': 'inbox#w0' });
    expect(unmarshall(writes[1]?.ExpressionAttributeValues ?? {})[':i0']).toEqual(new Set(['shard-1']));
  });
});
