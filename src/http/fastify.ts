// zerocopy/fastify: a Fastify plugin, as @fastify/static is used. It serves `root` under `prefix` (GET and HEAD,
// misses to Fastify's not-found handler unless `fallthrough: false`) and decorates `reply.sendFile(path)`.
// The reply is hijacked and the raw response answered by serveFile, so `fastify.inject` works too (the copy path).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { invalidArgType, invalidArgValue } from '../errors';
import { type ServeOptions, type ServeResult, serveFile } from './serve';
import { type StaticHandlerOptions, createStaticHandler } from './static-handler';

export interface FastifyStaticOptions extends StaticHandlerOptions {
  root: string;
  /** The URL path the files are served under. Default '/'. */
  prefix?: string;
  /** false: only decorate reply.sendFile, register no route. */
  serve?: boolean;
}

declare module 'fastify' {
  interface FastifyReply {
    /** `path` relative to the plugin's root (not percent-encoded); resolves with serveFile's result. */
    sendFile(path: string, options?: Omit<ServeOptions, 'root'>): Promise<ServeResult>;
  }
}

async function zerocopyStatic(fastify: FastifyInstance, opts: FastifyStaticOptions): Promise<void> {
  const { root, prefix = '/', serve = true, ...options } = opts;
  if (typeof root !== 'string') throw invalidArgType('options.root', 'of type string', root);
  if (typeof prefix !== 'string') throw invalidArgType('options.prefix', 'of type string', prefix);
  if (!prefix.startsWith('/')) throw invalidArgValue('options.prefix', prefix, "must start with '/'");
  if (typeof serve !== 'boolean') throw invalidArgType('options.serve', 'of type boolean', serve);
  const handle = createStaticHandler(root, options); // validates the options once, at registration
  const { onResponse: _onResponse, fallthrough: _fallthrough, fallback: _fallback, ...fileOptions } = options;
  type Override = Omit<ServeOptions, 'root'>;
  fastify.decorateReply('sendFile', function sendFile(this: FastifyReply, file: string, override?: Override) {
    if (typeof file !== 'string') return Promise.reject(invalidArgType('path', 'of type string', file));
    this.hijack();
    const url = `/${file.split('/').filter((s) => s !== '').map(encodeURIComponent).join('/')}`;
    return serveFile(this.request.raw, this.raw, url, { ...fileOptions, ...override, root });
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
        handle(raw, reply.raw, (err) => (passed = { err }));
      } finally {
        Object.assign(raw, { url, originalUrl });
      }
      if (!passed) return reply.hijack();
      return passed.err ? reply.send(passed.err) : reply.callNotFound();
    },
  });
}

// Not encapsulated (as fastify-plugin marks a plugin): reply.sendFile is there for the routes of the parent too.
Object.assign(zerocopyStatic, { [Symbol.for('skip-override')]: true, [Symbol.for('fastify.display-name')]: 'zerocopy' });

export default zerocopyStatic;
export { zerocopyStatic };
