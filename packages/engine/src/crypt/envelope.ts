import { decodeBase64, encodeBase64 } from './base64.js';

// ESC's ciphertext envelope (pulumi/esc eval/crypt.go), base64-encoded:
//
//   "escx" || uint32be(version = 1) || ciphertext || uint32be(CRC-32/IEEE of all preceding bytes)

export const ENVELOPE_MAGIC = 'escx';
export const ENVELOPE_VERSION = 1;
/** magic + version + checksum, plus at least 4 bytes of ciphertext, as ESC requires. */
export const ENVELOPE_MIN_BYTES = 16;

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as Go's crc32.IEEETable. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export class EnvelopeError extends Error {}

/** Wraps raw ciphertext in the envelope and base64-encodes it. */
export function encodeCiphertext(ciphertext: Uint8Array): string {
  const out = new Uint8Array(ciphertext.length + 12);
  const view = new DataView(out.buffer);
  out.set([0x65, 0x73, 0x63, 0x78], 0); // "escx"
  view.setUint32(4, ENVELOPE_VERSION);
  out.set(ciphertext, 8);
  view.setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)));
  return encodeBase64(out);
}

/** Unwraps an envelope. The input is attacker-controlled: every field is checked before use. */
export function decodeCiphertext(repr: string): Uint8Array {
  let bin: Uint8Array;
  try {
    bin = decodeBase64(repr);
  } catch (e) {
    throw new EnvelopeError((e as Error).message);
  }
  if (bin.length < ENVELOPE_MIN_BYTES) throw new EnvelopeError('EOF');
  if (bin[0] !== 0x65 || bin[1] !== 0x73 || bin[2] !== 0x63 || bin[3] !== 0x78) {
    throw new EnvelopeError('invalid header');
  }
  const view = new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
  if (view.getUint32(bin.length - 4) !== crc32(bin.subarray(0, bin.length - 4))) {
    throw new EnvelopeError('invalid checksum');
  }
  if (view.getUint32(4) !== ENVELOPE_VERSION) throw new EnvelopeError('unsupported version');
  return bin.slice(8, bin.length - 4);
}
