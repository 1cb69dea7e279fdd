/**
 * Strict JSON: what we parse is what we hashed, and it means one thing.
 * JSON.parse silently keeps the last of duplicate keys, while other parsers keep the first; a
 * document with duplicate keys can therefore be read differently by the signer and by us
 * (a classic confusion attack), so any duplicate key, at any depth, refuses the document.
 * Invalid UTF-8 and a byte-order mark are refused too, for the same reason.
 */
import { SandboxError, type SandboxErrorCode } from '../errors.js';

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function parseStrictJson(bytes: Buffer, what: string, code: SandboxErrorCode = 'IMAGE'): unknown {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw new SandboxError(code, `${what} is not valid UTF-8`, { reason: 'invalid-json', blob: what });
  }
  if (text.charCodeAt(0) === 0xfeff) {
    throw new SandboxError(code, `${what} starts with a byte-order mark`, { reason: 'invalid-json', blob: what });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new SandboxError(code, `${what} is not valid JSON: ${(e as Error).message}`, { reason: 'invalid-json', blob: what });
  }
  const dup = findDuplicateKey(text);
  if (dup !== undefined) {
    throw new SandboxError(code, `${what} has the duplicate JSON key ${JSON.stringify(dup)}; refusing an ambiguous document`, {
      reason: 'duplicate-key',
      blob: what,
      key: dup,
    });
  }
  return value;
}

/**
 * Walks already-valid JSON text (JSON.parse accepted it) and returns the first key that appears
 * twice in one object, comparing keys after unescaping ("a" and "\u0061" are the same key).
 */
export function findDuplicateKey(text: string): string | undefined {
  const stack: (Set<string> | null)[] = []; // one entry per open container; null for arrays
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{') {
      stack.push(new Set());
      expectKey = true;
    } else if (c === '[') {
      stack.push(null);
      expectKey = false;
    } else if (c === '}' || c === ']') {
      stack.pop();
      expectKey = false;
    } else if (c === ',') {
      expectKey = stack[stack.length - 1] != null;
    } else if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        const keys = stack[stack.length - 1]!;
        if (keys.has(key)) return key;
        keys.add(key);
        expectKey = false;
      }
      i = j;
    }
  }
  return undefined;
}

/** A plain JSON object (not null, not an array). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
