/**
 * The line of a `format=jsonl` audit-log export: `{"index":<N>,"entry":<entry bytes>}` + `\n`, where the entry
 * bytes are exactly the ledger entry as stored (RFC 8785 canonical JSON, the bytes the tree hashes). The line is
 * valid JSON, and a verifier recovers the exact bytes without re-serializing: they lie between the fixed prefix
 * `{"index":<N>,"entry":` and the final `}` — re-encoding a parsed entry would not reproduce them in general.
 */
const PREFIX = '{"index":';
const MIDDLE = ',"entry":';
const SUFFIX = '}';
const NEWLINE = 0x0a;

const encoder = new TextEncoder();

/** One export line, newline included. */
export function formatExportLine(index: number, entry: Uint8Array): Uint8Array {
  const head = encoder.encode(`${PREFIX}${index}${MIDDLE}`);
  const line = new Uint8Array(head.length + entry.length + 2);
  line.set(head, 0);
  line.set(entry, head.length);
  line[head.length + entry.length] = SUFFIX.charCodeAt(0);
  line[head.length + entry.length + 1] = NEWLINE;
  return line;
}

/** Longest index text: 2^53−1 has 16 digits. */
const MAX_INDEX_DIGITS = 16;

/**
 * The index and exact entry bytes of one export line (without or with its trailing `\n`), or undefined if the line
 * is not in that frame. The line comes from a file anyone could have edited: the frame is checked byte by byte
 * (canonical decimal index, a safe integer); the entry itself is the verifier's to check, against a proof.
 */
export function parseExportLine(line: Uint8Array): { index: number; entry: Uint8Array } | undefined {
  let end = line.length;
  if (end > 0 && line[end - 1] === NEWLINE) end--;
  if (!startsWith(line, PREFIX, 0)) return undefined;
  let at = PREFIX.length;
  const digitsStart = at;
  while (at < end && line[at]! >= 0x30 && line[at]! <= 0x39 && at - digitsStart <= MAX_INDEX_DIGITS) at++;
  const digits = String.fromCharCode(...line.subarray(digitsStart, at));
  if (!/^(0|[1-9][0-9]*)$/.test(digits) || !Number.isSafeInteger(Number(digits))) return undefined;
  if (!startsWith(line, MIDDLE, at)) return undefined;
  at += MIDDLE.length;
  if (end - 1 < at || line[end - 1] !== SUFFIX.charCodeAt(0)) return undefined;
  return { index: Number(digits), entry: line.subarray(at, end - 1) };
}

function startsWith(bytes: Uint8Array, text: string, at: number): boolean {
  if (bytes.length < at + text.length) return false;
  for (let i = 0; i < text.length; i++) if (bytes[at + i] !== text.charCodeAt(i)) return false;
  return true;
}
