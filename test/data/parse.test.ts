import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  DataFileError,
  RecordReader,
  csvField,
  detectFormat,
  firstInvalidUtf8,
  readAll,
  sniffDelimiter,
  type RawRecord,
  type ReaderOptions,
} from '../../src/data/parse.js';

const dir = mkdtempSync(join(tmpdir(), 'funnel-parse-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(content: string | Buffer, ext = '.csv'): string {
  const p = join(dir, `f${n++}${ext}`);
  writeFileSync(p, content);
  return p;
}

async function rejectsWith(p: Promise<unknown>, code: string, re?: RegExp): Promise<DataFileError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof DataFileError, `expected DataFileError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (re) assert.match(err.message, re);
    return err;
  }
  assert.fail(`expected a ${code} error`);
}

const good = (rs: RawRecord[]) => rs.filter((r) => !r.error);

describe('delimited reader', () => {
  it('reads a header and rows, with quotes, doubled quotes, delimiters and newlines inside quotes', async () => {
    const p = file('id,text,n\n1,"a, b",2\n2,"say ""hi""",3\n3,"two\nlines",4\n4,"crlf\r\ninside",5\n5,plain,6\n');
    const { header, records } = await readAll(p);
    assert.deepEqual(header, ['id', 'text', 'n']);
    assert.deepEqual(
      records.map((r) => [r.line, r.fields]),
      [
        [2, ['1', 'a, b', '2']],
        [3, ['2', 'say "hi"', '3']],
        [4, ['3', 'two\nlines', '4']],
        [6, ['4', 'crlf\r\ninside', '5']],
        [8, ['5', 'plain', '6']],
      ],
    );
  });

  it('strips a UTF-8 BOM and CRLF line ends, skips blank lines, keeps empty fields', async () => {
    const p = file('\ufeffa,b\r\n1,\r\n\r\n,2\r\n"",3');
    const { header, records } = await readAll(p);
    assert.deepEqual(header, ['a', 'b']);
    assert.deepEqual(
      records.map((r) => [r.line, r.fields]),
      [
        [2, ['1', '']],
        [4, ['', '2']],
        [5, ['', '3']],
      ],
    );
  });

  it('gives each record the byte offset just past it, so a read can resume there', async () => {
    const text = 'k,v\n1,"é\nx"\n2,ü\n3,"a""b"\n4,z';
    const p = file(text);
    const { records } = await readAll(p);
    const buf = Buffer.from(text);
    for (const r of records) {
      // the offset is a record boundary: a line start (or the end of the file)
      assert.ok(r.offset === buf.length || buf[r.offset - 1] === 0x0a, `offset ${r.offset}`);
    }
    const third = records[1];
    const rest = await readAll(p, { start: { offset: third.offset, line: records[2].line } });
    assert.deepEqual(rest.records.map((r) => r.fields), [['3', 'a"b'], ['4', 'z']]);
    assert.deepEqual(rest.records.map((r) => r.line), [5, 6]);
    assert.equal(records.at(-1)!.offset, buf.length);
  });

  it('reports a wrong number of fields with line and counts, and goes on', async () => {
    const p = file('a,b,c\n1,2,3\n1,2\n1,2,3,4\n7,8,9\n7,8,9,,\n');
    const { records } = await readAll(p);
    assert.equal(good(records).length, 3);
    assert.deepEqual(records.at(-1)!.fields, ['7', '8', '9']); // trailing empty fields are dropped
    const bad = records.filter((r) => r.error);
    assert.deepEqual(bad.map((r) => [r.line, r.error!.code]), [[3, 'COLUMN_COUNT'], [4, 'COLUMN_COUNT']]);
    assert.match(bad[0].error!.message, /expected 3 fields \(as in the header\), got 2/);
    assert.equal(bad[1].error!.raw, '1,2,3,4');
  });

  it('reports non-UTF-8 bytes on their line (with the byte and column) and reads the rest', async () => {
    const p = file(Buffer.concat([Buffer.from('id,name\n1,ok\n2,caf'), Buffer.from([0xe9]), Buffer.from('\n3,fine\n')]));
    const { records } = await readAll(p);
    assert.deepEqual(good(records).map((r) => r.fields), [['1', 'ok'], ['3', 'fine']]);
    const bad = records.find((r) => r.error)!;
    assert.equal(bad.line, 3);
    assert.equal(bad.error!.code, 'INVALID_UTF8');
    assert.match(bad.error!.message, /byte 0xE9 at column 6 is not valid UTF-8/);
    // Latin-1 reads the same bytes as é
    const latin = await readAll(p, { encoding: 'latin1' });
    assert.deepEqual(latin.records[1].fields, ['2', 'café']);
  });

  it('reports an unterminated quote at the end of the file and keeps the lines before', async () => {
    const p = file('a,b\n1,x\n2,"open\n3,y\n');
    const { records } = await readAll(p);
    assert.deepEqual(records.map((r) => [r.line, r.error?.code ?? r.fields]), [
      [2, ['1', 'x']],
      [3, 'UNTERMINATED_QUOTE'],
      [4, ['3', 'y']],
    ]);
  });

  it('gives up on a quote left open for more than maxRecordBytes and resumes on the next line', async () => {
    const lines = ['a,b', '1,"never closed'];
    for (let i = 2; i < 200; i++) lines.push(`${i},v${i}`);
    const p = file(lines.join('\n') + '\n');
    const { records } = await readAll(p, { maxRecordBytes: 256, chunkSize: 64, garbageShare: 2 });
    assert.equal(records[0].error?.code, 'UNTERMINATED_QUOTE');
    assert.equal(records[0].line, 2);
    assert.equal(good(records).length, 198);
    assert.deepEqual(records[1].fields, ['2', 'v2']);
  });

  it('reports characters after a closing quote', async () => {
    const p = file('a,b\n1,"x"y\n2,z\n');
    const { records } = await readAll(p);
    assert.equal(records[0].error?.code, 'BAD_QUOTE');
    assert.match(records[0].error!.message, /after the closing quote/);
    assert.deepEqual(records[1].fields, ['2', 'z']);
  });

  it('reads headerless TSV and any one-character delimiter; quote: null keeps quotes as data', async () => {
    const tsv = await readAll(file('1\t2\t3\n4\t5\t6\n', '.tsv'), { header: false });
    assert.deepEqual(tsv.records.map((r) => r.fields), [['1', '2', '3'], ['4', '5', '6']]);
    const pipe = await readAll(file('1|"Cause, The"|x\n', '.item'), { header: false, delimiter: '|', quote: null });
    assert.deepEqual(pipe.records[0].fields, ['1', '"Cause, The"', 'x']);
  });

  it('gives the same records whatever the chunk size (quotes, CRLF and multi-byte text across chunk ends)', async () => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const pieces = ['a', 'é', '€', '𝄞', ',', '"', '\n', '\r\n', 'xyz', ' '];
    const rows: string[][] = [];
    for (let r = 0; r < 300; r++) {
      const row: string[] = [];
      for (let c = 0; c < 3; c++) {
        let v = '';
        const len = Math.floor(rnd() * 6);
        for (let k = 0; k < len; k++) v += pieces[Math.floor(rnd() * pieces.length)];
        row.push(v);
      }
      rows.push(row);
    }
    // rows end with LF or CRLF at random; csvField quotes values holding quotes, commas, CR or LF
    const text = 'x,y,z\n' + rows.map((r) => r.map((v) => csvField(v)).join(',') + (rnd() < 0.5 ? '\r\n' : '\n')).join('');
    const p = file(text);
    const ref = await readAll(p);
    assert.equal(ref.records.filter((r) => r.error).length, 0);
    assert.deepEqual(ref.records.map((r) => r.fields), rows);
    for (const chunkSize of [16, 17, 31, 64, 100]) {
      const got = await readAll(p, { chunkSize });
      assert.deepEqual(got.records, ref.records, `chunkSize ${chunkSize}`);
    }
    // every offset is where the remaining records start
    const buf = Buffer.from(text);
    const k = 150;
    const rest = await readAll(p, { start: { offset: ref.records[k].offset, line: ref.records[k + 1].line } });
    assert.deepEqual(rest.records, ref.records.slice(k + 1));
    assert.equal(ref.records.at(-1)!.offset, buf.length);
  });

  it('yields columnar batches whose fields are read lazily', async () => {
    const p = file('a,b\n1,2\n3,"x""y"\n');
    const r = await RecordReader.open(p);
    const batches = [];
    for await (const b of r.batches()) batches.push(b);
    await r.close();
    assert.equal(batches.length, 1);
    const b = batches[0];
    assert.equal(b.length, 2);
    assert.equal(b.width, 2);
    assert.equal(b.field(1, 1), 'x"y');
    assert.deepEqual([...b.line], [2, 3]);
    assert.deepEqual([...b.nextLine], [3, 4]);
  });
});

describe('files that cannot be read', () => {
  it('an empty file, or one with blank lines only', async () => {
    await rejectsWith(RecordReader.open(file('')), 'EMPTY_FILE', /f\d+\.csv: the file is empty/);
    await rejectsWith(RecordReader.open(file('\n\r\n  \n')), 'EMPTY_FILE', /only blank lines/);
  });

  it('a missing file or a directory', async () => {
    await rejectsWith(RecordReader.open(join(dir, 'nope.csv')), 'NOT_FOUND', /nope\.csv: no such file/);
    await rejectsWith(RecordReader.open(dir), 'NOT_A_FILE');
  });

  it('binary data: archives, images, NUL bytes', async () => {
    await rejectsWith(RecordReader.open(file(Buffer.from([0x1f, 0x8b, 8, 0, 1, 2, 3]))), 'NOT_TEXT', /gzip/);
    await rejectsWith(RecordReader.open(file(Buffer.from([0x89, 0x50, 0x4e, 0x47, 13, 10, 26, 10]))), 'NOT_TEXT', /PNG/);
    await rejectsWith(RecordReader.open(file(Buffer.from('a,b\n1,\u0000\u0000\n'))), 'NOT_TEXT', /NUL byte at offset 6/);
  });

  it('UTF-16 text', async () => {
    await rejectsWith(RecordReader.open(file(Buffer.from([0xff, 0xfe, 0x61, 0]))), 'UNSUPPORTED_ENCODING', /UTF-16/);
  });

  it('a file that is not CSV: most records unreadable', async () => {
    const prose = [
      'Dear reader,',
      'this is a letter, not a table.',
      'It has sentences, commas, and, well, no columns.',
      'Regards',
      'and more text; with other punctuation',
      'The author, again, signing off, twice',
    ].join('\n');
    const r = await RecordReader.open(file(prose));
    await rejectsWith(
      (async () => {
        for await (const _ of r.batches());
      })(),
      'NOT_DELIMITED',
      /does not look like CSV \(comma-separated\): \d of the first \d records are unreadable/,
    );
    await r.close();
  });

  it('JSON Lines that are not JSON', async () => {
    await rejectsWith(RecordReader.open(file('user,item\n1,2\n', '.jsonl')), 'NOT_JSONL', /:1: expected JSON Lines/);
  });
});

describe('JSON Lines reader', () => {
  it('parses one value per line, skips blank lines and reports bad JSON with its line', async () => {
    const p = file('{"a":1}\r\n\n{"a":2,"s":"é"}\n{"a":\n[1,2]\n{"a":3}', '.jsonl');
    const { records } = await readAll(p);
    assert.deepEqual(records.map((r) => [r.line, r.error?.code ?? r.value]), [
      [1, { a: 1 }],
      [3, { a: 2, s: 'é' }],
      [4, 'INVALID_JSON'],
      [5, [1, 2]],
      [6, { a: 3 }],
    ]);
    assert.equal(records[2].error!.raw, '{"a":');
    assert.equal(records.at(-1)!.offset, Buffer.byteLength('{"a":1}\r\n\n{"a":2,"s":"é"}\n{"a":\n[1,2]\n{"a":3}'));
  });

  it('reports invalid UTF-8 per line', async () => {
    const p = file(Buffer.concat([Buffer.from('{"a":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}\n{"a":"ok"}\n')]), '.jsonl');
    const { records } = await readAll(p);
    assert.equal(records[0].error?.code, 'INVALID_UTF8');
    assert.deepEqual(records[1].value, { a: 'ok' });
  });
});

describe('format detection', () => {
  it('from the extension, else from the content', () => {
    assert.deepEqual(detectFormat('x.csv', 'a;b;c\n1;2;3\n'), { format: 'csv', delimiter: ';' });
    assert.deepEqual(detectFormat('x.tsv', 'a,b'), { format: 'tsv' });
    assert.deepEqual(detectFormat('x.ndjson', ''), { format: 'jsonl' });
    assert.deepEqual(detectFormat('u.data', '1\t2\t3\n4\t5\t6\n'), { format: 'tsv' });
    assert.deepEqual(detectFormat('u.item', '1|a|b\n2|c|d\n'), { format: 'csv', delimiter: '|' });
    assert.deepEqual(detectFormat('data', ' {"a":1}\n'), { format: 'jsonl' });
    assert.equal(sniffDelimiter('one column\nonly\n', ','), ',');
  });

  it('finds the first byte that breaks UTF-8', () => {
    assert.equal(firstInvalidUtf8(Buffer.from('abc é 𝄞')), -1);
    assert.equal(firstInvalidUtf8(Buffer.from([0x61, 0xe2, 0x82])), 1); // truncated sequence
    assert.equal(firstInvalidUtf8(Buffer.from([0x61, 0xc0, 0x80])), 1); // overlong
    assert.equal(firstInvalidUtf8(Buffer.from([0xed, 0xa0, 0x80])), 0); // surrogate
  });

  it('rejects a multi-character delimiter', async () => {
    const opts: ReaderOptions = { delimiter: '::' };
    await rejectsWith(RecordReader.open(file('a::b\n'), opts), 'BAD_OPTION');
  });
});
