// Error builders and argument validation. System errors have the shape of Node's own fs errors; argument
// errors carry Node's ERR_* codes and are thrown before anything crosses into native code.
import { getSystemErrorMap, inspect } from 'node:util';

export interface SystemError extends Error {
  code: string;
  errno: number;
  syscall: string;
  path?: string;
}

/** Builds `EBADF: bad file descriptor, sendfile 'path'` with code, errno (negative), syscall and path. */
export function systemError(errno: number, syscall: string, path?: string): SystemError {
  const [code, description] = getSystemErrorMap().get(errno) ?? ['UNKNOWN', 'unknown error'];
  const where = path === undefined ? syscall : `${syscall} '${path}'`;
  const err = new Error(`${code}: ${description}, ${where}`) as SystemError;
  err.errno = errno;
  err.code = code;
  err.syscall = syscall;
  if (path !== undefined) err.path = path;
  return err;
}

/** Rethrows an fs error from a fallback path as if the emulated syscall had failed. */
export function asSyscallError(err: unknown, syscall: string): unknown {
  const e = err as Partial<SystemError>;
  if (typeof e?.errno !== 'number' || typeof e.code !== 'string') return err;
  return systemError(e.errno, syscall, e.path);
}

export type CodedError<E extends Error = Error> = E & { code: string };

function codeError<E extends Error>(Base: new (m: string) => E, code: string, message: string,
  ctor: Function): CodedError<E> {
  const err = new Base(message) as CodedError<E>;
  err.code = code;
  Error.captureStackTrace?.(err, ctor);
  return err;
}

/** A mapped file was truncated under a read: `bytes` of valid file data were copied or moved first. */
export function mappingTruncated(bytes: number, what: string): CodedError & { bytes: number } {
  const err = codeError(Error, 'ERR_MAPPING_TRUNCATED',
    `${what} stopped after ${bytes} bytes: the mapped file was truncated by another process`,
    mappingTruncated) as CodedError & { bytes: number };
  err.bytes = bytes;
  return err;
}

/** Like Node's AbortError (name 'AbortError', code 'ABORT_ERR'), with the bytes moved before the abort. */
export function abortError(bytes: number, signal?: AbortSignal): Error & { code: string; bytes: number } {
  const err = new Error('The operation was aborted', { cause: signal?.reason }) as Error & {
    code: string;
    bytes: number;
  };
  err.name = 'AbortError';
  err.code = 'ABORT_ERR';
  err.bytes = bytes;
  Error.captureStackTrace?.(err, abortError);
  return err;
}

/** The input file shrank below the promised length while it was being sent. */
export function fileTruncated(bytes: number, expected: number, path?: string): CodedError & { bytes: number } {
  const where = path === undefined ? 'the input file' : `'${path}'`;
  const err = codeError(Error, 'ERR_FILE_TRUNCATED',
    `${where} was truncated during the transfer: ${bytes} of ${expected} bytes were sent`,
    fileTruncated) as CodedError & { bytes: number };
  err.bytes = bytes;
  return err;
}

/** The file's lease broke (another process opened it for writing or truncated it) and the transfer could not
 * finish within its grace: it was stopped before the writer could change a byte it sends. */
export function leaseBroken(bytes: number, expected: number, path?: string): CodedError & { bytes: number } {
  const where = path === undefined ? 'the input file' : `'${path}'`;
  const err = codeError(Error, 'ERR_LEASE_BROKEN',
    `another process wants to change ${where}: the transfer stopped after ${bytes} of ${expected} bytes`,
    leaseBroken) as CodedError & { bytes: number };
  err.bytes = bytes;
  return err;
}

/** Adds the count of bytes moved before a failure to its error. */
export function withBytes<E extends object>(err: E, bytes: number): E & { bytes: number } {
  return Object.assign(err, { bytes });
}

/** Passed by the package's own code to constructors that users must not call (they get the factories). */
export const INTERNAL: unique symbol = Symbol('zerocopy.internal');

export function illegalConstructor(name: string, use: string): CodedError<TypeError> {
  return codeError(TypeError, 'ERR_ILLEGAL_CONSTRUCTOR', `${name} cannot be constructed directly: use ${use}`,
    illegalConstructor);
}

export function mappingClosed(method: string): CodedError {
  return codeError(Error, 'ERR_MAPPING_CLOSED', `Mapping.${method}() after unmap()`, mappingClosed);
}

export function unsupported(what: string, why: string): Error & { code: string } {
  return codeError(Error, 'ERR_ZEROCOPY_UNSUPPORTED', `${what} is not available: ${why}`, unsupported);
}

function describe(value: unknown): string {
  if (value === null) return 'Received null';
  if (value === undefined) return 'Received undefined';
  if (typeof value === 'function') return `Received function ${value.name || '<anonymous>'}`;
  if (typeof value === 'object') {
    const name = (value as object).constructor?.name;
    return name ? `Received an instance of ${name}` : `Received ${inspect(value, { depth: -1 })}`;
  }
  let shown = inspect(value, { colors: false });
  if (shown.length > 28) shown = `${shown.slice(0, 25)}...`;
  return `Received type ${typeof value} (${shown})`;
}

export function invalidArgType(name: string, expected: string, value: unknown): TypeError & { code: string } {
  return codeError(
    TypeError,
    'ERR_INVALID_ARG_TYPE',
    `The "${name}" argument must be ${expected}. ${describe(value)}`,
    invalidArgType,
  );
}

export function outOfRange(name: string, range: string, value: unknown): RangeError & { code: string } {
  const shown = typeof value === 'bigint' ? `${value}n` : inspect(value);
  return codeError(
    RangeError,
    'ERR_OUT_OF_RANGE',
    `The value of "${name}" is out of range. It must be ${range}. Received ${shown}`,
    outOfRange,
  );
}

export function invalidArgValue(name: string, value: unknown, reason: string): TypeError & { code: string } {
  return codeError(
    TypeError,
    'ERR_INVALID_ARG_VALUE',
    `The argument '${name}' ${reason}. Received ${inspect(value, { depth: 0 })}`,
    invalidArgValue,
  );
}

const INT32_MAX = 2 ** 31 - 1;
const INT64_MAX = 2n ** 63n - 1n;

/** A file descriptor: an int32 >= 0. */
export function validateFd(value: unknown, name: string): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value);
  if (value < 0 || value > INT32_MAX) throw outOfRange(name, `>= 0 && <= ${INT32_MAX}`, value);
  return value;
}

/** A byte count: a safe integer >= 0. */
export function validateLength(value: unknown, name: string): number {
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value);
  if (value < 0 || value > Number.MAX_SAFE_INTEGER) {
    throw outOfRange(name, `>= 0 && <= ${Number.MAX_SAFE_INTEGER}`, value);
  }
  return value;
}

/** An optional file offset: number or bigint in [0, 2^63-1]; undefined and null mean "the fd's position". */
export function validateOffset(value: unknown, name: string): number | bigint | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'bigint') {
    if (value < 0n || value > INT64_MAX) throw outOfRange(name, `>= 0 && <= 2 ** 63 - 1`, value);
    return value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  }
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number or bigint', value);
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value);
  if (value < 0 || value > Number.MAX_SAFE_INTEGER) {
    throw outOfRange(name, `>= 0 && <= ${Number.MAX_SAFE_INTEGER} (use a bigint beyond)`, value);
  }
  return value;
}

export function validateBoolean(value: unknown, name: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw invalidArgType(name, 'of type boolean', value);
  return value;
}

/** An optional AbortSignal; an already-aborted one rejects at once with AbortError (bytes 0). */
export function validateSignal(value: unknown, name = 'options.signal'): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) throw invalidArgType(name, 'an instance of AbortSignal', value);
  if (value.aborted) throw abortError(0, value);
  return value;
}

/** An options bag: undefined (no options) or a plain object. */
export function validateOptions<T extends object>(value: unknown, name = 'options'): Partial<T> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw invalidArgType(name, 'of type object', value);
  return value as Partial<T>;
}
