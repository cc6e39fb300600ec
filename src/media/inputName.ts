/** How an input is named in messages: a URL loses its query string, which may hold a signature. */
export function inputName(input: string): string {
  return /^https?:\/\//i.test(input) ? input.replace(/[?#].*$/, '') : input;
}
