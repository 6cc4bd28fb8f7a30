// A case that cannot run on this machine (no C compiler, a strategy this build does not offer, a server that
// failed its requests): thrown by a case's setup or run, and printed and recorded as skipped with its reason,
// never as a 0, NaN or Infinity figure.
export class Skipped extends Error {}
