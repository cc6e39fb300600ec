import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/core/errors.js';
import { applyJsonPatch } from '../../src/deploy/jsonPatch.js';

// The examples of RFC 6902 appendix A that use add, remove and replace.
describe('applyJsonPatch (RFC 6902)', () => {
  it('adds object members and array elements, "-" appending', () => {
    expect(applyJsonPatch({ foo: 'bar' }, [{ op: 'add', path: '/baz', value: 'qux' }])).toEqual({
      foo: 'bar',
      baz: 'qux',
    });
    expect(applyJsonPatch({ foo: ['bar', 'baz'] }, [{ op: 'add', path: '/foo/1', value: 'qux' }])).toEqual({
      foo: ['bar', 'qux', 'baz'],
    });
    expect(applyJsonPatch({ foo: ['bar'] }, [{ op: 'add', path: '/foo/-', value: ['abc', 'def'] }])).toEqual({
      foo: ['bar', ['abc', 'def']],
    });
    // An existing member is replaced; "~1" is "/" and "~0" is "~" in a key.
    expect(
      applyJsonPatch({ s: { a: '1' } }, [
        { op: 'add', path: '/s/a', value: '2' },
        { op: 'add', path: '/s/cloud.google.com~1gke-spot', value: 'true' },
        { op: 'add', path: '/s/x~0y', value: 'z' },
      ]),
    ).toEqual({ s: { a: '2', 'cloud.google.com/gke-spot': 'true', 'x~y': 'z' } });
  });

  it('removes and replaces, and leaves the input untouched', () => {
    const doc = { baz: 'qux', foo: 'bar', list: ['bar', 'qux', 'baz'] };
    expect(
      applyJsonPatch(doc, [
        { op: 'remove', path: '/baz' },
        { op: 'replace', path: '/foo', value: { deep: [1] } },
        { op: 'remove', path: '/list/1' },
        { op: 'replace', path: '/list/0', value: 'first' },
      ]),
    ).toEqual({ foo: { deep: [1] }, list: ['first', 'baz'] });
    expect(doc).toEqual({ baz: 'qux', foo: 'bar', list: ['bar', 'qux', 'baz'] });
  });

  it('refuses paths that do not exist, as kustomize does', () => {
    const doc = { foo: { bar: 'baz' }, list: [1] };
    for (const operations of [
      [{ op: 'add' as const, path: '/baz/bat', value: 'qux' }],
      [{ op: 'replace' as const, path: '/foo/nope', value: 1 }],
      [{ op: 'remove' as const, path: '/foo/nope' }],
      [{ op: 'add' as const, path: '/list/2', value: 1 }],
      [{ op: 'remove' as const, path: '/list/1' }],
      [{ op: 'add' as const, path: '/list/01', value: 1 }],
      [{ op: 'add' as const, path: 'foo', value: 1 }],
    ])
      expect(() => applyJsonPatch(doc, operations), JSON.stringify(operations)).toThrow(UserError);
    expect(() =>
      applyJsonPatch(doc, [{ op: 'move', path: '/x' } as unknown as { op: 'add'; path: string }]),
    ).toThrow(/not supported/);
  });
});
