/**
 * The leak guard: a test file must not leave a server, socket, child process or timer running
 * after its afterAll hooks. It compares the event-loop resources that keep a process alive
 * (`process.getActiveResourcesInfo()`) at the start and at the end of the file.
 *
 * What it deliberately does not count: resources that do not keep the process alive. An unref'd
 * timer is not listed by Node, and neither is an idle keep-alive socket in an http.Agent pool
 * (the agent unrefs it), which is what an AWS SDK client keeps between requests. One-shot
 * requests (file system, DNS, closing handles) are transient and ignored.
 */

/** Resource types that stay until someone stops them. */
const LONG_LIVED = new Set([
  'Timeout', // setTimeout / setInterval
  'TCPServerWrap', // net/http server
  'PipeServerWrap',
  'TCPSocketWrap', // client or accepted socket
  'TLSWrap',
  'PipeWrap', // child process stdio, IPC
  'ProcessWrap', // child process
  'UDPWrap',
  'FSEventWrap', // fs.watch
  'StatWatcher', // fs.watchFile
]);

export interface Leak {
  type: string;
  /** How many more of this type are alive now than at the start. */
  count: number;
}

export type ResourceSnapshot = readonly string[];

/** The long-lived resources alive now, as `process.getActiveResourcesInfo()` names them. */
export function snapshotResources(): ResourceSnapshot {
  return process.getActiveResourcesInfo().filter((type) => LONG_LIVED.has(type));
}

/** The resources alive in `after` beyond those in `before`, per type. Pure: tested on arrays. */
export function findLeaks(before: ResourceSnapshot, after: ResourceSnapshot): Leak[] {
  const counts = new Map<string, number>();
  for (const type of after) if (LONG_LIVED.has(type)) counts.set(type, (counts.get(type) ?? 0) + 1);
  for (const type of before) if (counts.has(type)) counts.set(type, (counts.get(type) ?? 0) - 1);
  return [...counts]
    .filter(([, count]) => count > 0)
    .map(([type, count]) => ({ type, count }))
    .sort((a, b) => a.type.localeCompare(b.type));
}

/** One line naming what leaked, with what Node can tell about the handles. */
export function describeLeaks(leaks: Leak[]): string {
  const what = leaks.map(({ type, count }) => `${count} × ${HUMAN[type] ?? type}`).join(', ');
  return `left running after afterAll: ${what}${handleDetails()}. Close servers, clients and child processes and clear timers in afterAll/afterEach.`;
}

const HUMAN: Record<string, string> = {
  Timeout: 'timer (Timeout)',
  TCPServerWrap: 'server (TCPServerWrap)',
  TCPSocketWrap: 'socket (TCPSocketWrap)',
  ProcessWrap: 'child process (ProcessWrap)',
  PipeWrap: 'pipe (PipeWrap, e.g. child process stdio)',
};

/** Best effort details (ports, pids) from Node's internal handle list, when it exists. */
function handleDetails(): string {
  const getHandles = (process as unknown as { _getActiveHandles?: () => unknown[] })._getActiveHandles;
  if (typeof getHandles !== 'function') return '';
  const details: string[] = [];
  for (const handle of getHandles.call(process)) {
    const h = handle as {
      constructor?: { name?: string };
      pid?: number;
      spawnargs?: string[];
      address?: () => unknown;
      listening?: boolean;
    };
    if (typeof h.pid === 'number' && Array.isArray(h.spawnargs))
      details.push(`child pid ${h.pid} (${h.spawnargs.slice(0, 3).join(' ')})`);
    else if (h.listening && typeof h.address === 'function') details.push(`server on ${JSON.stringify(h.address())}`);
  }
  return details.length > 0 ? ` [${details.join('; ')}]` : '';
}

/**
 * Waits (up to `settleMs`) for the resources to return to the baseline: closing a socket or
 * reaping a killed child completes on a later tick, so a file that closed everything properly
 * may still show a handle for a moment. Returns the leaks that remain.
 */
export async function settledLeaks(before: ResourceSnapshot, settleMs = 2_000): Promise<Leak[]> {
  const deadline = Date.now() + settleMs;
  for (;;) {
    const leaks = findLeaks(before, snapshotResources());
    if (leaks.length === 0 || Date.now() >= deadline) return leaks;
    // An unref'd poll: the guard's own timer must not count as (or keep alive) a resource.
    await new Promise<void>((resolve) => setTimeout(resolve, 25).unref());
  }
}
