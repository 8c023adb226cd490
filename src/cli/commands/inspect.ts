/** `gtr inspect`: package and libtorch versions, devices, whether CUDA is available. */
import type { Command } from 'commander';
import { native } from '../../native/binding.js';
import { packageVersion } from '../main.js';

export function register(program: Command): void {
  program
    .command('inspect')
    .description('print package and libtorch versions, devices, and whether CUDA is available')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      const v = native().versions();
      const info = {
        package: `gtr-rl ${packageVersion()}`,
        node: process.version,
        libtorch: v.libtorch,
        addon: v.addon,
        cudaCompiled: v.cudaCompiled,
        ncclCompiled: v.ncclCompiled,
        cudaAvailable: v.cudaAvailable,
        devices: ['cpu', ...v.cudaDeviceNames.map((n, i) => `cuda:${i} (${n})`)],
        cpuThreads: v.numThreads,
      };
      if (opts.json) {
        console.log(JSON.stringify(info, null, 2));
        return;
      }
      for (const [k, val] of Object.entries(info))
        console.log(`${k.padEnd(14)} ${Array.isArray(val) ? val.join(', ') : String(val)}`);
    });
}
