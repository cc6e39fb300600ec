import type { Command } from 'commander';
import { UserError } from '../core/errors.js';
import { loadPriceTable, type PriceTable } from '../cost/prices.js';

export interface PriceFlags {
  prices?: string;
  /** USD per hour, as given on the command line or in the environment. */
  localGpuPrice?: string;
}

/** `--prices FILE` and `--local-gpu-price USD` (the server has its own, with environment defaults). */
export function addPriceOptions(command: Command): Command {
  return command
    .option('--prices <file>', 'YAML price table whose entries replace or add to the shipped GPU prices')
    .option('--local-gpu-price <usd>', 'hourly price of a worker off any cloud (default 0)');
}

/** The price table the flags name; a bad file or price is a UserError. */
export function priceTableFromFlags(flags: PriceFlags): PriceTable {
  const local =
    flags.localGpuPrice === undefined || flags.localGpuPrice === '' ? 0 : Number(flags.localGpuPrice);
  if (!Number.isFinite(local) || local < 0)
    throw new UserError(
      `--local-gpu-price must be a number of dollars per hour, 0 or more, not "${flags.localGpuPrice}"`,
    );
  return loadPriceTable({ file: flags.prices, localPerHour: local });
}
