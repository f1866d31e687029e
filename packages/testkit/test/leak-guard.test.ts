import { describe, expect, it } from 'vitest';
import { createServer } from 'node:net';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import { describeLeaks, findLeaks, settledLeaks, snapshotResources } from '../src/leak-guard.js';

describe('leak guard checker', () => {
  it('reports what is alive at the end beyond the baseline, per type', () => {
    expect(
      findLeaks(['Timeout', 'PipeWrap'], ['Timeout', 'PipeWrap', 'Timeout', 'TCPServerWrap', 'ProcessWrap']),
    ).toEqual([
      { type: 'ProcessWrap', count: 1 },
      { type: 'TCPServerWrap', count: 1 },
      { type: 'Timeout', count: 1 },
    ]);
  });

  it('is clean when everything opened was closed, and ignores transient requests', () => {
    expect(
      findLeaks(['Timeout', 'PipeWrap'], ['PipeWrap', 'Timeout', 'FSReqCallback', 'GetAddrInfoReqWrap', 'CloseReq']),
    ).toEqual([]);
    expect(findLeaks(['Timeout', 'Timeout'], ['Timeout'])).toEqual([]);
  });

  it('catches a real interval timer and forgets it once cleared', async () => {
    const before = snapshotResources();
    const timer = setInterval(() => {}, 60_000);
    try {
      expect(findLeaks(before, snapshotResources())).toEqual([{ type: 'Timeout', count: 1 }]);
    } finally {
      clearInterval(timer);
    }
    expect(await settledLeaks(before, 500)).toEqual([]);
  });

  it('does not count an unref-ed timer (it keeps nothing alive)', () => {
    const before = snapshotResources();
    const timer = setInterval(() => {}, 60_000).unref();
    try {
      expect(findLeaks(before, snapshotResources())).toEqual([]);
    } finally {
      clearInterval(timer);
    }
  });

  it('catches a listening server and names its address', async () => {
    const before = snapshotResources();
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const leaks = findLeaks(before, snapshotResources());
      expect(leaks).toEqual([{ type: 'TCPServerWrap', count: 1 }]);
      expect(describeLeaks(leaks)).toMatch(/1 × server \(TCPServerWrap\).*127\.0\.0\.1/);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
    expect(await settledLeaks(before, 1_000)).toEqual([]);
  });

  it('catches a running child process, and waits for one that is being reaped', async () => {
    const before = snapshotResources();
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    await new Promise((resolve) => child.once('spawn', resolve));
    expect(findLeaks(before, snapshotResources())).toContainEqual({ type: 'ProcessWrap', count: 1 });
    expect(describeLeaks(findLeaks(before, snapshotResources()))).toContain(`child pid ${child.pid}`);
    child.kill('SIGKILL');
    // Not awaited on purpose: settledLeaks must wait for the exit to be reaped.
    expect(await settledLeaks(before, 5_000)).toEqual([]);
  });
});

describe('leak guard in the Vitest setup', () => {
  it('fails a test file that leaves a server and a timer running', { timeout: 120_000 }, async () => {
    const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
    // An external endpoint that is never called: the nested run starts no DynamoDB Local.
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      SHARDLINE_LEAK_FIXTURE: '1',
      SHARDLINE_TEST_ENDPOINT: 'http://127.0.0.1:9',
    };
    for (const key of ['SHARDLINE_TEST_CONTROLS', 'VITEST', 'VITEST_WORKER_ID', 'VITEST_POOL_ID', 'NODE_OPTIONS'])
      delete env[key];
    const child = spawn(
      process.execPath,
      ['node_modules/vitest/vitest.mjs', 'run', 'packages/testkit/test/leak-guard-fixture.test.ts'],
      { cwd: repoRoot, env },
    );
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const code = await new Promise((resolve) => child.once('close', resolve));
    output = stripVTControlCharacters(output);
    expect(code).toBe(1);
    expect(output).toMatch(
      /leak guard: left running after afterAll: 1 × server \(TCPServerWrap\), 1 × timer \(Timeout\) \[server on .*127\.0\.0\.1/,
    );
    // The test itself passed: the file fails because of the guard alone.
    expect(output).toMatch(/Tests\s+1 passed/);
  });
});
