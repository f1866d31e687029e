import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { applicationNameOf } from '@shardline/worker';
import { flagName, loadSettings, RUN_SETTING_KEYS, runSettingsSchema } from '../src/config.js';
import { toWorkerOptions } from '../src/commands/run.js';
import { silentLogger } from '@shardline/core';
import { repoRoot } from './cli-process.js';

/** The README's "Several tables, one application" section, read as a user copies it. */
const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
const section = readme.slice(readme.indexOf('### Several tables, one application'));
const [shell, json] = [...section.matchAll(/```(sh|json)\n([\s\S]*?)```/g)].slice(0, 2).map((m) => m[2]!);
const scratch = mkdtempSync(join(tmpdir(), 'shardline-readme-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('README: several tables, one application', () => {
  it('its commands use only flags `shardline run` has', () => {
    const flags = shell!.match(/--[a-z-]+/g) ?? [];
    expect(flags.length).toBeGreaterThan(5);
    const known = new Set([...RUN_SETTING_KEYS.map(flagName), '--config']);
    expect(flags.filter((f) => !known.has(f))).toEqual([]);
  });

  it('the environment form and the shop.json form name the same two streams of app shop', () => {
    const fromEnv = loadSettings(
      runSettingsSchema,
      { app: 'shop', processor: './handle.mjs' },
      { env: { SHARDLINE_TABLE: 'orders,payments', SHARDLINE_ENDPOINT: 'http://localhost:8000' } },
    );
    expect(fromEnv.table).toEqual(['orders', 'payments']);
    expect(shell).toContain('npx shardline run --config shop.json');
    const file = join(scratch, 'shop.json');
    writeFileSync(file, json!);
    const fromFile = loadSettings(
      runSettingsSchema,
      { endpoint: 'http://localhost:8000' },
      { configPath: file, env: {} },
    );
    const options = toWorkerOptions(fromFile, undefined, silentLogger());
    expect(applicationNameOf(options)).toBe('shop');
    expect(options.tables).toEqual(['orders', 'payments']);
    expect(fromFile.streams?.map((s) => s.processor)).toEqual(['./orders.mjs', undefined]);
  });
});
