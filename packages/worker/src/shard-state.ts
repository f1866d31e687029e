import { ShardlineError } from '@shardline/core';

/**
 * The life of one shard consumer. Every change goes through `ShardStateMachine.set`, which
 * refuses transitions not listed in `TRANSITIONS` and reports each change.
 *
 * - WAITING_ON_PARENTS: entered on creation. Left for INITIALIZING once every parent shard is
 *   finished (checkpoint SHARD_END) or gone from the stream; for LEASE_LOST / SHUTTING_DOWN
 *   when the lease is lost or the worker stops first.
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
  WAITING_ON_PARENTS: 'WAITING_ON_PARENTS',
  INITIALIZING: 'INITIALIZING',
  PROCESSING: 'PROCESSING',
  SHARD_END: 'SHARD_END',
  LEASE_LOST: 'LEASE_LOST',
  SHUTTING_DOWN: 'SHUTTING_DOWN',
  SHUT_DOWN: 'SHUT_DOWN',
} as const;
export type ShardState = (typeof ShardState)[keyof typeof ShardState];

const TRANSITIONS: Readonly<Record<ShardState, readonly ShardState[]>> = {
  WAITING_ON_PARENTS: ['INITIALIZING', 'LEASE_LOST', 'SHUTTING_DOWN'],
  INITIALIZING: ['PROCESSING', 'LEASE_LOST', 'SHUTTING_DOWN'],
  PROCESSING: ['SHARD_END', 'LEASE_LOST', 'SHUTTING_DOWN'],
  SHARD_END: ['SHUTTING_DOWN', 'LEASE_LOST'],
  LEASE_LOST: ['SHUTTING_DOWN'],
  SHUTTING_DOWN: ['SHUT_DOWN'],
  SHUT_DOWN: [],
};

export class IllegalTransitionError extends ShardlineError {
  constructor(shardId: string, from: ShardState, to: ShardState) {
    super(`shard ${shardId}: illegal state transition ${from} → ${to}`);
  }
}

export function canTransition(from: ShardState, to: ShardState): boolean {
  return TRANSITIONS[from].includes(to);
}

export class ShardStateMachine {
  #state: ShardState = ShardState.WAITING_ON_PARENTS;
  readonly #shardId: string;
  readonly #onChange: (change: { shardId: string; from: ShardState; to: ShardState }) => void;

  constructor(shardId: string, onChange: (change: { shardId: string; from: ShardState; to: ShardState }) => void) {
    this.#shardId = shardId;
    this.#onChange = onChange;
  }

  get state(): ShardState {
    return this.#state;
  }

  /** The only way to change state. */
  set(to: ShardState): void {
    const from = this.#state;
    if (!canTransition(from, to)) throw new IllegalTransitionError(this.#shardId, from, to);
    this.#state = to;
    this.#onChange({ shardId: this.#shardId, from, to });
  }
}
