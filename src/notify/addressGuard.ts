import type { LookupAddress, LookupAllOptions, LookupOneOptions } from 'node:dns';
import { lookup } from 'node:dns';
import { BlockList, isIP } from 'node:net';

/**
 * Addresses a coordinator must not POST to on a tenant's say-so: loopback, private networks, link-local
 * (cloud metadata services live there), carrier-grade NAT, unspecified and multicast.
 */
const PRIVATE = new BlockList();
for (const [net, bits] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const) {
  PRIVATE.addSubnet(net, bits, 'ipv4');
}
for (const [net, bits] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  // NAT64 for local use (RFC 8215): its IPv4 addresses sit at a prefix length of the operator's choosing.
  ['64:ff9b:1::', 48],
] as const) {
  PRIVATE.addSubnet(net, bits, 'ipv6');
}

/** The 16 bytes of an IPv6 address in any notation (`::`, a dotted IPv4 tail, a zone id); `isIP` said 6. */
function ipv6Bytes(address: string): number[] {
  let text = address.replace(/%.*$/, '');
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (dotted) {
    const [a, b, c, d] = dotted.slice(1).map(Number);
    text = `${text.slice(0, dotted.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, undefined];
  const groups = (part: string | undefined) =>
    part ? part.split(':').map((g) => Number.parseInt(g, 16)) : [];
  const left = groups(head);
  const right = groups(tail);
  const words =
    tail === undefined ? left : [...left, ...new Array(8 - left.length - right.length).fill(0), ...right];
  return words.flatMap((w) => [w >> 8, w & 0xff]);
}

const zeros = (bytes: number[], from: number, to: number) => bytes.slice(from, to).every((b) => b === 0);

/**
 * The IPv4 address an IPv6 address stands for, where it embeds one: IPv4-mapped (`::ffff:a.b.c.d`),
 * IPv4-compatible (`::a.b.c.d`, deprecated; also `::` and `::1`), IPv4-translated (`::ffff:0:a.b.c.d`),
 * NAT64's well-known prefix (`64:ff9b::a.b.c.d`), 6to4 (`2002:AABB:CCDD::`) and Teredo (`2001:0::`, whose
 * client address is stored inverted). A request to any of them may reach that IPv4 address.
 */
export function embeddedIpv4(address: string): string | undefined {
  if (isIP(address) !== 6) return undefined;
  const b = ipv6Bytes(address);
  const v4 = (at: number, invert = 0) =>
    b
      .slice(at, at + 4)
      .map((x) => x ^ invert)
      .join('.');
  const word = (i: number) => (b[2 * i] << 8) | b[2 * i + 1];
  if (zeros(b, 0, 10) && word(5) === 0xffff) return v4(12);
  if (zeros(b, 0, 12)) return v4(12);
  if (zeros(b, 0, 8) && word(4) === 0xffff && word(5) === 0) return v4(12);
  if (word(0) === 0x64 && word(1) === 0xff9b && zeros(b, 4, 12)) return v4(12);
  if (word(0) === 0x2002) return v4(2);
  if (word(0) === 0x2001 && word(1) === 0) return v4(12, 0xff);
  return undefined;
}

export function isPrivateAddress(address: string): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  if (family === 4) return PRIVATE.check(address, 'ipv4');
  const v4 = embeddedIpv4(address);
  if (v4 !== undefined && PRIVATE.check(v4, 'ipv4')) return true;
  return PRIVATE.check(address.replace(/%.*$/, ''), 'ipv6');
}

export class PrivateAddressError extends Error {
  constructor(address: string) {
    super(`${address} is a private address (the coordinator allows public webhook addresses only)`);
  }
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | LookupAddress[],
  family?: number,
) => void;

/**
 * A `lookup` for http.request that refuses private addresses: the check happens on the very addresses
 * the connection uses, so a name cannot resolve to a public address for a check and a private one after.
 */
export function publicOnlyLookup(
  hostname: string,
  options: LookupOneOptions | LookupAllOptions,
  callback: LookupCallback,
): void {
  lookup(hostname, { ...options, all: true }, (err, addresses) => {
    if (err) return callback(err, []);
    const denied = addresses.find((a) => isPrivateAddress(a.address));
    if (denied) return callback(new PrivateAddressError(denied.address), []);
    if ((options as LookupAllOptions).all) return callback(null, addresses);
    callback(null, addresses[0].address, addresses[0].family);
  });
}
