/**
 * First SIGTERM/SIGINT: graceful shutdown (with the worker's deadline). Second: force. As
 * graphile-worker's `registerSignalHandlers`, but scoped: the returned function removes them.
 *
 * Started by npm (`npx shardline …`, an npm script: npm sets `npm_command`), the process also
 * watches its parent. npm runs a bin through `sh -c`, and a SIGTERM to npm (what a supervisor
 * sends) kills npm and that shell but never reaches us: we would keep running, and keep our
 * leases, as an orphan. When the parent goes (our ppid changes) we shut down gracefully as if
 * the signal had arrived; that never counts as the second, forcing signal.
 */
export type ShutdownReason = NodeJS.Signals | 'parent-exited';

export interface ShutdownOptions {
  /** @defaultValue true when npm started the process (`npm_command` is set) */
  watchParent?: boolean;
  /** @defaultValue 1_000 */
  parentPollMs?: number;
}

export function handleShutdownSignals(
  handlers: {
    graceful: (reason: ShutdownReason) => void;
    force: (signal: NodeJS.Signals) => void;
  },
  options: ShutdownOptions = {},
): () => void {
  let count = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    count++;
    if (count === 1) handlers.graceful(signal);
    else handlers.force(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const watchParent = options.watchParent ?? startedByNpm();
  const parent = process.ppid;
  const timer = watchParent
    ? setInterval(() => {
        if (process.ppid === parent) return;
        clearInterval(timer);
        if (count === 0) {
          count = 1;
          handlers.graceful('parent-exited');
        }
      }, options.parentPollMs ?? 1_000)
    : undefined;
  timer?.unref();
  return () => {
    clearInterval(timer);
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
}

/** npm sets `npm_command` (exec, run-script…) for everything it starts. Read here, in the CLI. */
export function startedByNpm(env: NodeJS.ProcessEnv = process.env): boolean {
  return typeof env.npm_command === 'string' && env.npm_command !== '';
}
