// createStaticHandler: a directory served as a node:http request handler or Express/Connect middleware.
import type * as http from 'node:http';
import * as path from 'node:path';
import { invalidArgType, invalidArgValue } from '../errors';
import { type Target, directoryLocation, originForm, resolveTarget } from './resolve';
import { FileCache } from './file-cache';
import { type Request, type Response, SERVE_OPTIONS, type ServeOptions, type ServeResult, failed, isReadMethod,
  keepOpenFor, methodNotAllowed, respondTarget, serveSettings } from './serve';

export interface StaticHandlerOptions extends Omit<ServeOptions, 'root' | 'signal' | 'start' | 'end' | 'onError'> {
  /** Called once per request answered (not for those passed to `next`); `result.error` for a cut response. */
  onResponse?: (req: Request, result: ServeResult) => void;
  /** With `next`: misses and refusals are passed on (true, the default) or answered here (false). */
  fallthrough?: boolean;
  /** A single-page app's shell (`'index.html'`, under root) for GETs that find nothing and accept HTML. */
  fallback?: string;
}

/** What the handler takes: serveFile's options for a directory, and its own. */
const STATIC_OPTIONS = [...SERVE_OPTIONS.filter((o) => !['signal', 'start', 'end', 'onError'].includes(o)),
  'onResponse', 'fallthrough', 'fallback'];

export type StaticHandler = (req: Request, res: Response, next?: (err?: unknown) => void) => void;

/**
 * `(req, res, next?)`: GET and HEAD are answered from `root`. With `next` (middleware), misses and refusals
 * (404, 403, other methods) are passed on unless `fallthrough: false`; without it they are answered. Failures
 * after the headers went out (a file truncated mid-body, a client gone) destroy the connection and reach
 * `onResponse` as `result.error`.
 */
export function createStaticHandler(root: string, options?: StaticHandlerOptions): StaticHandler {
  if (typeof root !== 'string') throw invalidArgType('root', 'of type string', root);
  const settings = serveSettings(options, 'options', STATIC_OPTIONS);
  settings.root = path.resolve(root);
  const cache = settings.fileCache === false ? undefined : new FileCache(settings.fileCache);
  settings.cache = cache;
  const { onResponse, fallthrough = true, fallback } = options ?? {};
  // A relative file path, every segment a name: an absolute path, '..' or a directory ('x/') is no file under root.
  const segments = typeof fallback === 'string' ? fallback.split(/[/\\]/) : [''];
  if (fallback !== undefined && segments.some((seg) => seg === '' || seg === '.' || seg === '..')) {
    throw invalidArgValue('options.fallback', fallback, "must be a relative path to a file under root, such as 'index.html'");
  }
  if (onResponse !== undefined && typeof onResponse !== 'function') {
    throw invalidArgType('options.onResponse', 'of type function', onResponse);
  }
  if (typeof fallthrough !== 'boolean') throw invalidArgType('options.fallthrough', 'of type boolean', fallthrough);
  const handler: StaticHandler = (req, res, next) => {
    const report = (result: ServeResult) => {
      try {
        onResponse?.(req, result);
      } catch (err) {
        // A logger's bug must not crash the server (it ran in a promise: an unhandled rejection): a warning.
        process.emitWarning(`options.onResponse threw: ${(err as Error)?.message ?? String(err)}`,
          { type: 'ZerocopyHookWarning', code: 'ZEROCOPY_HOOK_THREW', detail: (err as Error)?.stack });
      }
    };
    const passOn = next && fallthrough ? next : undefined;
    if (!isReadMethod(req)) return passOn ? passOn() : report(methodNotAllowed(res));
    if (cache) keepOpenFor(req, cache);
    // Mounted middleware sees a shortened url: the full one decides the redirects, as serve-static's.
    const original = originForm((req as http.IncomingMessage & { originalUrl?: string }).originalUrl ?? req.url ?? '/');
    let url = originForm(req.url ?? '/');
    // The mount point without its slash (`/static` seen as '/'): a directory asked for without one.
    if (/^\/?(?:[?#]|$)/.test(url) && !/^[^?#]*\/(?:[?#]|$)/.test(original)) url = url.replace(/^\//, '');
    let target: Target;
    try {
      target = resolveTarget(url, settings);
    } catch (err) {
      return next ? next(err) : report(failed(res, err as Error));
    }
    if (target.kind === 'refused' && target.status === 404 && fallback !== undefined && acceptsHtml(req)) {
      try {
        target = resolveTarget(`/${fallback}`, settings);
        // Only a regular file is a shell: a directory there is a 404, never a redirect (it would loop).
        if (target.kind === 'redirect') target = { kind: 'refused', status: 404, reason: 'not found' };
      } catch (err) {
        return next ? next(err) : report(failed(res, err as Error));
      }
    }
    if (target.kind === 'refused' && passOn) return passOn();
    if (target.kind === 'redirect') target.location = directoryLocation(original);
    void respondTarget(req, res, target, settings).then(report);
  };
  if (cache) caches.set(handler, cache);
  return handler;
}

/** Each handler's open-file cache, for closeHandlerFiles. */
const caches = new WeakMap<StaticHandler, FileCache>();

/**
 * Closes the files `handler` keeps open (those in use as responses end), for a framework that closes without an
 * http.Server 'close' (Fastify's onClose, with requests that came only through inject).
 */
export function closeHandlerFiles(handler: StaticHandler): void {
  caches.get(handler)?.clear();
}

/**
 * A browser navigating (Accept: text/html with a weight above 0), not a script or an image asking for a file that
 * is not there. `text/html;q=0` refuses HTML (RFC 9110 §12.4.2).
 */
function acceptsHtml(req: Request): boolean {
  const accept = req.headers.accept;
  if (typeof accept !== 'string') return false;
  return accept.split(',').some((range) => {
    const [type, ...params] = range.split(';');
    if (type.trim().toLowerCase() !== 'text/html') return false;
    const q = params.map((p) => /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(p)?.[1]).find((v) => v !== undefined);
    return q === undefined || Number(q) > 0;
  });
}
