// `zerocopy serve [dir] --port 8080 --host 127.0.0.1`: a static file server over createStaticHandler, one log
// line per request.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { createStaticHandler } from './http/static-handler';

const USAGE = `Usage: zerocopy serve [dir] [--port 8080] [--host 127.0.0.1] [--max-age seconds] [--lease] [--quiet]

Serves dir (default: the current directory) over HTTP with sendfile(2).`;

export function main(argv: string[]): void {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        port: { type: 'string', short: 'p', default: '8080' },
        host: { type: 'string', short: 'H', default: '127.0.0.1' },
        'max-age': { type: 'string' },
        lease: { type: 'boolean', default: false },
        quiet: { type: 'boolean', short: 'q', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    fail((err as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const [command, dir = '.', ...extra] = positionals;
  if (command !== 'serve' || extra.length > 0) fail(command === undefined ? 'no command given' : `unknown arguments: ${positionals.join(' ')}`);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`--port must be 0-65535, got ${values.port}`);
  const maxAge = values['max-age'] === undefined ? undefined : Number(values['max-age']);
  if (maxAge !== undefined && !(Number.isInteger(maxAge) && maxAge >= 0)) fail(`--max-age must be whole seconds, got ${values['max-age']}`);
  const root = path.resolve(dir);
  if (!fs.statSync(root, { throwIfNoEntry: false })?.isDirectory()) fail(`${root} is not a directory`);

  const handler = createStaticHandler(root, {
    maxAge,
    lease: values.lease,
    onResponse: values.quiet ? undefined : (req, result) => {
      const error = result.error;
      const how = result.path === undefined || result.bytes === 0 ? '-' : result.zeroCopy ? 'zero-copy' :
        `fallback${result.fallbackReason ? ` (${result.fallbackReason})` : ''}`;
      const failure = error ? ` ${(error as { code?: string }).code ?? error.message}` : '';
      console.log(`${req.method} ${req.url} ${result.status} ${result.bytes} ${how}${failure}`);
    },
  });
  const server = http.createServer(handler);
  server.on('error', (err: NodeJS.ErrnoException) => fail(`cannot listen on ${values.host}:${port}: ${err.code ?? err.message}`));
  server.listen(port, values.host, () => {
    const address = server.address() as { address: string; port: number };
    const host = address.address.includes(':') ? `[${address.address}]` : address.address;
    console.log(`Serving ${root} at http://${host}:${address.port}/`);
  });
  const stop = () => server.close(() => process.exit(0)).closeAllConnections();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

function fail(message: string): never {
  console.error(`zerocopy: ${message}\n\n${USAGE}`);
  process.exit(2);
}
