import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readElfDynamic } from '../../src/vision/elf.js';
import { checkProvider, providerFiles } from '../../src/vision/providerCheck.js';
import { bindingDir } from '../../src/vision/providers.js';
import { missingLibraries, neededLibraries } from '../../src/vision/sharedLibraries.js';
import { useTempDir } from '../helpers/tempDir.js';

const dir = useTempDir();

/**
 * A minimal 64-bit little-endian ELF shared object: a .dynstr and a .dynamic section with DT_NEEDED
 * entries and an optional DT_RUNPATH, as a linker writes them (section table at the end).
 */
function fakeElf(needed: string[], runpath?: string): Buffer {
  const strings = ['', ...needed, ...(runpath ? [runpath] : [])];
  const offsets: number[] = [];
  let dynstr = Buffer.alloc(0);
  for (const s of strings) {
    offsets.push(dynstr.length);
    dynstr = Buffer.concat([dynstr, Buffer.from(`${s}\0`)]);
  }
  const entries: [number, number][] = needed.map((_, i) => [1, offsets[i + 1]]);
  if (runpath) entries.push([29, offsets[strings.length - 1]]);
  entries.push([0, 0]);
  const dynstrAt = 64;
  const dynamicAt = dynstrAt + Math.ceil(dynstr.length / 8) * 8;
  const shoff = dynamicAt + entries.length * 16;
  const file = Buffer.alloc(shoff + 3 * 64);
  file.writeUInt32BE(0x7f454c46, 0);
  file[4] = 2; // ELFCLASS64
  file[5] = 1; // little-endian
  file[6] = 1;
  file.writeUInt16LE(3, 16); // ET_DYN
  file.writeUInt16LE(62, 18); // x86-64
  file.writeBigUInt64LE(BigInt(shoff), 0x28);
  file.writeUInt16LE(64, 0x34);
  file.writeUInt16LE(64, 0x3a);
  file.writeUInt16LE(3, 0x3c);
  dynstr.copy(file, dynstrAt);
  entries.forEach(([tag, value], i) => {
    file.writeBigInt64LE(BigInt(tag), dynamicAt + i * 16);
    file.writeBigUInt64LE(BigInt(value), dynamicAt + i * 16 + 8);
  });
  const section = (index: number, type: number, offset: number, size: number, link: number) => {
    const at = shoff + index * 64;
    file.writeUInt32LE(type, at + 4);
    file.writeBigUInt64LE(BigInt(offset), at + 24);
    file.writeBigUInt64LE(BigInt(size), at + 32);
    file.writeUInt32LE(link, at + 40);
  };
  section(1, 3, dynstrAt, dynstr.length, 0); // SHT_STRTAB
  section(2, 6, dynamicAt, entries.length * 16, 1); // SHT_DYNAMIC → .dynstr
  return file;
}

describe('ELF dynamic section', () => {
  it('reads DT_NEEDED and DT_RUNPATH', () => {
    const parsed = readElfDynamic(fakeElf(['libc.so.6', 'libcudart.so.13'], '$ORIGIN:/opt/x'));
    expect(parsed).toEqual({
      needed: ['libc.so.6', 'libcudart.so.13'],
      runpath: ['$ORIGIN', '/opt/x'],
      rpath: false,
    });
  });

  it('refuses what is not a 64-bit little-endian ELF file, on one line', () => {
    expect(() =>
      readElfDynamic(Buffer.from('#!/bin/sh\necho hello, this is not ELF at all........................')),
    ).toThrow(/^not an ELF file$/);
    const elf32 = fakeElf(['libc.so.6']);
    elf32[4] = 1;
    expect(() => readElfDynamic(elf32)).toThrow('not a 64-bit little-endian ELF file');
  });

  it("reads onnxruntime's real binding and finds its libraries where the loader would", () => {
    const binding = join(bindingDir(), 'onnxruntime_binding.node');
    expect(readElfDynamic(readFileSync(binding)).needed).toContain('libonnxruntime.so.1');
    const libs = neededLibraries(binding);
    expect(libs.find((lib) => lib.name === 'libonnxruntime.so.1')?.path).toBe(
      join(bindingDir(), 'libonnxruntime.so.1'),
    );
    expect(libs.find((lib) => lib.name === 'libc.so.6')?.path).toMatch(/\/libc\.so\.6$/);
    expect(missingLibraries(binding)).toEqual([]);
  });

  it('looks in $ORIGIN and LD_LIBRARY_PATH', () => {
    const lib = join(dir(), 'libneeds.so');
    writeFileSync(lib, fakeElf(['libsibling.so.1', 'libelsewhere.so.2', 'libc.so.6'], '$ORIGIN'));
    writeFileSync(join(dir(), 'libsibling.so.1'), '');
    expect(missingLibraries(lib, {})).toEqual(['libelsewhere.so.2']);
    const other = join(dir(), 'other');
    mkdirSync(other);
    writeFileSync(join(other, 'libelsewhere.so.2'), '');
    expect(missingLibraries(lib, { LD_LIBRARY_PATH: other })).toEqual([]);
  });
});

describe('provider check', () => {
  it('names the CUDA library a provider needs and the loader cannot find', async () => {
    const providers = join(dir(), 'bin');
    mkdirSync(providers);
    writeFileSync(join(providers, 'libonnxruntime_providers_shared.so'), fakeElf(['libc.so.6']));
    writeFileSync(
      join(providers, 'libonnxruntime_providers_cuda.so'),
      fakeElf(
        ['libonnxruntime_providers_shared.so', 'libcublasLt.so.99', 'libcudart.so.99', 'libc.so.6'],
        '$ORIGIN',
      ),
    );
    expect(providerFiles('cuda', providers, {})).toEqual({
      absent: [],
      missing: ['libcublasLt.so.99', 'libcudart.so.99'],
    });
    expect(providerFiles('tensorrt', providers, {}).absent).toEqual(['libonnxruntime_providers_tensorrt.so']);
    const status = await checkProvider('cuda', providers, {});
    expect(status.available).toBe(false);
    expect(status.detail).toBe(
      'its libraries need libcublasLt.so.99, libcudart.so.99, which the loader cannot find ' +
        '(install them or add their folder to LD_LIBRARY_PATH)',
    );
  });

  it('counts cpu as available only after running a model on it', async () => {
    expect(await checkProvider('cpu')).toEqual({
      provider: 'cpu',
      available: true,
      detail: 'a test model ran on it',
      missing: [],
    });
  });
});
