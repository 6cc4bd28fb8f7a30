// The CLI's --listing: an HTML index of a served directory that has no index.html. Names are escaped for HTML and
// percent-encoded in links, so that a file named `<script>` shows as text and links to itself.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openBeneathRoot, originForm, resolveTarget } from './resolve';
import { type Request, type Response, type ServeResult, isReadMethod, respondStatus } from './serve';

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]);

/** Entries read for one listing, at most (200,000 took seconds and 24 MB per request). */
export const MAX_ENTRIES = 5000;

/**
 * Answers with an index when `req` asks (GET or HEAD, a URL ending in '/') for a directory under `root` that has
 * no index.html; returns undefined for everything else, which the static handler answers as usual.
 */
export function respondListing(req: Request, res: Response, root: string): ServeResult | undefined {
  const url = originForm(req.url ?? '/');
  const pathname = url.replace(/[?#].*$/s, '');
  if (!isReadMethod(req) || !pathname.endsWith('/')) return undefined;
  // The static handler's own resolver decides, with its confinement (openat2 beneath the root, dotfiles ignored):
  // only what it would answer with "directory without an index" is listed.
  const target = resolveTarget(url, { root, dotfiles: 'ignore', index: ['index.html'], redirect: true, extensions: [] });
  if (target.kind === 'file') fs.closeSync(target.fd);
  if (target.kind !== 'refused' || target.reason !== 'directory without an index') return undefined;
  const urlPath = decodeURIComponent(pathname);
  // Read through a descriptor opened beneath the root, not by path again: a symlink swapped in since the check
  // would be followed out of the root.
  const fd = openBeneathRoot(root, urlPath.split('/').filter((s) => s !== '').join('/'));
  if (typeof fd !== 'number') return undefined;
  const entries: fs.Dirent[] = [];
  let more = false;
  try {
    if (!fs.fstatSync(fd).isDirectory()) return undefined;
    // Elsewhere (no /proc) the path is read again: the fallback's window stays there.
    const opened = process.platform === 'linux' ? `/proc/self/fd/${fd}` : path.join(root, urlPath);
    // The page is built synchronously: a huge directory must not stall the server for seconds per request.
    const dir = fs.opendirSync(opened);
    try {
      for (let entry; entries.length < MAX_ENTRIES && (entry = dir.readSync()) !== null;) entries.push(entry);
      more = entries.length === MAX_ENTRIES && dir.readSync() !== null;
    } finally {
      dir.closeSync();
    }
  } catch {
    return undefined;
  } finally {
    fs.closeSync(fd);
  }
  const items = entries
    .filter((e) => !e.name.startsWith('.'))
    .map((e) => (e.isDirectory() ? `${e.name}/` : e.name))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (urlPath !== '/') items.unshift('../');
  const links = items.map((name) => {
    const bare = name.replace(/\/$/, '');
    const href = name === '../' ? name : `./${encodeURIComponent(bare)}${name === bare ? '' : '/'}`;
    return `<li><a href="${escapeHtml(href)}">${escapeHtml(name)}</a></li>`;
  });
  const title = `Index of ${escapeHtml(urlPath)}`;
  const html = `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>${title}</title></head>\n` +
    `<body><h1>${title}</h1>\n<ul>\n${links.join('\n')}\n</ul>\n` +
    (more ? `<p>Only the first ${MAX_ENTRIES} entries read are listed; the rest were left out.</p>\n` : '') +
    '</body></html>\n';
  return respondStatus(res, 200, 'directory listing', {
    'Content-Type': 'text/html; charset=utf-8',
    'Content-Security-Policy': "default-src 'none'",
    'X-Content-Type-Options': 'nosniff',
  }, html);
}
