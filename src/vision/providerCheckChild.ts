/**
 * A provider check's own process (see isolatedProviderCheck.ts): checks the provider named by its argument,
 * sends the status to its parent and exits, whatever native threads the provider left running.
 */
import type { ExecutionProvider } from './execution.js';
import { checkProvider } from './providerCheck.js';

const status = await checkProvider(process.argv[2] as ExecutionProvider);
process.send?.(status, () => process.exit(0));
