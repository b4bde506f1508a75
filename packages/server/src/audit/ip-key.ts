import { isIPv4, isIPv6 } from 'node:net';

/** Bytes of an address key: every address is stored as 16 bytes, so IPv4 and IPv6 share one ordering. */
export const IP_KEY_BYTES = 16;

/** An inclusive range of address keys: what a CIDR block or a single address selects. */
export interface IpKeyRange {
  readonly low: Uint8Array;
  readonly high: Uint8Array;
}

/**
 * The sortable key of an address: IPv6 as its 16 bytes, IPv4 as the IPv4-mapped address `::ffff:a.b.c.d`
 * (RFC 4291 §2.5.5.2). Byte order is address order, so a CIDR block is one contiguous key range that both SQLite
 * (memcmp on BLOBs) and PostgreSQL (bytewise `bytea`) compare the same way. Undefined for anything else: the
 * text comes from a request or a stored record, both attacker-controlled.
 */
export function ipKey(text: string): Uint8Array | undefined {
  if (isIPv4(text)) return v4Key(text);
  if (isIPv6(text) && !text.includes('%')) return v6Key(text);
  return undefined;
}

/** Longest CIDR text accepted (a full IPv6 address with a prefix length is 43 characters). */
const MAX_CIDR = 64;

/**
 * The key range of `a.b.c.d/p`, `x:y::/p` or a single address. Host bits set below the prefix are ignored
 * (`10.1.2.3/8` is `10.0.0.0/8`). An IPv4 block is the matching IPv4-mapped block (prefix + 96).
 */
export function cidrRange(text: string): IpKeyRange | undefined {
  if (text.length > MAX_CIDR) return undefined;
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const key = ipKey(address);
  if (!key) return undefined;
  const max = isIPv4(address) ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const length = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(length) || Number(length) > max) return undefined;
    prefix = Number(length);
  }
  const bits = prefix + (max === 32 ? 96 : 0);
  const low = new Uint8Array(IP_KEY_BYTES);
  const high = new Uint8Array(IP_KEY_BYTES);
  for (let i = 0; i < IP_KEY_BYTES; i++) {
    const kept = Math.max(0, Math.min(8, bits - i * 8));
    const mask = (0xff << (8 - kept)) & 0xff;
    low[i] = key[i]! & mask;
    high[i] = (key[i]! & mask) | (~mask & 0xff);
  }
  return { low, high };
}

function v4Key(text: string): Uint8Array {
  const key = new Uint8Array(IP_KEY_BYTES);
  key[10] = 0xff;
  key[11] = 0xff;
  text.split('.').forEach((octet, i) => (key[12 + i] = Number(octet)));
  return key;
}

/** `isIPv6` has validated the text: at most one `::`, groups of 1–4 hex digits, an optional trailing IPv4. */
function v6Key(text: string): Uint8Array {
  const groups = (part: string): number[] => {
    if (part === '') return [];
    const out: number[] = [];
    for (const group of part.split(':')) {
      if (group.includes('.')) {
        const v4 = v4Key(group);
        out.push((v4[12]! << 8) | v4[13]!, (v4[14]! << 8) | v4[15]!);
      } else out.push(parseInt(group, 16));
    }
    return out;
  };
  const gap = text.indexOf('::');
  const head = groups(gap < 0 ? text : text.slice(0, gap));
  const tail = gap < 0 ? [] : groups(text.slice(gap + 2));
  const words = [...head, ...Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  const key = new Uint8Array(IP_KEY_BYTES);
  words.forEach((word, i) => {
    key[2 * i] = word >> 8;
    key[2 * i + 1] = word & 0xff;
  });
  return key;
}
