/**
 * Test helper: the memory a file's mappings in this process occupy (Linux /proc/self/smaps:
 * their Size and resident Rss in KiB, summed over every mapping of that path); null where the
 * platform has no such file.
 */
import { existsSync, readFileSync, realpathSync } from 'node:fs';

export function mappedPages(path: string): { sizeKb: number; rssKb: number } | null {
  if (!existsSync('/proc/self/smaps')) return null;
  const target = realpathSync(path);
  let sizeKb = 0;
  let rssKb = 0;
  let inside = false;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      inside = head[1] === target;
      continue;
    }
    if (!inside) continue;
    const kb = /^(Size|Rss):\s+(\d+) kB/.exec(line);
    if (kb?.[1] === 'Size') sizeKb += Number(kb[2]);
    else if (kb?.[1] === 'Rss') rssKb += Number(kb[2]);
  }
  return { sizeKb, rssKb };
}

/**
 * KiB of this process's anonymous memory advised for transparent huge pages (MADV_HUGEPAGE:
 * the `hg` flag of /proc/self/smaps, summed over mappings of no file), and of it backed by huge
 * pages now (AnonHugePages); null where the platform has no such file.
 */
export function hugeAdvised(): { sizeKb: number; hugeKb: number } | null {
  if (!existsSync('/proc/self/smaps')) return null;
  let sizeKb = 0;
  let hugeKb = 0;
  let anon = false;
  let size = 0;
  let huge = 0;
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      anon = head[1] === '';
      continue;
    }
    const kb = /^(Size|AnonHugePages):\s+(\d+) kB/.exec(line);
    if (kb?.[1] === 'Size') size = Number(kb[2]);
    else if (kb?.[1] === 'AnonHugePages') huge = Number(kb[2]);
    else if (line.startsWith('VmFlags:') && anon && / hg/.test(line)) {
      sizeKb += size;
      hugeKb += huge;
    }
  }
  return { sizeKb, hugeKb };
}
