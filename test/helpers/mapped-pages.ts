/** Test helpers: this process's memory mappings as Linux's /proc/self/smaps describes them. */
import { existsSync, readFileSync, realpathSync } from 'node:fs';

/** This process's mappings (/proc/self/smaps): file (empty for anonymous memory), KiB fields, VmFlags. */
function smaps(): { file: string; kb: Record<string, number>; flags: string }[] | null {
  if (!existsSync('/proc/self/smaps')) return null;
  const out: { file: string; kb: Record<string, number>; flags: string }[] = [];
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      out.push({ file: head[1], kb: {}, flags: '' });
      continue;
    }
    const cur = out[out.length - 1];
    if (!cur) continue;
    const kb = /^(\w+):\s+(\d+) kB/.exec(line);
    if (kb) cur.kb[kb[1]] = Number(kb[2]);
    else if (line.startsWith('VmFlags:')) cur.flags = line.slice(8);
  }
  return out;
}

/**
 * The memory a file's mappings in this process occupy (their Size and resident Rss in KiB,
 * summed over every mapping of that path); null where the platform has no smaps.
 */
export function mappedPages(path: string): { sizeKb: number; rssKb: number } | null {
  const maps = smaps();
  if (!maps) return null;
  const target = realpathSync(path);
  let sizeKb = 0;
  let rssKb = 0;
  for (const m of maps) {
    if (m.file !== target) continue;
    sizeKb += m.kb.Size ?? 0;
    rssKb += m.kb.Rss ?? 0;
  }
  return { sizeKb, rssKb };
}

/**
 * KiB of this process's anonymous memory advised for transparent huge pages (MADV_HUGEPAGE:
 * the `hg` flag of /proc/self/smaps, summed over mappings of no file), and of it backed by huge
 * pages now (AnonHugePages); null where the platform has no such file.
 */
export function hugeAdvised(): { sizeKb: number; hugeKb: number } | null {
  const maps = smaps();
  if (!maps) return null;
  let sizeKb = 0;
  let hugeKb = 0;
  for (const m of maps) {
    if (m.file !== '' || !/\bhg\b/.test(m.flags)) continue;
    sizeKb += m.kb.Size ?? 0;
    hugeKb += m.kb.AnonHugePages ?? 0;
  }
  return { sizeKb, hugeKb };
}
