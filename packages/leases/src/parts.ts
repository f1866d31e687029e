import type { Clock, Logger, SafeEmitter } from '@shardline/core';
import type { BackgroundTasks } from './concurrency.js';
import type { LeaseCoordinatorEvents } from './events.js';
import type { HeldLeases } from './held-leases.js';
import type { LeaseStore, OwnerRef } from './lease-store.js';
import type { Membership } from './membership.js';
import type { ResolvedLeaseOptions } from './options.js';
import type { StreamSet } from './stream-set.js';

/** The coordinator's lifecycle and fence, as its parts may ask about them (they never change them). */
export interface CoordinatorStatus {
  isRunning(): boolean;
  isDraining(): boolean;
  isStopped(): boolean;
  /** Holds the leader item and is not fenced. */
  isLeader(): boolean;
  isFenced(): boolean;
  /** The fence check before acting on leases; it may fence now (see Heartbeater.checkFence). */
  checkFence(): boolean;
}

/**
 * What the parts of one coordinator share, built once by LeaseCoordinator; each part takes the
 * few it needs (`Pick<CoordinatorParts, …>`) plus its own narrow callbacks.
 */
export interface CoordinatorParts {
  me: OwnerRef;
  options: ResolvedLeaseOptions;
  store: LeaseStore;
  streams: StreamSet;
  membership: Membership;
  held: HeldLeases;
  status: CoordinatorStatus;
  clock: Clock;
  log: Logger;
  events: SafeEmitter<LeaseCoordinatorEvents>;
  background: BackgroundTasks;
  /** Aborted when the coordinator stops or is abandoned. */
  lifetime: AbortSignal;
}
