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
  const multiline = flags.includes('m');
  let out = '';
  let inClass = false;
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '\\') {
      const n = p[i + 1];
      if (n === undefined) throw new Error('trailing backslash');
      i++;
      if (n === 'z') out += multiline ? '(?![\\s\\S])' : '$';
      else if (n === 'A') out += multiline ? '(?<![\\s\\S])' : '^';
      else if (n === 'Q') {
        const end = p.indexOf('\\E', i + 1);
        const literal = p.slice(i + 1, end < 0 ? p.length : end);
        out += literal.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
        i = end < 0 ? p.length : end + 1;
      } else if (n === 'C' || n === 'p' || n === 'P') {
        throw new Error(`\\${n} is not supported here`);
      } else out += `\\${n}`;
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
    out += c;
  }
  return new RegExp(out, flags);
}
