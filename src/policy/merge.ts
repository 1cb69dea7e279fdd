/**
 * `extends` merge: objects merge key by key, everything else (arrays included) is replaced by the
 * extending policy. Replacing arrays keeps a policy readable on its own: the list you see is the list.
 */
export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isObject(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function mergePolicy(base: Json, over: Json): Json {
  if (!isObject(base) || !isObject(over)) return structuredClone(over);
  const out: Record<string, Json> = structuredClone(base);
  for (const [k, v] of Object.entries(over)) {
    out[k] = k in out ? mergePolicy(out[k]!, v) : structuredClone(v);
  }
  return out;
}
