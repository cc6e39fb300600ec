/**
 * The dynamic section of an ELF shared library: the libraries it needs (DT_NEEDED) and where it asks the
 * loader to look for them (DT_RUNPATH, DT_RPATH). Enough to name the library a provider misses before
 * onnxruntime fails with "Failed to load shared library". 64-bit little-endian files only (x86-64, arm64).
 */
export interface ElfDynamic {
  needed: string[];
  /** DT_RUNPATH, else DT_RPATH, split on ':' (unexpanded: `$ORIGIN` stays). */
  runpath: string[];
  /** Whether the search path came from DT_RPATH, which the loader tries before LD_LIBRARY_PATH. */
  rpath: boolean;
}

const SHT_DYNAMIC = 6;
const DT_NEEDED = 1n;
const DT_RPATH = 15n;
const DT_RUNPATH = 29n;

/** Parses `file`; throws a one-line Error for anything that is not a 64-bit little-endian ELF. */
export function readElfDynamic(file: Buffer): ElfDynamic {
  if (file.length < 64 || file.readUInt32BE(0) !== 0x7f454c46) throw new Error('not an ELF file');
  if (file[4] !== 2 || file[5] !== 1) throw new Error('not a 64-bit little-endian ELF file');
  const shoff = Number(file.readBigUInt64LE(0x28));
  const shentsize = file.readUInt16LE(0x3a);
  const shnum = file.readUInt16LE(0x3c);
  if (shoff === 0 || shentsize < 64 || shoff + shnum * shentsize > file.length) {
    throw new Error('ELF file without a readable section table');
  }
  const section = (index: number) => {
    const at = shoff + index * shentsize;
    return {
      type: file.readUInt32LE(at + 4),
      offset: Number(file.readBigUInt64LE(at + 24)),
      size: Number(file.readBigUInt64LE(at + 32)),
      link: file.readUInt32LE(at + 40),
    };
  };
  const result: ElfDynamic = { needed: [], runpath: [], rpath: false };
  for (let i = 0; i < shnum; i++) {
    const dynamic = section(i);
    if (dynamic.type !== SHT_DYNAMIC) continue;
    if (dynamic.link >= shnum) throw new Error('ELF dynamic section without a string table');
    const strings = section(dynamic.link);
    const string = (offset: bigint) => {
      const start = strings.offset + Number(offset);
      const end = file.indexOf(0, start);
      if (start >= strings.offset + strings.size || end < 0) throw new Error('ELF string out of range');
      return file.toString('utf8', start, end);
    };
    let runpath: string | undefined;
    let rpath: string | undefined;
    for (let at = dynamic.offset; at + 16 <= dynamic.offset + dynamic.size; at += 16) {
      const tag = file.readBigInt64LE(at);
      const value = file.readBigUInt64LE(at + 8);
      if (tag === 0n) break;
      if (tag === DT_NEEDED) result.needed.push(string(value));
      else if (tag === DT_RUNPATH) runpath = string(value);
      else if (tag === DT_RPATH) rpath = string(value);
    }
    // The loader ignores DT_RPATH when DT_RUNPATH is there.
    const path = runpath ?? rpath;
    result.runpath = path ? path.split(':').filter(Boolean) : [];
    result.rpath = runpath === undefined && rpath !== undefined;
  }
  return result;
}
