/**
 * The AWS SDK for JavaScript warns, through `process.emitWarning`, that its releases after the
 * first week of January 2027 need Node 22: eight lines on stderr the first time a client is
 * built on Node 20, before any of the command's own output (bad-input errors included). Library
 * users keep the SDK's warning as it is; the CLI alone, which owns its process's stderr, swaps it
 * for one line, printed once, that still names the Node version and the deadline. Setting the
 * SDK's own switch, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true, silences both.
 */
const SDK_WARNING = 'NodeVersionSupportWarning';

export function condenseSdkNodeVersionWarning(
  write: (line: string) => void = (line) => process.stderr.write(line),
  nodeVersion: string = process.version,
): () => void {
  const original = process.emitWarning.bind(process);
  let printed = false;
  const emitWarning = function (warning: string | Error, ...rest: unknown[]) {
    const message = typeof warning === 'string' ? warning : warning.message;
    const name = typeof warning === 'string' ? undefined : warning.name;
    if (message.startsWith(SDK_WARNING) || name === SDK_WARNING) {
      if (!printed) {
        printed = true;
        const needs = /node >=(\d+)/.exec(message)?.[1] ?? '22';
        write(
          `shardline: note: Node ${nodeVersion}; AWS SDK releases after the first week of January 2027 need Node >=${needs} (https://a.co/c895JFp)\n`,
        );
      }
      return;
    }
    return (original as (...args: unknown[]) => void)(warning, ...rest);
  } as typeof process.emitWarning;
  process.emitWarning = emitWarning;
  return () => {
    if (process.emitWarning === emitWarning) process.emitWarning = original;
  };
}
