//! Column alignment with the semantics of Go's `text/tabwriter`, which
//! etcdctl runs its help text through (min width 0, tab width 8, padding 1,
//! padded with tabs). Cells are tab-terminated; the last cell of a line does
//! not take part in alignment; a column block is a run of consecutive lines
//! that all have a cell in that column.

/// Settings of a Go `tabwriter.Writer` (no flags supported).
pub struct TabWriter {
    pub min_width: usize,
    pub tab_width: usize,
    pub padding: usize,
    pub pad_char: u8,
}

struct Cell<'a> {
    text: &'a str,
    width: usize,
}

impl TabWriter {
    /// The configuration cobrautl uses for etcdctl's usage text.
    pub fn etcdctl_usage() -> Self {
        TabWriter {
            min_width: 0,
            tab_width: 8,
            padding: 1,
            pad_char: b'\t',
        }
    }

    /// Aligns `text` and returns the result.
    pub fn format(&self, text: &str) -> String {
        let lines: Vec<Vec<Cell<'_>>> = text
            .split('\n')
            .map(|line| {
                line.split('\t')
                    .map(|t| Cell {
                        text: t,
                        width: t.chars().count(),
                    })
                    .collect()
            })
            .collect();
        let mut out = String::with_capacity(text.len() * 2);
        let mut widths = Vec::new();
        self.format_block(&lines, 0, lines.len(), &mut widths, &mut out);
        out
    }

    fn format_block(
        &self,
        lines: &[Vec<Cell<'_>>],
        mut line0: usize,
        line1: usize,
        widths: &mut Vec<usize>,
        out: &mut String,
    ) {
        let column = widths.len();
        let mut this = line0;
        while this < line1 {
            if column + 1 >= lines[this].len() {
                this += 1;
                continue;
            }
            // A cell exists in this column: print the lines before the block.
            self.write_lines(lines, line0, this, widths, out);
            line0 = this;
            let mut width = self.min_width;
            while this < line1 && column + 1 < lines[this].len() {
                width = width.max(lines[this][column].width + self.padding);
                this += 1;
            }
            widths.push(width);
            self.format_block(lines, line0, this, widths, out);
            widths.pop();
            line0 = this;
        }
        self.write_lines(lines, line0, line1, widths, out);
    }

    fn write_padding(&self, text_width: usize, cell_width: usize, out: &mut String) {
        if self.pad_char == b'\t' {
            if self.tab_width == 0 {
                return;
            }
            let cell_width = cell_width.div_ceil(self.tab_width) * self.tab_width;
            let n = cell_width.saturating_sub(text_width);
            for _ in 0..n.div_ceil(self.tab_width) {
                out.push('\t');
            }
        } else {
            for _ in 0..cell_width.saturating_sub(text_width) {
                out.push(self.pad_char as char);
            }
        }
    }

    fn write_lines(
        &self,
        lines: &[Vec<Cell<'_>>],
        line0: usize,
        line1: usize,
        widths: &[usize],
        out: &mut String,
    ) {
        for (i, line) in lines.iter().enumerate().take(line1).skip(line0) {
            for (j, cell) in line.iter().enumerate() {
                out.push_str(cell.text);
                if j + 1 < line.len() && j < widths.len() {
                    self.write_padding(cell.width, widths[j], out);
                }
            }
            if i + 1 < lines.len() {
                out.push('\n');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns_with_tabs() {
        let tw = TabWriter::etcdctl_usage();
        let text = "\tadd\tAdds\n\tpromote\tPromotes\nplain\n";
        assert_eq!(tw.format(text), "\tadd\tAdds\n\tpromote\tPromotes\nplain\n");
        let text = "      --consistency=\"l\"\tLinearizable\n      --count-only[=false]\tGet\n";
        assert_eq!(
            tw.format(text),
            "      --consistency=\"l\"\t\tLinearizable\n      --count-only[=false]\tGet\n"
        );
    }
}
