import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { UserError } from '../core/errors.js';
import { MODEL_ROLES, type ModelEntry } from './registry.js';

/** A name that is safe as a file name inside the model directory. */
const SAFE_NAME = /^(?!\.)[\w.+-]+$/;

const entrySchema = z
  .object({
    name: z.string().regex(SAFE_NAME, 'use letters, digits, ".", "_", "+" or "-"'),
    url: z
      .string()
      .refine(
        (url) => /^(https?|file):\/\/./.test(url) && URL.canParse(url),
        'must be a file:// or http(s):// URL',
      ),
    sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex characters')
      .transform((hex) => hex.toLowerCase()),
    role: z.enum(MODEL_ROLES, { error: `must be one of ${MODEL_ROLES.join(', ')}` }),
    file: z.string().regex(SAFE_NAME, 'must be a plain file name').optional(),
    size: z.number().int().positive().optional(),
    license: z.string().min(1).optional(),
  })
  .strict();

const manifestSchema = z.object({ models: z.array(z.unknown()) }).strict();

function lastPathSegment(url: string): string {
  return decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '');
}

function describeIssue(issue: z.core.$ZodIssue): string {
  return issue.path.length > 0 ? `${issue.path.join('.')}: ${issue.message}` : issue.message;
}

function parseText(path: string, text: string): unknown {
  try {
    return extname(path).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (error) {
    const format = extname(path).toLowerCase() === '.json' ? 'JSON' : 'YAML';
    const reason = (error as Error).message.split('\n')[0];
    throw new UserError(`model manifest ${path}: not valid ${format}: ${reason}`);
  }
}

/**
 * Reads a model manifest (JSON for `.json`, YAML otherwise): `models: [{ name, url, sha256, role,
 * file?, size?, license? }]`. `file` defaults to the last segment of the URL. Every problem is one line
 * naming the file and the entry.
 */
export async function loadManifest(path: string): Promise<ModelEntry[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new UserError(`model manifest ${path}: cannot read it (${(error as NodeJS.ErrnoException).code})`);
  }
  const top = manifestSchema.safeParse(parseText(path, text));
  if (!top.success) {
    throw new UserError(`model manifest ${path}: expected "models:" with a list of entries`);
  }
  const seen = new Set<string>();
  return top.data.models.map((raw, index) => {
    const label = (raw as { name?: unknown })?.name;
    const where = `model manifest ${path}: entry ${index + 1}${typeof label === 'string' ? ` ("${label}")` : ''}`;
    const parsed = entrySchema.safeParse(raw);
    if (!parsed.success) throw new UserError(`${where}: ${describeIssue(parsed.error.issues[0])}`);
    const { file, size, ...entry } = parsed.data;
    if (seen.has(entry.name)) throw new UserError(`${where}: name appears more than once`);
    seen.add(entry.name);
    const resolvedFile = file ?? lastPathSegment(entry.url);
    if (!SAFE_NAME.test(resolvedFile)) {
      throw new UserError(`${where}: cannot take a file name from the URL; give "file"`);
    }
    return { ...entry, file: resolvedFile, ...(size ? { size } : {}) };
  });
}
