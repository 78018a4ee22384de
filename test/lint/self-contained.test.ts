/**
 * The repository points at nothing outside itself: no file names the shared specification or a
 * folder beside the checkout, and every reference to a file of the repository resolves —
 * Markdown links, `docs/*.md` cited anywhere, and `src/…`, `tools/…`, `test/…` paths cited in
 * comments (in code, such a path may be a fixture's made-up name) —
 * including the `#section` of a Markdown file, which must be one of its headings.
 *
 * Files: everything git tracks, plus new files not yet added (and not ignored).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

/** Spelled in pieces, so this file does not trip its own check. */
const FORBIDDEN = [['..', 'shared'].join('/'), ['SPEC', 'md'].join('.'), ['SPEC', '§'].join(' ')];

/** A repository path cited in prose: a top-level folder, then a file with an extension. */
const CITED_PATH = /(?<![\w./-])((?:docs|src|tools|test)\/[\w./-]*[\w-]\.(?:md|ts|mjs|js|sql|json|sh))(?![\w])(#[\w-]+)?/g;
/** A doc cited anywhere, in a comment or in a message a person reads (`see docs/replay.md`). */
const CITED_DOC = /(?<![\w./-])(docs\/[\w./-]*[\w-]\.md)(?![\w])(#[\w-]+)?/g;
const MD_LINK = /\[[^\]]*\]\(([^)\s]+)\)/g;
/** Comment lines and trailing comments in code: where a citation is prose, not a value. */
const COMMENT = /^\s*(?:\/\/|\/\*+|\*|#|--)(.*)$|\s\/\/\s(.*)$/;

function repositoryFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
  return [...new Set(out.split('\0').filter(Boolean))].filter((f) => fs.existsSync(path.join(ROOT, f))).sort();
}

function readText(file: string): string | undefined {
  const full = path.join(ROOT, file);
  if (fs.statSync(full).size > 2_000_000) return undefined;
  const text = fs.readFileSync(full, 'utf8');
  return text.includes('\0') ? undefined : text;
}

/** GitHub's heading anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered. */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const used = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*```/.test(line)) fenced = !fenced;
    const m = !fenced && /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const base = m[1]!
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = used.get(base) ?? 0;
    used.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

const anchorCache = new Map<string, Set<string>>();
function anchorsOf(file: string): Set<string> {
  if (!anchorCache.has(file)) anchorCache.set(file, headingAnchors(fs.readFileSync(path.join(ROOT, file), 'utf8')));
  return anchorCache.get(file)!;
}

/** Why `target` (a repository-relative path, maybe with `#anchor`) does not resolve; undefined if it does. */
function brokenTarget(target: string): string | undefined {
  const [file, anchor] = target.split('#') as [string, string | undefined];
  const full = path.join(ROOT, file);
  if (!full.startsWith(ROOT + path.sep) && full !== ROOT) return 'points outside the repository';
  if (!fs.existsSync(full)) return 'no such file';
  if (anchor && file.endsWith('.md') && !anchorsOf(file).has(anchor)) return `no heading #${anchor} in ${file}`;
  return undefined;
}

interface Hit {
  at: string;
  problem: string;
}

function scan(file: string, text: string): Hit[] {
  const hits: Hit[] = [];
  const isMarkdown = file.endsWith('.md');
  text.split('\n').forEach((line, i) => {
    const at = `${file}:${i + 1}`;
    for (const needle of FORBIDDEN) if (line.includes(needle)) hits.push({ at, problem: `names "${needle}"` });

    const linked = new Set<string>();
    if (isMarkdown) {
      for (const [, link] of line.matchAll(MD_LINK)) {
        if (/^[a-z][a-z0-9+.-]*:/i.test(link!)) continue; // https:, mailto:
        const target = link!.startsWith('#') ? `${file}${link}` : path.posix.normalize(path.posix.join(path.posix.dirname(file), link!));
        linked.add(target);
        const broken = brokenTarget(target);
        if (broken) hits.push({ at, problem: `link ${link}: ${broken}` });
      }
    }
    const m = isMarkdown ? [line, line] : COMMENT.exec(line);
    const prose = m ? (m[1] ?? m[2] ?? '') : '';
    const cited = new Map<string, string>();
    for (const [, file, anchor] of prose.matchAll(CITED_PATH)) cited.set(file! + (anchor ?? ''), file!);
    for (const [, file, anchor] of line.matchAll(CITED_DOC)) cited.set(file! + (anchor ?? ''), file!);
    for (const target of cited.keys()) {
      if (linked.has(target)) continue; // judged as a link already
      const broken = brokenTarget(target);
      if (broken) hits.push({ at, problem: `cites ${target}: ${broken}` });
    }
  });
  return hits;
}

test('the anchor rule matches GitHub headings', () => {
  const anchors = headingAnchors('# API reference\n## Test triggers\n### The fence: learning an outcome\n#### `POST /checkouts/{id}`\n## Routes\n## Routes\n```\n# not a heading\n```\n');
  expect([...anchors]).toEqual(['api-reference', 'test-triggers', 'the-fence-learning-an-outcome', 'post-checkoutsid', 'routes', 'routes-1']);
});

test('no file points outside the repository or at a file or section that does not exist', () => {
  const hits: Hit[] = [];
  for (const file of repositoryFiles()) {
    const text = readText(file);
    if (text !== undefined) hits.push(...scan(file, text));
  }
  expect(hits.map((h) => `${h.at}: ${h.problem}`)).toEqual([]);
});
