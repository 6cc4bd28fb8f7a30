// createStaticHandler: a directory served as a node:http request handler or Express/Connect middleware.
import type * as http from 'node:http';
import { invalidArgType } from '../errors';
import { directoryLocation, resolveTarget } from './resolve';
import { type Request, type Response, type ServeOptions, type ServeResult, failed, isReadMethod, methodNotAllowed,
  respondTarget, serveSettings } from './serve';

export interface StaticHandlerOptions extends Omit<ServeOptions, 'root' | 'signal'> {
  /** Called once per request answered (not for those passed to `next`); `result.error` for a cut response. */
  onResponse?: (req: Request, result: ServeResult) => void;
}

export type StaticHandler = (req: Request, res: Response, next?: (err?: unknown) => void) => void;

/**
 * `(req, res, next?)`: GET and HEAD are answered from `root`. With `next` (middleware), misses and refusals
 * (404, 403, other methods) are passed on; without it they are answered. Failures after the headers went out
 * (a file truncated mid-body, a client gone) destroy the connection and reach `onResponse` as `result.error`.
 */
export function createStaticHandler(root: string, options?: StaticHandlerOptions): StaticHandler {
  if (typeof root !== 'string') throw invalidArgType('root', 'of type string', root);
  const onResponse = options?.onResponse;
  if (onResponse !== undefined && typeof onResponse !== 'function') {
    throw invalidArgType('options.onResponse', 'of type function', onResponse);
  }
  const settings = serveSettings({ ...options, root });
  return (req, res, next) => {
    const report = (result: ServeResult) => onResponse?.(req, result);
    const url = req.url ?? '/';
    if (!isReadMethod(req)) return next ? next() : report(methodNotAllowed(res));
    let target;
    try {
      target = resolveTarget(url, settings);
    } catch (err) {
      return next ? next(err) : report(failed(res, err as Error));
    }
    if (target.kind === 'refused' && next) return next();
    if (target.kind === 'redirect') {
      // Mounted middleware sees a shortened url: redirect to the full one.
      target.location = directoryLocation((req as http.IncomingMessage & { originalUrl?: string }).originalUrl ?? url);
    }
    void respondTarget(req, res, target, settings).then(report);
  };
}
