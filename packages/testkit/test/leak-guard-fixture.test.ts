import { describe, expect, it } from 'vitest';
import { createServer } from 'node:net';

// A deliberately leaky file, run only by leak-guard.test.ts in a nested Vitest
// (SHARDLINE_LEAK_FIXTURE=1) to prove the guard in vitest.setup.ts fails such a file.
describe.runIf(process.env.SHARDLINE_LEAK_FIXTURE === '1')('a file that leaks', () => {
  it('leaves a server and an interval timer running', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    setInterval(() => {}, 60_000);
    expect(server.listening).toBe(true);
  });
});
