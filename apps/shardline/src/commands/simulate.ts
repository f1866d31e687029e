import type { Command } from 'commander';

/** `shardline simulate`: placeholder until its issue lands. */
export function registerSimulate(program: Command): void {
  program.command('simulate').description('(not yet implemented)').action(() => {
    throw new Error('shardline simulate is not implemented yet');
  });
}
