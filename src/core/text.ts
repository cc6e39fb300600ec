/**
 * Text a database can keep. PostgreSQL stores no NUL character in `text`, and a JSON `\u0000` or a lone
 * UTF-16 surrogate (`\ud800`), which JavaScript strings may hold, makes every JSON operator on the document
 * fail ("unsupported Unicode escape sequence"). Such text is refused where it enters (the API's schemas), or
 * repaired where it is the program's own (a worker's error message cut at a length limit).
 */

/** A NUL, or a UTF-16 surrogate that is not half of a pair (matched code unit by code unit: no `u` flag). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the NUL is what this looks for.
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

export function isStorableText(text: string): boolean {
  UNSTORABLE.lastIndex = 0;
  return !UNSTORABLE.test(text);
}

/** `text` with each NUL and lone surrogate replaced by U+FFFD. */
export function toStorableText(text: string): string {
  return text.replace(UNSTORABLE, '\ufffd');
}
