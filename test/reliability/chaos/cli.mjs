// `npm run chaos`: loads the TypeScript runner through Vite (as the tests are loaded) and runs it.
import { runnerImport } from 'vite';

const { module } = await runnerImport(new URL('./main.ts', import.meta.url).pathname);
process.exitCode = await module.main(process.argv.slice(2));
