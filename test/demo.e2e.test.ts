import { afterEach, describe, expect, it } from 'vitest';
import { killAll, spawnCli } from './cli-process.js';

afterEach(() => killAll());

describe('shardline demo', () => {
  it('runs by itself when stdout is not a TTY and ends with an audit showing lost = 0', async () => {
    const demo = spawnCli('demo', ['demo', '--duration', '4', '--rate', '30'], {});
    expect(await demo.exited).toBe(0);
    const output = demo.output();
    // The first progress line may come after the hand-off (worker-1 stopped), on a loaded machine.
    expect(output).toMatch(/^written \d+ {2}processed \d+ {2}lag \d+ ms {2}leases worker-1(\(\w+\))?=\d worker-2=\d/m);
    expect(output).toMatch(/Rolling deploy: stopping worker-\d gracefully/);
    expect(output).toMatch(/lost {8}0\n/);
    expect(output).toMatch(/Audit passed/);
    // The test run has a JDK (the global setup's DynamoDB Local uses the same controls launcher).
    expect(output).toMatch(/Shard rollover 1: /);
    expect(output).toMatch(
      /shards {6}[2-9] in the lineage, after \d rollover\(s\); parents finished before their children started: yes/,
    );
    expect(output).toMatch(/\(child of …[0-9a-f]{8}\)/);
  }, 90_000);
});
