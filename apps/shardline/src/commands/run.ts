import type { Command } from 'commander';

/** `shardline run`: placeholder until its issue lands. */
export function registerRun(program: Command): void {
  program.command('run').description('(not yet implemented)').action(() => {
    throw new Error('shardline run is not implemented yet');
  });
}
