/**
 * `gtr download <owner/name[@revision]> [--revision REV]`: downloads a hub model into the standard
 * HF cache (shared with Python's huggingface_hub: HF_HOME, HF_HUB_CACHE) and prints its snapshot
 * directory on stdout. HF_TOKEN, HF_ENDPOINT and HF_HUB_OFFLINE apply (src/checkpoint/hub.ts).
 */
import type { Command } from 'commander';
import { downloadModel, hubCacheDir, parseHubId } from '../../checkpoint/index.js';

export function register(program: Command): void {
  program
    .command('download')
    .description('download a hub model (owner/name[@revision]) into the HF cache; prints the snapshot directory')
    .argument('<id>', 'hub model id, owner/name or owner/name@revision')
    .option('--revision <rev>', 'branch, tag or commit (instead of @revision in the id)')
    .action(async (idArg: string, o: { revision?: string }) => {
      const id = parseHubId(idArg);
      if (!id) throw new Error(`<id>: "${idArg}" is not a hub model id (owner/name or owner/name@revision)`);
      if (o.revision) {
        if (idArg.includes('@'))
          throw new Error('--revision: the id already names a revision (@...); give one of them');
        id.revision = o.revision;
      }
      const dir = await downloadModel(id, 'gtr download', {
        onFile: (path, bytes) => process.stderr.write(`downloaded ${path} (${bytes.toLocaleString('en-US')} bytes)\n`),
      });
      process.stderr.write(`${id.repo}@${id.revision} in ${hubCacheDir()}\n`);
      console.log(dir);
    });
}
