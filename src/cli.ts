// `zerocopy serve [dir]`: a static file server over createStaticHandler. A timestamped log line per request;
// graceful shutdown (the first SIGINT/SIGTERM drains, a second exits at once); --workers through node:cluster.
import cluster from 'node:cluster';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { respondListing } from './http/listing';
import type { ServeResult } from './http/serve';
import { dropEveryKeptFile, MAX_FILE_CACHE } from './http/file-cache';
import { createStaticHandler } from './http/static-handler';

interface Option {
  name: string;
  short: string;
  /** The value's placeholder; none for a switch. */
  value?: string;
  default?: string;
  help: string;
}

// One table for the parser, the defaults and --help.
const OPTIONS: Option[] = [
  { name: 'port', short: 'p', value: '<n>', default: '8080', help: 'port to listen on; 0 picks a free one' },
  { name: 'host', short: 'H', value: '<address>', default: '127.0.0.1', help: 'address to listen on' },
  { name: 'workers', short: 'w', value: '<n|auto>', default: '1',
    help: 'processes sharing the port (node:cluster); auto: one per core' },
  { name: 'drain-timeout', short: 'd', value: '<seconds>', default: '10',
    help: 'on SIGINT/SIGTERM, how long responses in flight may go on before they are cut; a second signal exits at once' },
  { name: 'max-age', short: 'm', value: '<seconds>', help: 'send Cache-Control: public, max-age=<seconds>' },
  { name: 'lease', short: 'L', help: 'hold a read lease while sending: a file written mid-send cuts the response' },
  { name: 'file-cache', short: 'f', value: '<files|off>', default: '128',
    help: 'files kept open between requests (two fds each), dropped when written, renamed or unlinked; off: none' },
  { name: 'precompressed', short: 'z', help: 'serve x.br or x.gz beside x when the client accepts it' },
  { name: 'spa', short: 's', help: 'answer GETs for HTML that find nothing with /index.html (a single-page app)' },
  { name: 'listing', short: 'l', help: 'an HTML index for directories without index.html' },
  { name: 'cors', short: 'c', help: 'Access-Control-Allow-Origin: * on every response; answers preflights' },
  { name: 'quiet', short: 'q', help: 'no log line per request (cut responses are still logged)' },
  { name: 'help', short: 'h', help: 'print this help' },
  { name: 'version', short: 'v', help: 'print the version' },
];

function usage(): string {
  const forms = OPTIONS.map((o) => `-${o.short}, --${o.name}${o.value ? ` ${o.value}` : ''}`);
  const width = Math.max(...forms.map((f) => f.length)) + 2;
  const lines = OPTIONS.map((o, i) => {
    const byDefault = o.name === 'help' || o.name === 'version' ? '' :
      ` (default: ${o.default ?? (o.value ? 'none' : 'off')})`;
    return `  ${forms[i].padEnd(width)}${o.help}${byDefault}`;
  });
  return `Usage: zerocopy serve [dir] [options]

Serves dir (default: the current directory) over HTTP, file bodies with sendfile(2).

Options:
${lines.join('\n')}`;
}

interface Config {
  root: string;
  port: number;
  host: string;
  workers: number;
  drainMs: number;
  maxAge?: number;
  lease: boolean;
  fileCache: number | false;
  precompressed: boolean;
  spa: boolean;
  listing: boolean;
  cors: boolean;
  quiet: boolean;
}

export function main(argv: string[]): void {
  const config = parse(argv);
  if (config === undefined) return;
  if (config.workers > 1 && cluster.isPrimary) runPrimary(config);
  else runServer(config);
}

function parse(argv: string[]): Config | undefined {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: Object.fromEntries(OPTIONS.map((o) => [o.name, o.value ?
        { type: 'string' as const, short: o.short, default: o.default } :
        { type: 'boolean' as const, short: o.short, default: false }])),
    });
  } catch (err) {
    fail((err as Error).message);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  if (values.help) {
    console.log(usage());
    return undefined;
  }
  if (values.version) {
    console.log(version());
    return undefined;
  }
  const [command, dir = '.', ...extra] = parsed.positionals;
  if (command !== 'serve' || extra.length > 0) {
    fail(command === undefined ? 'no command given' : `unknown arguments: ${parsed.positionals.join(' ')}`);
  }
  const port = wholeNumber(values.port as string);
  if (port === undefined || port > 65535) fail(`--port must be 0-65535, got ${JSON.stringify(values.port)}`);
  const workers = values.workers === 'auto' ? os.availableParallelism() : wholeNumber(values.workers as string);
  if (workers === undefined || workers < 1 || workers > MAX_WORKERS) {
    fail(`--workers must be a whole number from 1 to ${MAX_WORKERS}, or auto, got ${JSON.stringify(values.workers)}`);
  }
  const drain = Number(values['drain-timeout']);
  if (!(drain >= 0 && drain <= MAX_DRAIN_SECONDS)) {
    fail(`--drain-timeout must be seconds from 0 to ${MAX_DRAIN_SECONDS}, got ${values['drain-timeout']}`);
  }
  const maxAge = values['max-age'] === undefined ? undefined : wholeNumber(values['max-age'] as string);
  if (values['max-age'] !== undefined && maxAge === undefined) {
    fail(`--max-age must be whole seconds, got ${JSON.stringify(values['max-age'])}`);
  }
  const fileCache = values['file-cache'] === 'off' ? false : wholeNumber(values['file-cache'] as string);
  if (fileCache === undefined || fileCache === 0 || (fileCache !== false && fileCache > MAX_FILE_CACHE)) {
    fail(`--file-cache must be a whole number from 1 to ${MAX_FILE_CACHE}, or off, got ${JSON.stringify(values['file-cache'])}`);
  }
  const root = path.resolve(dir);
  if (!fs.statSync(root, { throwIfNoEntry: false })?.isDirectory()) fail(`${root} is not a directory`);
  return {
    root, port, host: values.host as string, workers, drainMs: drain * 1000, maxAge,
    lease: values.lease === true, fileCache, precompressed: values.precompressed === true, spa: values.spa === true,
    listing: values.listing === true, cors: values.cors === true,
    quiet: values.quiet === true,
  };
}

/** More processes than this is a typo (1e6), not a machine: each worker is a whole Node.js process. */
const MAX_WORKERS = 256;

/** setTimeout's longest delay (2^31 - 1 ms): beyond it, the drain timer fires after 1 ms and cuts every response. */
const MAX_DRAIN_SECONDS = 2147483;

/** Digits only: Number() would also take '', ' 3 ', '0x10' and '1e21'. Undefined when not a safe whole number. */
function wholeNumber(text: string): number | undefined {
  const n = Number(text);
  return /^\d+$/.test(text) && Number.isSafeInteger(n) ? n : undefined;
}

function version(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
  return pkg.version;
}

function fail(message: string): never {
  console.error(`zerocopy: ${message}\nRun 'zerocopy --help' for the options.`);
  process.exit(2);
}

const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`);
const logError = (line: string) => console.error(`${new Date().toISOString()} ${line}`);

/** Exit status after a second signal: 128 + its number, as a shell reports a process killed by it. */
const killedBy = (signal: NodeJS.Signals) => 128 + os.constants.signals[signal];

function onSignals(first: () => void, second: (signal: NodeJS.Signals) => void): void {
  let received = 0;
  const handle = (signal: NodeJS.Signals) => (received++ === 0 ? first() : second(signal));
  process.on('SIGINT', handle);
  process.on('SIGTERM', handle);
}

const CORS_HEADERS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Expose-Headers': 'Accept-Ranges, Content-Range, ETag',
};
const PREFLIGHT_HEADERS = {
  'Access-Control-Allow-Methods': 'GET, HEAD',
  'Access-Control-Allow-Headers': 'Range, If-Range, If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since',
  'Access-Control-Max-Age': '86400',
};

/** One server process: alone, or a cluster worker that the primary tells when to drain. */
function runServer(config: Config): void {
  const prefix = cluster.isWorker ? `[worker ${cluster.worker!.id} pid ${process.pid}] ` : '';
  // Responses not yet reported: shutdown waits for them, and the ones still here at the drain timeout are cut.
  const pending = new Set<http.IncomingMessage>();
  let stopping = false;
  let cutting = false;
  let finish = () => {};

  const report = (req: http.IncomingMessage, result: ServeResult) => {
    pending.delete(req);
    const cut = cutting && result.error !== undefined;
    if (!config.quiet || cut) log(`${prefix}${requestLine(req, result)}${cut ? ' (cut at the drain timeout)' : ''}`);
    if (stopping) finish();
  };
  const handler = createStaticHandler(config.root, {
    maxAge: config.maxAge,
    lease: config.lease,
    fileCache: config.fileCache,
    precompressed: config.precompressed,
    fallback: config.spa ? 'index.html' : undefined,
    onResponse: (req, result) => report(req as http.IncomingMessage, result),
  });
  const server = http.createServer((req, res) => {
    pending.add(req);
    if (stopping) res.shouldKeepAlive = false;
    // A keep-alive connection whose response ends during the drain would otherwise stay open until its timeout.
    res.once('finish', () => stopping && setImmediate(() => server.closeIdleConnections()));
    if (config.cors) {
      for (const [name, value] of Object.entries(CORS_HEADERS)) res.setHeader(name, value);
      if (req.method === 'OPTIONS') {
        res.writeHead(204, PREFLIGHT_HEADERS).end();
        return report(req, { status: 204, bytes: 0, zeroCopy: false });
      }
    }
    if (config.listing) {
      let listed: ServeResult | undefined;
      try {
        listed = respondListing(req, res, config.root);
      } catch {
        // The static handler meets the same failure and answers it (a 500 with the error reported).
      }
      if (listed) return report(req, listed);
    }
    handler(req, res);
  });

  const drain = () => {
    stopping = true;
    let closed = false;
    // Closed before the log line says so: a client that reads it and connects must be refused.
    server.close(() => {
      closed = true;
      finish();
    });
    // Nothing in flight: a connection still sending its request (or idle) has nothing to wait for.
    if (pending.size === 0) server.closeAllConnections();
    else server.closeIdleConnections();
    log(`${prefix}stopping: no new connections; ${pending.size} response(s) in flight have ` +
      `${config.drainMs / 1000} s to finish${cluster.isWorker ? '' : ' (a second signal exits at once)'}`);
    const timer = setTimeout(() => {
      cutting = true;
      server.closeAllConnections();
    }, config.drainMs);
    finish = () => {
      if (!closed || pending.size > 0) return;
      clearTimeout(timer);
      if (!cluster.isWorker) log('stopped');
      process.exit(0);
    };
  };

  // Stopped (Ctrl-Z), the lease thread cannot give a kept file's lease up, and the kernel would hold its writers
  // for lease-break-time: the leases go first, then the process stops as SIGTSTP would; after SIGCONT files are
  // kept again as they are served. (SIGSTOP cannot be caught: README, "Open-file cache".)
  process.on('SIGTSTP', () => {
    dropEveryKeptFile();
    process.kill(process.pid, 'SIGSTOP');
  });

  server.on('error', (err: NodeJS.ErrnoException) => {
    logError(`${prefix}cannot listen on ${config.host}:${config.port}: ${err.code ?? err.message}`);
    process.exit(1);
  });
  server.listen(config.port, config.host, () => {
    if (!cluster.isWorker) log(`Serving ${config.root} at ${urlOf(server.address() as net.AddressInfo)}`);
  });

  if (cluster.isWorker) {
    // The primary coordinates: a Ctrl-C reaches every process of the group, and the primary's 'drain' says what to do.
    onSignals(() => {}, () => {});
    process.on('message', (message) => message === 'drain' && !stopping && drain());
    return;
  }
  onSignals(drain, (signal) => {
    log(`stopped at once on a second ${signal}; ${pending.size} response(s) cut`);
    process.exit(killedBy(signal));
  });
}

/** The primary of --workers N: forks the workers, logs where they serve, relays shutdown. */
function runPrimary(config: Config): void {
  let listening = 0;
  let stopping = false;
  cluster.on('listening', (_worker, address) => {
    if (++listening === config.workers) {
      log(`Serving ${config.root} at ${urlOf(address as { address: string; port: number })} with ${config.workers} workers`);
    }
  });
  cluster.on('exit', (worker, code, signal) => {
    if (!stopping) log(`worker ${worker.id} pid ${worker.process.pid} exited (${signal ?? code}); not restarted`);
    if (Object.keys(cluster.workers ?? {}).length > 0) return;
    if (stopping) log('stopped');
    process.exit(stopping ? 0 : 1);
  });
  for (let i = 0; i < config.workers; i++) cluster.fork();
  onSignals(() => {
    stopping = true;
    log(`stopping ${config.workers} workers: in-flight responses have ${config.drainMs / 1000} s ` +
      '(a second signal exits at once)');
    for (const worker of Object.values(cluster.workers ?? {})) worker?.send('drain');
  }, (signal) => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
    log(`stopped at once on a second ${signal}; workers killed`);
    process.exit(killedBy(signal));
  });
}

function requestLine(req: http.IncomingMessage, result: ServeResult): string {
  const error = result.error;
  // A response cut short has no path to name: its error says what happened (zeroCopy is false on it).
  const how = result.path === undefined || result.bytes === 0 || error ? '-' : result.zeroCopy ? 'zero-copy' :
    `fallback${result.fallbackReason ? ` (${result.fallbackReason})` : ''}`;
  const failure = error ? ` ${error.code ?? error.message}` : '';
  return `${req.method} ${req.url} ${result.status} ${result.bytes} ${how}${failure}`;
}

function urlOf(address: { address: string; port: number }): string {
  const host = address.address.includes(':') ? `[${address.address}]` : address.address;
  return `http://${host}:${address.port}/`;
}
