import { afterEach, describe, expect, it } from 'vitest';
import { killAll, spawnCli } from './cli-process.js';

afterEach(() => killAll());

describe('shardline demo', () => {
  it('runs worker processes through rollovers, a hand-off and a kill -9, and ends with an audit showing lost = 0', async () => {
    // Every step waits for the one before (a hand-off done, a crash taken over), so a short
    // duration only compresses the timeline; a loaded machine stretches it.
    const demo = spawnCli('demo', ['demo', '--duration', '6', '--rate', '30', '--workers', '2'], {});
    const code = await demo.exited;
    // On failure, the demo's own output says which step did not happen.
    expect(code, demo.output()).toBe(0);
    const output = demo.output();
    // One application over both tables, and its assignment gave each worker a shard before the
    // traffic started (startFleet waits for exactly that, and says so when it does not happen).
    expect(output).toMatch(/2 tables on \S+, one application \(demo\) consuming them all; 2 worker processes started/);
    expect(output).not.toContain('Not every worker held a shard');
    expect(output).toMatch(/shardline status --app demo --endpoint http:\/\/127\.0\.0\.1:\d+ --region us-east-1/);
    // Not a TTY: plain progress lines, no redrawn block.
    expect(output).toMatch(/^written \d+ {2}processed \d+ {2}duplicates \d+ {2}leases worker-1(\(\w+\))?=\d/m);
    expect(output).not.toContain('\u001b['); // no ANSI escape: no redrawn block
    expect(output).toMatch(/Rolling deploy: worker-3 joined; stopping worker-\d gracefully/);
    expect(output).toMatch(/Hand-off done: worker-\d's shards are held by live workers/);
    expect(output).toMatch(/Crash: kill -9 worker-\d \(holding \d shard\(s\)\)/);
    expect(output).toMatch(/Crash taken over: worker-\d's shards are held by [^\n]+ \d+\.\d s after the kill/);
    expect(output).toMatch(/^ {2}takeover {6}\d+\.\d s /m);
    expect(output).toMatch(/^ {2}lost {10}0 /m);
    expect(output).toMatch(/^ {2}out of order {2}0 /m);
    expect(output).toMatch(/Audit passed/);
    // The test run has a JDK (the global setup's DynamoDB Local uses the same controls launcher).
    expect(output).toMatch(/Shard rollover 1: /);
    expect(output).toMatch(
      /shards {8}\d+ in the lineage, after \d rollover\(s\); parents finished before their children started: yes/,
    );
    expect(output).toMatch(/\(child of …[0-9a-f]{8}\)/);
    // The lineage lists both tables' shards (one lease table, a stream per table).
    expect(output).toMatch(/^ {4}shardline-demo-orders-1 …[0-9a-f]{8}/m);
    expect(output).toMatch(/^ {4}shardline-demo-orders-2 …[0-9a-f]{8}/m);
    // Every shard but each table's first names its parent, its lease removed or not (the
    // lineage comes from the streams, not only from the leases still in the table).
    const lineage = output.split('\n').filter((line) => /^ {4}shardline-demo-orders-\d …/.test(line));
    expect(lineage.filter((line) => !line.includes('(child of …'))).toHaveLength(2);
  }, 150_000);
});
