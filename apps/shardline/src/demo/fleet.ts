import { fork, type ChildProcess } from 'node:child_process';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DemoMessage, WorkerMessage, WorkerProcessConfig } from './protocol.js';

/** How a fleet's worker process ended, when it has. */
export type WorkerFate = 'running' | 'stopped' | 'killed';

export interface FleetWorker {
  name: string;
  fate: WorkerFate;
  /** Deliveries this worker's processors got (repeats included). */
  deliveries: number;
}

export interface WorkerFleetOptions {
  /** The one application every worker process runs, over all of `tableNames`. */
  applicationName: string;
  tableNames: readonly string[];
  endpoint: string;
  region: string;
  leaseDurationMs: number;
  shutdownTimeoutMs: number;
  logLevel: string;
  /** Every message of every worker, with the worker's name, in arrival order. */
  onMessage: (worker: string, message: WorkerMessage) => void;
}

/** A worker process started after this long without reporting `started` is a failed demo. */
const START_DEADLINE_MS = 60_000;

/**
 * The demo's workers as child processes (`worker-process.ts`), so a crash is a real `kill -9`
 * and a graceful stop is a real process exit. Knows nothing of leases or audits: it starts,
 * stops and kills processes and passes their messages on.
 */
export class WorkerFleet {
  readonly #o: WorkerFleetOptions;
  readonly #children = new Map<string, { child: ChildProcess; worker: FleetWorker; exited: Promise<void> }>();
  #next = 1;

  constructor(options: WorkerFleetOptions) {
    this.#o = options;
  }

  get workers(): FleetWorker[] {
    return [...this.#children.values()].map((c) => c.worker);
  }

  running(): string[] {
    return this.workers.filter((w) => w.fate === 'running').map((w) => w.name);
  }

  /** Starts `worker-<n>` (also its worker id); resolves once its Worker runs. */
  async start(): Promise<string> {
    const index = this.#next++;
    const name = `worker-${index}`;
    const config: WorkerProcessConfig = {
      name,
      endpoint: this.#o.endpoint,
      region: this.#o.region,
      applicationName: this.#o.applicationName,
      tableNames: [...this.#o.tableNames],
      leaseDurationMs: this.#o.leaseDurationMs,
      shutdownTimeoutMs: this.#o.shutdownTimeoutMs,
      logLevel: this.#o.logLevel,
    };
    // Same extension as this module: .js from dist, .ts when run from source through tsx (whose
    // loader the child inherits with process.execArgv).
    const entry = fileURLToPath(new URL(`./worker-process${extname(fileURLToPath(import.meta.url))}`, import.meta.url));
    const child = fork(entry, [JSON.stringify(config)], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
    const worker: FleetWorker = { name, fate: 'running', deliveries: 0 };
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    void exited.then(() => {
      if (worker.fate === 'running') worker.fate = 'stopped';
    });
    this.#children.set(name, { child, worker, exited });
    child.on('message', (message: WorkerMessage) => {
      if (message.type === 'batch') worker.deliveries += message.ids.length;
      this.#o.onMessage(name, message);
    });
    await this.#started(name);
    return name;
  }

  #started(name: string): Promise<void> {
    const { child, exited } = this.#children.get(name)!;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${name} did not start within ${START_DEADLINE_MS} ms`)),
        START_DEADLINE_MS,
      );
      const onMessage = (message: WorkerMessage) => {
        if (message.type !== 'started') return;
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve();
      };
      child.on('message', onMessage);
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`${name} exited before it started (exit code ${String(child.exitCode)})`));
      });
    });
  }

  /** A graceful stop: the process hands its leases off, checkpoints, and exits. */
  async stop(name: string): Promise<void> {
    const entry = this.#children.get(name);
    if (!entry || entry.worker.fate !== 'running') return;
    if (entry.child.connected) entry.child.send({ type: 'stop' } satisfies DemoMessage);
    await entry.exited;
    entry.worker.fate = 'stopped';
  }

  /** `kill -9`: no shutdown code runs; its leases stay in its name until they expire. */
  async kill(name: string): Promise<void> {
    const entry = this.#children.get(name);
    if (!entry || entry.worker.fate !== 'running') return;
    entry.worker.fate = 'killed';
    entry.child.kill('SIGKILL');
    await entry.exited;
  }

  async stopAll(): Promise<void> {
    await Promise.all(this.running().map((name) => this.stop(name)));
  }

  /** Last resort (the demo failing): nothing may outlive the demo. */
  killAll(): void {
    for (const { child } of this.#children.values()) if (child.exitCode === null) child.kill('SIGKILL');
  }
}
