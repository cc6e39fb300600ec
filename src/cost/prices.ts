import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { z } from 'zod';
import { UserError } from '../core/errors.js';

const PriceEntry = z
  .object({
    cloud: z.string().min(1),
    instanceType: z.string().min(1),
    gpu: z.string().min(1).optional(),
    region: z.string().min(1).optional(),
    /** USD per instance-hour. */
    onDemand: z.number().positive(),
    spot: z.number().positive(),
    /** When the prices were known to hold: YYYY-MM or YYYY-MM-DD. */
    asOf: z.string().regex(/^\d{4}-\d{2}(-\d{2})?$/, 'must be a date: YYYY-MM or YYYY-MM-DD'),
    /** Where they come from: the provider's pricing page, a bill, a quote. */
    source: z.string().min(1),
    note: z.string().optional(),
  })
  .strict();
export type PriceEntry = z.infer<typeof PriceEntry>;

const PriceFile = z
  .object({
    currency: z.literal('USD'),
    instances: z.array(PriceEntry),
  })
  .strict();

export interface PriceTable {
  readonly entries: readonly PriceEntry[];
  /** USD per hour of a worker off any cloud (no cloud reported): the user's own machines. */
  readonly localPerHour: number;
}

export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the spotfuse package root');
    dir = parent;
  }
  return dir;
}

/** The table shipped with the package; found from sources (tests) and from `dist/` alike. */
export function shippedPricesPath(): string {
  return join(packageRoot(), 'src', 'cost', 'gpu-prices.yaml');
}

const keyOf = (cloud: string, instanceType: string) => `${cloud.toLowerCase()}/${instanceType.toLowerCase()}`;

/** The entries of a price file; a UserError names the file and the entry that is wrong. */
export function parsePrices(text: string, origin: string): PriceEntry[] {
  let data: unknown;
  try {
    data = parse(text);
  } catch (error) {
    throw new UserError(`price file ${origin} is not valid YAML: ${(error as Error).message.split('\n')[0]}`);
  }
  const result = PriceFile.safeParse(data);
  if (!result.success) {
    const issue = result.error.issues[0];
    const path = issue.path;
    let where = path.length > 0 ? path.join('.') : 'top level';
    if (path[0] === 'instances' && typeof path[1] === 'number') {
      const entry = (data as { instances: { instanceType?: unknown }[] }).instances[path[1]];
      const name = typeof entry?.instanceType === 'string' ? ` (${entry.instanceType})` : '';
      where = `instance ${path[1] + 1}${name}${path.length > 2 ? `, ${path.slice(2).join('.')}` : ''}`;
    }
    throw new UserError(`price file ${origin}: ${where}: ${issue.message}`);
  }
  const seen = new Set<string>();
  for (const entry of result.data.instances) {
    const key = keyOf(entry.cloud, entry.instanceType);
    if (seen.has(key)) throw new UserError(`price file ${origin}: ${key} is listed twice`);
    seen.add(key);
  }
  return result.data.instances;
}

function readPrices(path: string): PriceEntry[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UserError(`cannot read price file ${path}: ${(error as NodeJS.ErrnoException).code ?? error}`);
  }
  return parsePrices(text, path);
}

export interface PriceOptions {
  /** A price file whose entries replace the shipped ones of the same cloud and instance type, or add to them. */
  file?: string;
  localPerHour?: number;
}

export function loadPriceTable(options: PriceOptions = {}): PriceTable {
  const entries = new Map<string, PriceEntry>();
  for (const entry of readPrices(shippedPricesPath()))
    entries.set(keyOf(entry.cloud, entry.instanceType), entry);
  if (options.file)
    for (const entry of readPrices(options.file)) entries.set(keyOf(entry.cloud, entry.instanceType), entry);
  return { entries: [...entries.values()], localPerHour: options.localPerHour ?? 0 };
}

/** The entry of `instanceType` on `cloud`, matched without regard to case (Azure reports sizes either way). */
export function findPrice(table: PriceTable, cloud: string, instanceType: string): PriceEntry | undefined {
  const key = keyOf(cloud, instanceType);
  return table.entries.find((e) => keyOf(e.cloud, e.instanceType) === key);
}

/**
 * The entry of `instanceType` on `cloud`, or on whichever cloud lists it when `cloud` is not given; a
 * UserError when there is none, or several clouds list it.
 */
export function instancePrice(table: PriceTable, instanceType: string, cloud?: string): PriceEntry {
  if (cloud !== undefined) {
    const entry = findPrice(table, cloud, instanceType);
    if (!entry)
      throw new UserError(`no price for ${cloud} instance type ${instanceType} (add it with --prices)`);
    return entry;
  }
  const matches = table.entries.filter((e) => e.instanceType.toLowerCase() === instanceType.toLowerCase());
  if (matches.length === 0)
    throw new UserError(`no price for instance type ${instanceType} (add it with --prices)`);
  if (matches.length > 1)
    throw new UserError(
      `instance type ${instanceType} is listed for ${matches.map((e) => e.cloud).join(', ')}: give --cloud`,
    );
  return matches[0];
}
