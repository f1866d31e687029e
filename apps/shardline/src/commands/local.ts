import type { Command } from 'commander';

/** `shardline local`: placeholder until its issue lands. */
export function registerLocal(program: Command): void {
  program.command('local').description('(not yet implemented)').action(() => {
    throw new Error('shardline local is not implemented yet');
  });
}
