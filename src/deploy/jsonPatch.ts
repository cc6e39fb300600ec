import { UserError } from '../core/errors.js';

/** One RFC 6902 operation of the kinds the deploy overlays use (move, copy and test are not). */
export interface PatchOperation {
  op: 'add' | 'remove' | 'replace';
  path: string;
  value?: unknown;
}

type Container = Record<string, unknown> | unknown[];

/** RFC 6901: "/a/b~1c" is ["a", "b/c"]. */
function tokens(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new UserError(`JSON pointer must start with "/": ${pointer}`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function isContainer(value: unknown): value is Container {
  return typeof value === 'object' && value !== null;
}

function arrayIndex(array: unknown[], token: string, path: string, forAdd: boolean): number {
  if (forAdd && token === '-') return array.length;
  if (!/^(0|[1-9]\d*)$/.test(token)) throw new UserError(`${path}: "${token}" is not an array index`);
  const index = Number(token);
  if (index > array.length || (!forAdd && index === array.length))
    throw new UserError(`${path}: index ${index} is out of range`);
  return index;
}

/** The container that holds the pointer's last token, and that token. */
function parentOf(doc: unknown, path: string): [Container, string] {
  const parts = tokens(path);
  if (parts.length === 0) throw new UserError('a patch of the whole document is not supported');
  let node: unknown = doc;
  for (const token of parts.slice(0, -1)) {
    if (Array.isArray(node)) node = node[arrayIndex(node, token, path, false)];
    else if (isContainer(node) && Object.hasOwn(node, token)) node = (node as Record<string, unknown>)[token];
    else throw new UserError(`${path}: no "${token}" in the document`);
  }
  if (!isContainer(node)) throw new UserError(`${path}: the parent is not an object or an array`);
  return [node, parts[parts.length - 1]];
}

/** Applies the operations in order to a copy of `doc` (RFC 6902 add, remove and replace). */
export function applyJsonPatch<T>(doc: T, operations: readonly PatchOperation[]): T {
  const result = structuredClone(doc);
  for (const { op, path, value } of operations) {
    const [parent, key] = parentOf(result, path);
    const present = Array.isArray(parent) ? undefined : Object.hasOwn(parent, key);
    if (op === 'add') {
      if (Array.isArray(parent))
        parent.splice(arrayIndex(parent, key, path, true), 0, structuredClone(value));
      else parent[key] = structuredClone(value);
    } else if (op === 'remove' || op === 'replace') {
      if (Array.isArray(parent)) {
        const index = arrayIndex(parent, key, path, false);
        if (op === 'remove') parent.splice(index, 1);
        else parent[index] = structuredClone(value);
      } else if (!present) throw new UserError(`${path}: nothing to ${op}`);
      else if (op === 'remove') delete parent[key];
      else parent[key] = structuredClone(value);
    } else throw new UserError(`JSON patch operation "${op as string}" is not supported`);
  }
  return result;
}
