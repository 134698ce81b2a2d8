/** Reading what a writer appended to a line-oriented file since the last look. */
import fs from 'node:fs/promises';

/** Where a reader stands in a file: the byte offset read up to, and a partial last line. */
export interface TailPosition {
  offset: number;
  pending: string;
}

/**
 * Reads bytes `pos.offset` … `size` of `file` and returns the complete lines
 * among them (the partial line before them prepended); advances `pos` past
 * what was read, keeping a trailing partial line in `pos.pending`. Returns
 * the lines and how many bytes were read.
 */
export async function readAppendedLines(file: string, size: number, pos: TailPosition): Promise<{ lines: string[]; bytesRead: number }> {
  const fh = await fs.open(file, 'r');
  try {
    const buf = Buffer.alloc(size - pos.offset);
    const { bytesRead } = await fh.read(buf, 0, buf.length, pos.offset);
    pos.offset += bytesRead;
    const text = pos.pending + buf.subarray(0, bytesRead).toString('utf8');
    const cut = text.lastIndexOf('\n') + 1;
    pos.pending = text.slice(cut);
    return { lines: cut === 0 ? [] : text.slice(0, cut - 1).split('\n'), bytesRead };
  } finally {
    await fh.close();
  }
}
