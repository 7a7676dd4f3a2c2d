// cluster-autoscaler compiles the priority expander's patterns with Go's regexp (RE2 syntax). Most of it
// is JavaScript syntax too, but a few Go forms would either be rejected by RegExp or, worse, parse and
// silently mean something else (`\z`, `[[:alnum:]]`). This translates those forms and refuses the rest
// with a message, so a ConfigMap written for cluster-autoscaler ranks groups the same here or not at all.

const POSIX: Readonly<Record<string, string>> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7F',
  blank: '\\t ',
  cntrl: '\\x00-\\x1F\\x7F',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

/** A RegExp with Go's meaning for `pattern`; throws an Error naming the construct it cannot carry over. */
export function goRegExp(pattern: string): RegExp {
  let p = pattern;
  let flags = '';
  // Go puts flags in a leading group: (?i), (?s), (?m), (?U); JavaScript has them after the pattern.
  const lead = /^\(\?([a-zA-Z]+)\)/.exec(p);
  if (lead) {
    for (const f of lead[1]!) {
      if (f === 'i' || f === 's' || f === 'm') flags += flags.includes(f) ? '' : f;
      else throw new Error(`flag (?${f}) has no JavaScript equivalent`);
    }
    p = p.slice(lead[0].length);
  }
  let out = '';
  let inClass = false;
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '\\') {
      const n = p[i + 1];
      if (n === undefined) throw new Error('trailing backslash');
      i++;
      if (n === 'Q' && !inClass) {
        const end = p.indexOf('\\E', i + 1);
        const literal = p.slice(i + 1, end < 0 ? p.length : end);
        out += literal.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
        i = end < 0 ? p.length : end + 1;
      } else if (n === 'x') {
        // \x{h...} or \xhh: a character code; JavaScript without the u flag has only \uhhhh.
        const m = /^\{([0-9a-fA-F]{1,6})\}|^([0-9a-fA-F]{2})/.exec(p.slice(i + 1));
        if (!m) throw new Error('\\x needs two hex digits or {hex}');
        const code = parseInt(m[1] ?? m[2]!, 16);
        if (code > 0xffff) throw new Error(`\\x{${m[1]}} is beyond what is supported here`);
        out += `\\u${code.toString(16).padStart(4, '0')}`;
        i += m[0].length;
      } else out += escape(n, inClass);
      continue;
    }
    if (inClass) {
      const posix = /^\[:(\^?)([a-z]+):\]/.exec(p.slice(i));
      if (posix) {
        const set = POSIX[posix[2]!];
        if (set === undefined) throw new Error(`unknown character class [:${posix[2]}:]`);
        if (posix[1]) throw new Error(`negated class [:^${posix[2]}:] is not supported here`);
        out += set;
        i += posix[0].length - 1;
        continue;
      }
      if (c === ']') inClass = false;
      out += c;
      continue;
    }
    if (c === '[') {
      inClass = true;
      out += c;
      // A ']' right after '[' or '[^' is a literal in Go.
      const neg = p[i + 1] === '^';
      if (neg) out += p[++i];
      if (p[i + 1] === ']') {
        out += '\\]';
        i++;
      }
      continue;
    }
    if (c === '(' && p.startsWith('(?P<', i)) {
      out += '(?<';
      i += 3;
      continue;
    }
    if (c === '(' && /^\(\?[a-zA-Z]*-?[a-zA-Z]*\)/.test(p.slice(i)))
      throw new Error('flags are supported only at the start of the pattern');
    // Lookarounds are not RE2: Go rejects them, so a pattern using them is not cluster-autoscaler's.
    if (c === '(' && /^\(\?(=|!|<=|<!)/.test(p.slice(i)))
      throw new Error('lookarounds are not supported by Go regexp');
    out += c;
  }
  return new RegExp(out, flags);
}

/**
 * One escape `\\n` (n not Q or x). Go's escapes that mean the same in JavaScript pass; `\\z`, `\\A`, `\\a`
 * and `\\s` are rewritten (JavaScript's `$`/`^` follow the m flag, its `\\s` takes Unicode spaces); what
 * Go rejects or JavaScript would read otherwise (backreferences, `\\Z`, `\\p`, unknown letters) is refused.
 */
function escape(n: string, inClass: boolean): string {
  if (/[^0-9A-Za-z]/.test(n)) return `\\${n}`; // an escaped punctuation character is itself
  if ('ftnrvdDwWbB'.includes(n)) {
    if (inClass && (n === 'b' || n === 'B')) throw new Error(`\\${n} inside a class is not supported here`);
    return `\\${n}`;
  }
  if (n === 'a') return '\\x07';
  if (n === 's') return inClass ? '\\t\\n\\f\\r ' : '[\\t\\n\\f\\r ]';
  if (n === 'S' && !inClass) return '[^\\t\\n\\f\\r ]';
  // End and start of text, whatever the m flag says (Go's \\z and \\A ignore it).
  if (n === 'z' && !inClass) return '(?![\\s\\S])';
  if (n === 'A' && !inClass) return '(?<![\\s\\S])';
  throw new Error(`\\${n}${inClass ? ' inside a class' : ''} is not supported here`);
}
