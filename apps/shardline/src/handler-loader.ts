import type { LambdaDynamoDBStreamEvent, LambdaHandler } from '@shardline/worker';
import { loadUserModule } from './module-loader.js';
import { UsageError } from './usage-error.js';

/**
 * Loads a Lambda handler from `PATH[#EXPORT]` (`--handler`), the way Lambda reads
 * `index.handler`: the export named `EXPORT` (default `handler`) of an ES module or a CommonJS
 * file. `#` rather than Lambda's `.` because a path has dots of its own.
 */
export const DEFAULT_HANDLER_EXPORT = 'handler';

export function parseHandlerSpec(spec: string): { path: string; exportName: string } {
  const hash = spec.lastIndexOf('#');
  if (hash === -1) return { path: spec, exportName: DEFAULT_HANDLER_EXPORT };
  const path = spec.slice(0, hash);
  const exportName = spec.slice(hash + 1);
  if (path === '' || exportName === '')
    throw new UsageError(`--handler ${spec}: give PATH or PATH#EXPORT (e.g. ./dist/index.js#handler)`);
  return { path, exportName };
}

export async function loadHandler(
  spec: string,
  cwd = process.cwd(),
): Promise<LambdaHandler<LambdaDynamoDBStreamEvent>> {
  const { path, exportName } = parseHandlerSpec(spec);
  const { absolute, mod } = await loadUserModule(path, 'handler', cwd);
  // ESM: the named export. CommonJS: `exports.handler = …` arrives as a named export when Node's
  // static analysis finds it, and always as a property of `default` (module.exports).
  const fromDefault = (mod.default ?? undefined) as Record<string, unknown> | undefined;
  const candidate =
    mod[exportName] ??
    (typeof fromDefault === 'object' || typeof fromDefault === 'function' ? fromDefault[exportName] : undefined);
  if (typeof candidate === 'function') return candidate as LambdaHandler<LambdaDynamoDBStreamEvent>;
  const found = Object.keys(mod).filter((k) => typeof mod[k] === 'function' && k !== 'default');
  throw new UsageError(
    `${absolute} has no function export "${exportName}"${
      candidate === undefined ? '' : ` (it is of type ${typeof candidate})`
    }; function exports: ${found.length ? found.join(', ') : 'none'} (give --handler ${path}#NAME)`,
  );
}
