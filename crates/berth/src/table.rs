//! Column alignment like Go's `text/tabwriter`, configured as docker's CLI
//! configures it for every `table` output (`NewWriter(out, 10, 1, 3, ' ', 0)`).
//!
//! The model ("elastic tabstops"): text is split into cells; a cell is
//! *terminated* by a tab. Tab-terminated cells in the same position of
//! consecutive lines form a column, whose width is the widest cell plus the
//! padding (3), but at least the minimum width (10). The text after the last
//! tab of a line is not part of any column and is never padded, so lines
//! carry no trailing spaces. A line with fewer cells ends the columns it
//! lacks: rows below it start new, independently sized columns.
//!
//! Widths are counted in terminal columns (East Asian wide characters count
//! 2, combining marks 0), as docker's tabwriter fork does.

// Some helpers are not called by the commands yet (issue 3 is being wired
// in parallel); drop this once every public item has a caller.
#![allow(dead_code)]

/// One cell: its text and whether a (hard) tab terminated it.
#[derive(Debug, Clone)]
struct Cell {
    text: String,
    width: usize,
}

/// A buffering tab-aligning writer; call [`TabWriter::write`] with text
/// containing `\t` and `\n`, then [`TabWriter::finish`] for the output.
#[derive(Debug, Clone)]
pub struct TabWriter {
    minwidth: usize,
    padding: usize,
    padchar: char,
    /// Finished lines of the current block (each a list of cells).
    lines: Vec<Vec<Cell>>,
    /// Text of the cell being collected.
    cell: String,
    out: String,
}

impl Default for TabWriter {
    fn default() -> Self {
        Self::docker()
    }
}

impl TabWriter {
    /// Docker's settings: minimum column width 10, padding 3, spaces.
    pub fn docker() -> TabWriter {
        TabWriter::new(10, 3, ' ')
    }

    /// A writer with Go's `minwidth`, `padding` and `padchar` parameters
    /// (flags 0: left-aligned, empty columns kept).
    pub fn new(minwidth: usize, padding: usize, padchar: char) -> TabWriter {
        TabWriter {
            minwidth,
            padding,
            padchar,
            lines: vec![Vec::new()],
            cell: String::new(),
            out: String::new(),
        }
    }

    /// Adds text; `\t` and `\v` end a cell, `\n` ends a line and `\f` ends a
    /// line and every open column.
    pub fn write(&mut self, text: &str) {
        for ch in text.chars() {
            match ch {
                '\t' | '\x0b' | '\n' | '\x0c' => {
                    let ncells = self.terminate_cell();
                    if ch == '\n' || ch == '\x0c' {
                        self.lines.push(Vec::new());
                        // A line of one cell cannot influence later columns:
                        // Go flushes there, and so do we.
                        if ch == '\x0c' || ncells == 1 {
                            self.flush();
                        }
                    }
                }
                _ => self.cell.push(ch),
            }
        }
    }

    /// Formats everything buffered and returns the whole output.
    pub fn finish(mut self) -> String {
        self.flush();
        self.out
    }

    fn terminate_cell(&mut self) -> usize {
        let text = std::mem::take(&mut self.cell);
        let width = display_width(&text);
        let line = self.lines.last_mut().expect("always one open line");
        line.push(Cell { text, width });
        line.len()
    }

    fn flush(&mut self) {
        if !self.cell.is_empty() {
            self.terminate_cell();
        }
        let lines = std::mem::replace(&mut self.lines, vec![Vec::new()]);
        let mut widths = Vec::new();
        self.format(&lines, &mut widths, 0, lines.len());
    }

    /// Go's recursive column-block algorithm: find each block of consecutive
    /// lines having a cell in column `widths.len()`, size that column, then
    /// format the columns right of it within the block.
    fn format(&mut self, lines: &[Vec<Cell>], widths: &mut Vec<usize>, line0: usize, line1: usize) {
        let column = widths.len();
        let mut start = line0;
        let mut this = line0;
        while this < line1 {
            if column + 1 >= lines[this].len() {
                this += 1;
                continue;
            }
            self.write_lines(lines, widths, start, this);
            start = this;
            let mut width = self.minwidth;
            while this < line1 && column + 1 < lines[this].len() {
                width = width.max(lines[this][column].width + self.padding);
                this += 1;
            }
            widths.push(width);
            self.format(lines, widths, start, this);
            widths.pop();
            start = this;
        }
        self.write_lines(lines, widths, start, line1);
    }

    fn write_lines(&mut self, lines: &[Vec<Cell>], widths: &[usize], line0: usize, line1: usize) {
        for (i, line) in lines.iter().enumerate().take(line1).skip(line0) {
            for (j, cell) in line.iter().enumerate() {
                self.out.push_str(&cell.text);
                if let Some(w) = widths.get(j) {
                    for _ in cell.width..*w {
                        self.out.push(self.padchar);
                    }
                }
            }
            // The last buffered line is the (empty or unterminated) line
            // being collected: no newline after it.
            if i + 1 < lines.len() {
                self.out.push('\n');
            }
        }
    }
}

/// Aligns `text` (tab-separated cells, newline-separated rows) with docker's
/// table settings.
pub fn align(text: &str) -> String {
    let mut w = TabWriter::docker();
    w.write(text);
    w.finish()
}

/// Docker's `Ellipsis`: cuts `s` to at most `max_width` terminal columns,
/// ending in `…` when cut (`history` CREATED BY uses 45). A width of 1 keeps
/// the first character; 0 gives "".
pub fn ellipsis(s: &str, max_width: usize) -> String {
    if max_width == 0 {
        return String::new();
    }
    if max_width == 1 {
        return s.chars().take(1).collect();
    }
    if display_width(s) <= max_width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut width = 0;
    for c in s.chars() {
        let w = char_width(c);
        if width + w > max_width - 1 {
            break;
        }
        width += w;
        out.push(c);
    }
    out.push('…');
    out
}

/// Terminal columns taken by `s`: 2 for East Asian wide/fullwidth characters
/// and emoji, 0 for combining marks and zero-width characters, else 1.
pub fn display_width(s: &str) -> usize {
    s.chars().map(char_width).sum()
}

fn char_width(c: char) -> usize {
    let cp = c as u32;
    let zero_width = matches!(cp,
        0x0300..=0x036F | 0x0483..=0x0489 | 0x0591..=0x05BD | 0x0610..=0x061A
        | 0x064B..=0x065F | 0x0E31 | 0x0E34..=0x0E3A | 0x1AB0..=0x1AFF
        | 0x1DC0..=0x1DFF | 0x200B..=0x200F | 0x20D0..=0x20FF | 0xFE00..=0xFE0F
        | 0xFE20..=0xFE2F | 0xFEFF);
    if zero_width || (cp < 0x20) || (0x7F..0xA0).contains(&cp) {
        return 0;
    }
    let wide = matches!(cp,
        0x1100..=0x115F | 0x2E80..=0x303E | 0x3041..=0x33FF | 0x3400..=0x4DBF
        | 0x4E00..=0x9FFF | 0xA000..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x1F300..=0x1F64F
        | 0x1F900..=0x1F9FF | 0x20000..=0x2FFFD | 0x30000..=0x3FFFD);
    if wide {
        2
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_images_table() {
        let input = "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE\n\
                     busybox\tlatest\tbeae173ccac6\t2 years ago\t1.24MB\n\
                     localhost:5000/app\tv1\t0123456789ab\tAbout a minute ago\t302MB\n";
        let want = "\
REPOSITORY           TAG       IMAGE ID       CREATED              SIZE
busybox              latest    beae173ccac6   2 years ago          1.24MB
localhost:5000/app   v1        0123456789ab   About a minute ago   302MB
";
        assert_eq!(align(input), want);
    }

    #[test]
    fn go_tabwriter_semantics() {
        let cases: &[(&str, &str)] = &[
            // No tabs: passed through untouched.
            ("hello\nworld\n", "hello\nworld\n"),
            ("", ""),
            // The last column is never padded; min width 10 applies.
            ("a\tb\n", "a         b\n"),
            // Unterminated last line is still written, without newline.
            ("a\tb", "a         b"),
            // A long cell widens its whole column (width + 3 padding).
            (
                "abcdefghijkl\tx\ny\tz\n",
                "abcdefghijkl   x\ny              z\n",
            ),
            // Empty cells are padded too.
            ("\tx\n", "          x\n"),
            // A line with fewer cells ends the column block: the rows
            // below are sized on their own.
            (
                "aaaaaaaaaaaaaa\tb\nc\nd\te\n",
                "aaaaaaaaaaaaaa   b\nc\nd         e\n",
            ),
            // Trailing tab: the cell before it is padded.
            ("a\t\n", "a         \n"),
        ];
        for (input, want) in cases {
            assert_eq!(align(input), *want, "input {input:?}");
        }
    }

    #[test]
    fn nested_column_blocks() {
        // Go's documented example: b and c are in different columns
        // because the b column is interrupted by the third line.
        let mut w = TabWriter::new(0, 1, '.');
        w.write("aaaa\tbbb\td\naa\tb\tdd\na\t\naa\tcccc\teee\n");
        assert_eq!(
            w.finish(),
            "aaaa.bbb.d\naa...b...dd\na....\naa...cccc.eee\n"
        );
    }

    #[test]
    fn wide_characters_count_double() {
        assert_eq!(display_width("日本"), 4);
        assert_eq!(display_width("e\u{301}"), 1);
        assert_eq!(align("日本\tx\nab\ty\n"), "日本      x\nab        y\n");
    }

    #[test]
    fn ellipsis_like_docker() {
        let cases: &[(&str, usize, &str)] = &[
            ("abcdef", 10, "abcdef"),
            ("abcdef", 6, "abcdef"),
            ("abcdef", 5, "abcd…"),
            ("abcdef", 1, "a"),
            ("abcdef", 0, ""),
            ("日本語のテキスト", 7, "日本語…"),
            (
                "/bin/sh -c #(nop) ADD file:1234567890abcdef in / ",
                45,
                "/bin/sh -c #(nop) ADD file:1234567890abcdef …",
            ),
        ];
        for (s, w, want) in cases {
            assert_eq!(ellipsis(s, *w), *want, "{s} {w}");
        }
    }

    #[test]
    fn incremental_writes_equal_one_write() {
        let mut w = TabWriter::docker();
        for part in ["ID\tNA", "ME\n1\tfi", "rst\n22\tsecond\n"] {
            w.write(part);
        }
        assert_eq!(w.finish(), align("ID\tNAME\n1\tfirst\n22\tsecond\n"));
    }
}
