import { IllegalTransitionError, StateMachine, type TransitionTable } from '@shardline/core';

/**
 * The life of one shard consumer. Every change goes through `ShardStateMachine.set`, which
 * refuses transitions not listed in `TRANSITIONS` and reports each change. The lease layer hands
 * out only leases whose parent shards are finished, so a consumer never waits for its parents.
 *
 * - CREATED: entered on creation. Left for INITIALIZING when `run()` starts; for LEASE_LOST /
 *   SHUTTING_DOWN when the lease is lost or the worker stops first.
 * - INITIALIZING: the processor is created and `initialize` runs. Left for PROCESSING, or for
 *   SHUTTING_DOWN directly when the lease's checkpoint is already SHARD_END (nothing to read)
 *   or initialize failed.
 * - PROCESSING: batches are read and processed, checkpoints written. Left for SHARD_END after
 *   the closed shard's last batch was processed; LEASE_LOST when a checkpoint is refused or the
 *   coordinator reports the lease lost; SHUTTING_DOWN on stop, hand-off, a stopped failure
 *   policy or an unexpected error.
 * - SHARD_END: `shardEnded` runs, then the runtime writes the SHARD_END checkpoint. Left for
 *   SHUTTING_DOWN, or LEASE_LOST if that checkpoint is refused.
 * - LEASE_LOST: the processing signal is aborted and `leaseLost` runs; nothing is
 *   checkpointed. Left for SHUTTING_DOWN.
 * - SHUTTING_DOWN: `shutdownRequested` (graceful stop / hand-off only), final checkpoint in
 *   auto mode, reader closed. Left for SHUT_DOWN.
 * - SHUT_DOWN: terminal.
 */
export const ShardState = {
  CREATED: 'CREATED',
  INITIALIZING: 'INITIALIZING',
  PROCESSING: 'PROCESSING',
  SHARD_END: 'SHARD_END',
  LEASE_LOST: 'LEASE_LOST',
  SHUTTING_DOWN: 'SHUTTING_DOWN',
  SHUT_DOWN: 'SHUT_DOWN',
} as const;
export type ShardState = (typeof ShardState)[keyof typeof ShardState];

const TRANSITIONS: TransitionTable<ShardState> = {
  CREATED: ['INITIALIZING', 'LEASE_LOST', 'SHUTTING_DOWN'],
  INITIALIZING: ['PROCESSING', 'LEASE_LOST', 'SHUTTING_DOWN'],
  PROCESSING: ['SHARD_END', 'LEASE_LOST', 'SHUTTING_DOWN'],
  SHARD_END: ['SHUTTING_DOWN', 'LEASE_LOST'],
  LEASE_LOST: ['SHUTTING_DOWN'],
  SHUTTING_DOWN: ['SHUT_DOWN'],
  SHUT_DOWN: [],
};

export { IllegalTransitionError };

export function canTransition(from: ShardState, to: ShardState): boolean {
  return TRANSITIONS[from].includes(to);
}

export class ShardStateMachine {
  readonly #machine: StateMachine<ShardState>;

  constructor(shardId: string, onChange: (change: { shardId: string; from: ShardState; to: ShardState }) => void) {
    this.#machine = new StateMachine<ShardState>({
      name: `shard ${shardId}`,
      initial: ShardState.CREATED,
      transitions: TRANSITIONS,
      onChange: ({ from, to }) => onChange({ shardId, from, to }),
    });
  }

  get state(): ShardState {
    return this.#machine.state;
  }

  /** The only way to change state. @throws IllegalTransitionError */
  set(to: ShardState): void {
    this.#machine.set(to);
  }
}
