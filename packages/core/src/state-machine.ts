import { ShardlineError } from './errors.js';

/** For each state, the states it may move to next; a terminal state lists none. */
export type TransitionTable<S extends string> = Readonly<Record<S, readonly S[]>>;

export interface StateChange<S extends string> {
  from: S;
  to: S;
}

export interface StateMachineOptions<S extends string> {
  /** Names the machine in errors: `shard shardId-1`, `lease coordinator w1`. */
  name: string;
  initial: S;
  transitions: TransitionTable<S>;
  /**
   * What must hold on entering a state, checked once the table allowed the move and before it is
   * made (graphile-worker's localQueue asserts the same way at each mode change): returns what
   * is wrong, which refuses the move, or undefined.
   */
  invariants?: { readonly [K in S]?: (from: S) => string | undefined };
  /** Called after every change, with the state already set. */
  onChange?: (change: StateChange<S>) => void;
}

/** A state change the transition table does not list, or whose invariant does not hold: a bug. */
export class IllegalTransitionError extends ShardlineError {
  readonly from: string;
  readonly to: string;
  constructor(machine: string, from: string, to: string, problem?: string) {
    super(`${machine}: illegal state transition ${from} → ${to}${problem === undefined ? '' : ` (${problem})`}`);
    this.from = from;
    this.to = to;
  }
}

/**
 * One documented state union behind one setter: every change is checked against the transition
 * table and the target state's invariant, then reported. Nothing else writes the state.
 */
export class StateMachine<S extends string> {
  readonly #o: StateMachineOptions<S>;
  #state: S;

  constructor(options: StateMachineOptions<S>) {
    this.#o = options;
    this.#state = options.initial;
  }

  get state(): S {
    return this.#state;
  }

  is(...states: readonly S[]): boolean {
    return states.includes(this.#state);
  }

  /** Whether the table allows moving from the current state to `to` (invariants aside). */
  can(to: S): boolean {
    return this.#o.transitions[this.#state].includes(to);
  }

  /** The only way to change state. @throws IllegalTransitionError */
  set(to: S): void {
    const from = this.#state;
    if (!this.can(to)) throw new IllegalTransitionError(this.#o.name, from, to);
    const problem = this.#o.invariants?.[to]?.(from);
    if (problem !== undefined) throw new IllegalTransitionError(this.#o.name, from, to, problem);
    this.#state = to;
    this.#o.onChange?.({ from, to });
  }
}
