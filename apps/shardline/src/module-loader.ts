import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UsageError } from './usage-error.js';

/**
 * Loads the user's module for `--processor` or `--handler`: the one place that checks the path,
 * imports ES modules, CommonJS and TypeScript alike, and turns a failure into one line naming
 * `what` it was loading.
 */
export async function loadUserModule(
  path: string,
  what: 'processor' | 'handler',
  cwd = process.cwd(),
): Promise<{ absolute: string; mod: Record<string, unknown> }> {
  const absolute = resolve(cwd, path);
  if (!existsSync(absolute)) throw new UsageError(`${what} file not found: ${absolute}`);
  if (!statSync(absolute).isFile()) throw new UsageError(`${what} path is not a file: ${absolute}`);
  try {
    return { absolute, mod: await importModule(absolute, what) };
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(
      `could not load ${what} ${absolute}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
    );
  }
}

const TYPESCRIPT = /\.(?:ts|mts|cts)$/;

/**
 * JavaScript is imported as it is. TypeScript too where Node strips types itself (22.18+ and
 * 23.6+ by default, 22.6+ with --experimental-strip-types: `process.features.typescript`);
 * elsewhere (Node 20) through tsx's scoped `tsImport`, which compiles this one module graph
 * without installing a loader for the whole process. tsx is looked up, not declared: a
 * declared (even optional) peer would put it and esbuild into every production install.
 */
async function importModule(absolute: string, what: string): Promise<Record<string, unknown>> {
  const url = pathToFileURL(absolute).href;
  if (!TYPESCRIPT.test(absolute) || nodeStripsTypes()) return (await import(url)) as Record<string, unknown>;
  let tsx: { tsImport: (specifier: string, parent: string) => Promise<unknown> };
  try {
    tsx = await import('tsx/esm/api');
  } catch {
    throw new UsageError(
      `Node ${process.version} cannot load the TypeScript ${what} ${absolute} by itself (Node 22.18+ can): install tsx next to shardline (npm i -D tsx), or compile it (npx tsc -p examples builds examples/dist/*.js) and pass the .js`,
    );
  }
  return (await tsx.tsImport(url, import.meta.url)) as Record<string, unknown>;
}

function nodeStripsTypes(): boolean {
  return Boolean((process.features as { typescript?: string | false }).typescript);
}
