#!/usr/bin/env node
// The `gtr` command: runs the compiled CLI (npm run build:ts writes dist/).
import { main } from '../dist/cli/main.js';

main(process.argv).catch((err) => {
  console.error(`gtr: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
