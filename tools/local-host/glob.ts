/**
 * Expands package.json `main` the way the Node.js worker does for the v4 model: a file path or a
 * glob (`*`, `**`, `?`, `{a,b}`), relative to the app directory. Returns absolute paths, sorted.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';

export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === '*') {
      if (glob[i + 1] === '*') {
        const slash = glob[i + 2] === '/';
        re += slash ? '(?:.*/)?' : '.*';
        i += slash ? 2 : 1;
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '{') {
      const end = glob.indexOf('}', i);
      if (end < 0) re += '\\{';
      else {
        re += `(?:${glob
          .slice(i + 1, end)
          .split(',')
          .map((alt) => alt.replace(/[.+^${}()|[\]\\]/g, '\\$&'))
          .join('|')})`;
        i = end;
      }
    } else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function walk(dir: string, skipNodeModules: boolean): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (skipNodeModules && entry.name === 'node_modules') return [];
      return walk(path, skipNodeModules);
    }
    return entry.isFile() ? [path] : [];
  });
}

export function expandMain(appDir: string, pattern: string): string[] {
  const absolute = isAbsolute(pattern) ? pattern : resolve(appDir, pattern);
  if (!/[*?{]/.test(pattern))
    return existsSync(absolute) && statSync(absolute).isFile() ? [absolute] : [];
  const posix = absolute.split(sep).join('/');
  const parts = posix.split('/');
  const firstGlob = parts.findIndex((p) => /[*?{]/.test(p));
  const base = parts.slice(0, firstGlob).join('/') || '/';
  if (!existsSync(base)) return [];
  const matcher = globToRegExp(parts.slice(firstGlob).join('/'));
  return walk(base, !pattern.includes('node_modules'))
    .filter((file) => matcher.test(relative(base, file).split(sep).join('/')))
    .sort();
}
