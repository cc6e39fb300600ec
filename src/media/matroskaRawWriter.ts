import { matroskaColourSpace, type PipePixelFormat } from './pixelFormat.js';

// A write-only subset of Matroska, just enough to hand raw frames to ffmpeg with exact timestamps.
const ID = {
  ebml: 0x1a45dfa3,
  ebmlVersion: 0x4286,
  ebmlReadVersion: 0x42f7,
  ebmlMaxIdLength: 0x42f2,
  ebmlMaxSizeLength: 0x42f3,
  docType: 0x4282,
  docTypeVersion: 0x4287,
  docTypeReadVersion: 0x4285,
  segment: 0x18538067,
  info: 0x1549a966,
  timestampScale: 0x2ad7b1,
  muxingApp: 0x4d80,
  writingApp: 0x5741,
  tracks: 0x1654ae6b,
  trackEntry: 0xae,
  trackNumber: 0xd7,
  trackUid: 0x73c5,
  trackType: 0x83,
  flagLacing: 0x9c,
  codecId: 0x86,
  video: 0xe0,
  pixelWidth: 0xb0,
  pixelHeight: 0xba,
  colourSpace: 0x2eb524,
  cluster: 0x1f43b675,
  timestamp: 0xe7,
  simpleBlock: 0xa3,
} as const;

const UNKNOWN_SIZE = Buffer.from([0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
/** Block header: track number 1 as a 1-byte vint, relative timestamp 0, keyframe flag. */
const BLOCK_HEADER = Buffer.from([0x81, 0x00, 0x00, 0x80]);

function idBytes(id: number): Buffer {
  const length = Math.ceil(Math.log2(id + 1) / 8);
  const bytes = Buffer.alloc(length);
  bytes.writeUIntBE(id, 0, length);
  return bytes;
}

/** EBML variable-length size: the shortest encoding (all-ones values are reserved for "unknown"). */
function sizeBytes(size: number): Buffer {
  let length = 1;
  while (size >= 2 ** (7 * length) - 1) length++;
  if (length > 8) throw new RangeError(`EBML element too large: ${size} bytes`);
  const bytes = Buffer.alloc(length);
  let rest = size;
  for (let i = length - 1; i >= 0; i--) {
    bytes[i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
  bytes[0] |= 0x80 >> (length - 1);
  return bytes;
}

function uintBytes(value: number): Buffer {
  let length = 1;
  while (value >= 2 ** (8 * length)) length++;
  const bytes = Buffer.alloc(length);
  bytes.writeUIntBE(value, 0, length);
  return bytes;
}

function element(id: number, data: Buffer | Buffer[]): Buffer {
  const body = Array.isArray(data) ? Buffer.concat(data) : data;
  return Buffer.concat([idBytes(id), sizeBytes(body.length), body]);
}

const uint = (id: number, value: number) => element(id, uintBytes(value));
const text = (id: number, value: string) => element(id, Buffer.from(value, 'latin1'));

export interface MatroskaVideo {
  width: number;
  height: number;
  pixFmt: PipePixelFormat;
}

/**
 * The start of a live Matroska stream with one V_UNCOMPRESSED track: EBML header, a Segment of
 * unknown size, Info with a 1 µs timestamp scale, and Tracks.
 */
export function matroskaHeader(video: MatroskaVideo): Buffer {
  const ebml = element(ID.ebml, [
    uint(ID.ebmlVersion, 1),
    uint(ID.ebmlReadVersion, 1),
    uint(ID.ebmlMaxIdLength, 4),
    uint(ID.ebmlMaxSizeLength, 8),
    text(ID.docType, 'matroska'),
    uint(ID.docTypeVersion, 4),
    uint(ID.docTypeReadVersion, 2),
  ]);
  const info = element(ID.info, [
    uint(ID.timestampScale, 1000),
    text(ID.muxingApp, 'spotfuse'),
    text(ID.writingApp, 'spotfuse'),
  ]);
  const track = element(ID.trackEntry, [
    uint(ID.trackNumber, 1),
    uint(ID.trackUid, 1),
    uint(ID.trackType, 1),
    uint(ID.flagLacing, 0),
    text(ID.codecId, 'V_UNCOMPRESSED'),
    element(ID.video, [
      uint(ID.pixelWidth, video.width),
      uint(ID.pixelHeight, video.height),
      element(ID.colourSpace, matroskaColourSpace(video.pixFmt)),
    ]),
  ]);
  return Buffer.concat([ebml, idBytes(ID.segment), UNKNOWN_SIZE, info, element(ID.tracks, track)]);
}

/**
 * One Cluster holding one keyframe SimpleBlock at `ptsMicros`. Returns the headers and the frame
 * itself as separate buffers so that the frame is written without being copied.
 */
export function matroskaFrame(frame: Buffer, ptsMicros: number): Buffer[] {
  if (!Number.isInteger(ptsMicros) || ptsMicros < 0) {
    throw new RangeError(`frame timestamp must be a non-negative integer of µs, got ${ptsMicros}`);
  }
  const timestamp = uint(ID.timestamp, ptsMicros);
  const blockSize = BLOCK_HEADER.length + frame.length;
  const blockHead = Buffer.concat([idBytes(ID.simpleBlock), sizeBytes(blockSize)]);
  const clusterSize = timestamp.length + blockHead.length + blockSize;
  const clusterHead = Buffer.concat([idBytes(ID.cluster), sizeBytes(clusterSize)]);
  return [Buffer.concat([clusterHead, timestamp, blockHead, BLOCK_HEADER]), frame];
}
