/**
 * Checks on JSON request bodies that Fastify's own parser does not make: how deeply arrays and
 * objects nest (a body of 30 MB of `[[[[…` cost seconds of parsing and schema work before), and
 * lone UTF-16 surrogates in strings (`"\ud800"` parses to a string that cannot be stored or sent
 * back as valid UTF-8: it would be mangled into U+FFFD, so it is refused instead). Pure functions.
 */

/**
 * The deepest nesting of `[` and `{` in a JSON text, outside strings; stops counting (and returns
 * a value over `limit`) as soon as `limit` is passed, so a hostile body costs one short scan.
 *
 * @example
 * jsonDepth('{"a":[1,[2]]}'); // 3
 * jsonDepth('"[[["');          // 0
 */
export function jsonDepth(text: string, limit = Number.POSITIVE_INFINITY): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) {
      depth++;
      if (depth > max) {
        max = depth;
        if (max > limit) return max;
      }
    } else if (c === 0x5d || c === 0x7d) depth--;
  }
  return max;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** True when `text` holds a high surrogate without its low half, or a low one without its high. */
export function hasLoneSurrogate(text: string): boolean {
  return LONE_SURROGATE.test(text);
}

/**
 * The path (`$.labels[0].name`) of the first string, or object key, of a parsed JSON value that
 * holds a lone surrogate; null when there is none.
 */
export function findLoneSurrogate(value: unknown, at = '$'): string | null {
  if (typeof value === 'string') return hasLoneSurrogate(value) ? at : null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findLoneSurrogate(value[i], `${at}[${i}]`);
      if (found) return found;
    }
    return null;
  }
  if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (hasLoneSurrogate(k)) return `${at} (a key)`;
      const found = findLoneSurrogate(v, `${at}.${k}`);
      if (found) return found;
    }
  }
  return null;
}
