import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  SafeEmitter,
  createLogger,
  positiveInteger,
  rejectUnknownKeys,
  requireThat,
} from '../src/index.js';

describe('SafeEmitter', () => {
  it('keeps calling listeners after one throws, and logs the failure', () => {
    const lines: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    const log = createLogger({ level: 'error', destination });
    const emitter = new SafeEmitter<{ 'lease:acquired': { shardId: string } }>(() => log);
    const seen: string[] = [];
    emitter.on('lease:acquired', () => {
      throw new Error('listener bug');
    });
    emitter.on('lease:acquired', ({ shardId }) => seen.push(shardId));
    emitter.emit('lease:acquired', { shardId: 's1' });
    expect(seen).toEqual(['s1']);
    expect(lines.join('')).toContain('listener bug');
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 50, event: 'lease:acquired' });
  });

  it('waitFor resolves on the first matching payload', async () => {
    const emitter = new SafeEmitter<{ tick: { n: number } }>();
    const waiting = emitter.waitFor('tick', ({ n }) => n === 2);
    emitter.emit('tick', { n: 1 });
    emitter.emit('tick', { n: 2 });
    await expect(waiting).resolves.toEqual({ n: 2 });
    expect(emitter.listenerCount('tick')).toBe(0);
  });
});

describe('option checks', () => {
  it('explain what was wrong and what was given', () => {
    expect(() => positiveInteger('leaseDurationMs', 0)).toThrow('leaseDurationMs must be a positive integer, got 0');
    expect(() => requireThat(false, 'heartbeatIntervalMs must be below leaseDurationMs / 2')).toThrow(ConfigError);
    expect(() => rejectUnknownKeys('worker', { leaseDuration: 1 }, ['leaseDurationMs'])).toThrow(
      'unknown worker option: leaseDuration (known: leaseDurationMs)',
    );
  });
});
