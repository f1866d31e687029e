/**
 * First SIGTERM/SIGINT: graceful shutdown (with the worker's deadline). Second: force. As
 * graphile-worker's `registerSignalHandlers`, but scoped: the returned function removes them.
 */
export function handleShutdownSignals(handlers: {
  graceful: (signal: NodeJS.Signals) => void;
  force: (signal: NodeJS.Signals) => void;
}): () => void {
  let count = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    count++;
    if (count === 1) handlers.graceful(signal);
    else handlers.force(signal);
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return () => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  };
}
