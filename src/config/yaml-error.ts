import type { LineCounter, YAMLError } from 'yaml';

/**
 * A YAML syntax error as Gatehouse prints it: the yaml library's code, the line and column, and a description of our
 * own. Never the library's message: several quote the source text they stopped at (`Block scalar header includes extra
 * characters: |…`, `Could not resolve tag: !a!…`), and a configuration line is as likely as not a secret's.
 */
const DESCRIPTIONS: Readonly<Record<string, string>> = {
  ALIAS_PROPS: 'an alias cannot have an anchor or a tag',
  BAD_ALIAS: 'an alias that names no anchor before it',
  BAD_COLLECTION_TYPE: 'a tag that does not fit the collection it is on',
  BAD_DIRECTIVE: 'an invalid % directive',
  BAD_DQ_ESCAPE: 'an invalid escape in a double-quoted string',
  BAD_INDENT: 'wrong indentation',
  BAD_PROP_ORDER: 'anchor and tag in the wrong order',
  BAD_SCALAR_START: 'a plain value starting with a reserved character (quote it)',
  BLOCK_AS_IMPLICIT_KEY: 'a nested mapping where a key was expected (quote a value holding ": ")',
  BLOCK_IN_FLOW: 'block syntax inside a flow collection ([…] or {…})',
  DUPLICATE_KEY: 'a duplicated key (map keys must be unique, compared as the value they become: 1 and "1" are one key)',
  IMPOSSIBLE: 'an internal YAML parser error',
  KEY_OVER_1024_CHARS: 'an implicit key over 1024 characters',
  MISSING_CHAR: 'a missing character (an unclosed quote or bracket?)',
  MULTILINE_IMPLICIT_KEY: 'an implicit key spanning lines',
  MULTIPLE_ANCHORS: 'more than one anchor on a node',
  MULTIPLE_DOCS: 'more than one YAML document',
  MULTIPLE_TAGS: 'more than one tag on a node',
  NON_STRING_KEY: 'a key that is not a string',
  TAB_AS_INDENT: 'a tab used as indentation',
  TAG_RESOLVE_FAILED: 'an unknown tag (a value starting with ! must be quoted)',
  UNEXPECTED_TOKEN: 'unexpected text (a value starting with |, >, !, &, *, @, ` or % must be quoted)',
};

/** `line 4, column 12: YAML UNEXPECTED_TOKEN, unexpected text (…)`, from the error's position in `lines`' text. */
export function describeYamlError(e: YAMLError, lines?: LineCounter): string {
  const code = /^[A-Z0-9_]{1,40}$/.test(String(e.code)) ? String(e.code) : 'ERROR';
  const pos = e.linePos?.[0] ?? (lines && Array.isArray(e.pos) ? lines.linePos(e.pos[0]) : undefined);
  const where = pos && pos.line > 0 ? `line ${pos.line}, column ${pos.col}: ` : '';
  return `${where}YAML ${code}, ${DESCRIPTIONS[code] ?? 'invalid YAML'}`;
}
