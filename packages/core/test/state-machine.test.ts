import { describe, expect, it } from 'vitest';
import { IllegalTransitionError, ShardlineError, StateMachine, type StateChange } from '../src/index.js';

type Light = 'off' | 'on' | 'broken';

function lamp(options: { bulb?: () => boolean } = {}) {
  const changes: Array<StateChange<Light>> = [];
  const machine = new StateMachine<Light>({
    name: 'lamp 1',
    initial: 'off',
    transitions: { off: ['on', 'broken'], on: ['off', 'broken'], broken: [] },
    invariants: { on: (from) => (options.bulb?.() === false ? `no bulb (was ${from})` : undefined) },
    onChange: (change) => changes.push(change),
  });
  return { machine, changes };
}

describe('StateMachine', () => {
  it('starts in the initial state and reports every change after making it', () => {
    const { machine, changes } = lamp();
    expect(machine.state).toBe('off');
    machine.set('on');
    machine.set('off');
    machine.set('broken');
    expect(machine.state).toBe('broken');
    expect(changes).toEqual([
      { from: 'off', to: 'on' },
      { from: 'on', to: 'off' },
      { from: 'off', to: 'broken' },
    ]);
  });

  it('refuses a transition the table does not list, and leaves the state as it was', () => {
    const { machine, changes } = lamp();
    machine.set('broken');
    expect(machine.can('on')).toBe(false);
    expect(() => machine.set('on')).toThrow(IllegalTransitionError);
    expect(() => machine.set('broken')).toThrow('lamp 1: illegal state transition broken → broken');
    expect(machine.state).toBe('broken');
    expect(changes).toHaveLength(1);
  });

  it("refuses a listed transition whose target state's invariant does not hold", () => {
    let bulb = false;
    const { machine, changes } = lamp({ bulb: () => bulb });
    let error: unknown;
    try {
      machine.set('on');
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(IllegalTransitionError);
    expect(error).toBeInstanceOf(ShardlineError);
    expect(error).toMatchObject({ from: 'off', to: 'on', retryable: false });
    expect((error as Error).message).toBe('lamp 1: illegal state transition off → on (no bulb (was off))');
    expect(machine.state).toBe('off');
    expect(changes).toEqual([]);
    bulb = true;
    machine.set('on');
    expect(machine.is('on', 'broken')).toBe(true);
    expect(machine.is('off')).toBe(false);
  });
});
