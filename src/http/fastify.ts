// zerocopy/fastify: a Fastify plugin, as @fastify/static is used. It serves `root` under `prefix` (GET and HEAD,
// misses to Fastify's not-found handler unless `fallthrough: false`) and decorates `reply.sendFile(path)`.
// The reply is hijacked and the raw response answered by serveFile, so `fastify.inject` works too (the copy path).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { invalidArgType, invalidArgValue } from '../errors';
import { type ServeOptions, type ServeResult, serveFile, serveSettings } from './serve';
import { type StaticHandlerOptions, closeHandlerFiles, createStaticHandler } from './static-handler';

export interface FastifyStaticOptions extends StaticHandlerOptions {
  root: string;
  /** The URL path the files are served under. Default '/'. */
  prefix?: string;
  /** false: only decorate reply.sendFile, register no route. */
  serve?: boolean;
  /** false: do not decorate reply.sendFile (a second registration, for another root or prefix). Default true. */
  decorateReply?: boolean;
}

declare module 'fastify' {
  interface FastifyReply {
    /**
     * `path` relative to the plugin's root, or to `rootPath` (@fastify/static's signature), not percent-encoded;
     * resolves with serveFile's result. Bad options reject before the reply is taken over (Fastify answers 500).
     */
    sendFile(path: string, options?: Omit<ServeOptions, 'root'>): Promise<ServeResult>;
    sendFile(path: string, rootPath: string, options?: Omit<ServeOptions, 'root'>): Promise<ServeResult>;
  }
}

async function zerocopyStatic(fastify: FastifyInstance, opts: FastifyStaticOptions): Promise<void> {
  const { root, prefix = '/', serve = true, decorateReply = true, ...options } = opts;
  if (typeof root !== 'string') throw invalidArgType('options.root', 'of type string', root);
  if (typeof prefix !== 'string') throw invalidArgType('options.prefix', 'of type string', prefix);
  if (!prefix.startsWith('/')) throw invalidArgValue('options.prefix', prefix, "must start with '/'");
  if (typeof serve !== 'boolean') throw invalidArgType('options.serve', 'of type boolean', serve);
  if (typeof decorateReply !== 'boolean') throw invalidArgType('options.decorateReply', 'of type boolean', decorateReply);
  const handle = createStaticHandler(root, options); // validates the options once, at registration
  // inject's requests have no http.Server whose close would close the files kept for them.
  fastify.addHook('onClose', (_instance, done) => {
    closeHandlerFiles(handle);
    done();
  });
  const { onResponse: _onResponse, fallthrough: _fallthrough, fallback: _fallback, ...fileOptions } = options;
  type Override = Omit<ServeOptions, 'root'>;
  if (decorateReply) fastify.decorateReply('sendFile', function sendFile(this: FastifyReply, file: string, rootOrOverride?: string | Override,
    override?: Override) {
    const [fileRoot, more] = typeof rootOrOverride === 'string' ? [rootOrOverride, override] : [root, rootOrOverride];
    const options = { ...fileOptions, ...more, root: fileRoot };
    try {
      if (typeof file !== 'string') throw invalidArgType('path', 'of type string', file);
      serveSettings(options); // before the hijack: a rejection after it would leave the request unanswered
    } catch (err) {
      return Promise.reject(err);
    }
    carryHeaders(this);
    this.hijack();
    const url = `/${file.split('/').filter((s) => s !== '').map(encodeURIComponent).join('/')}`;
    return serveFile(this.request.raw, this.raw, url, options);
  });
  if (!serve) return;
  const base = prefix.replace(/\/+$/, '');
  fastify.route({
    method: ['GET', 'HEAD'],
    url: `${base}/*`,
    handler(request: FastifyRequest, reply: FastifyReply) {
      const raw = request.raw as typeof request.raw & { originalUrl?: string };
      const { url, originalUrl } = raw;
      let passed: { err?: unknown } | undefined;
      // As a mounted middleware sees it (the handler reads it at once): the path under the prefix, and the full
      // URL for redirects. Restored for Fastify's hooks and logs.
      Object.assign(raw, { url: url!.slice(base.length) || '/', originalUrl: url });
      try {
        carryHeaders(reply);
        handle(raw, reply.raw, (err) => (passed = { err }));
      } finally {
        Object.assign(raw, { url, originalUrl });
      }
      if (!passed) return reply.hijack();
      return passed.err ? reply.send(passed.err) : reply.callNotFound();
    },
  });
}

/**
 * Headers set with reply.header() / reply.type() (in hooks, in the route) live on the reply until Fastify sends
 * it, which a hijacked reply never does: put on the raw response, as @fastify/static's replies carry them.
 */
function carryHeaders(reply: FastifyReply): void {
  for (const [name, value] of Object.entries(reply.getHeaders())) {
    if (value !== undefined && !reply.raw.hasHeader(name)) reply.raw.setHeader(name, value as string | number | string[]);
  }
}

// Not encapsulated (as fastify-plugin marks a plugin): reply.sendFile is there for the routes of the parent too.
Object.assign(zerocopyStatic, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'zerocopy' });

export default zerocopyStatic;
export { zerocopyStatic };
