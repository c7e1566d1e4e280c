//! `-w table`: ASCII tables with the look of olekukonko/tablewriter v0.0.5 as
//! etcdctl configures it: upper-cased centred headers, right-aligned cells,
//! `+`/`-`/`|` borders, and cells wider than 30 columns wrapped at spaces.

use std::io::Write;

use cairn_proto::etcdserverpb::MemberListResponse;
use unicode_width::UnicodeWidthStr;

use super::{EpHashKv, EpHealth, EpStatus};

/// tablewriter's default wrapping width.
const MAX_CELL_WIDTH: usize = 30;

fn display_width(s: &str) -> usize {
    UnicodeWidthStr::width(s)
}

/// Breaks `words` into lines of at most `limit` columns, minimising the sum
/// of squared trailing gaps (tablewriter's `WrapWords`).
fn wrap_words(words: &[&str], limit: usize) -> Vec<String> {
    const PENALTY: i64 = 100_000;
    let n = words.len();
    if n == 0 {
        return vec![String::new()];
    }
    let widths: Vec<i64> = words.iter().map(|w| display_width(w) as i64).collect();
    // length(i, j): width of words[i..=j] joined by single spaces.
    let length = |i: usize, j: usize| -> i64 { widths[i..=j].iter().sum::<i64>() + (j - i) as i64 };
    let limit = limit as i64;
    let mut cost = vec![i64::from(i32::MAX); n];
    let mut next_break = vec![0usize; n];
    for i in (0..n).rev() {
        if length(i, n - 1) <= limit {
            cost[i] = 0;
            next_break[i] = n;
        } else {
            for j in i + 1..n {
                let gap = limit - length(i, j - 1);
                let mut c = gap * gap + cost[j];
                if length(i, j - 1) > limit {
                    c += PENALTY;
                }
                if c < cost[i] {
                    cost[i] = c;
                    next_break[i] = j;
                }
            }
        }
    }
    let mut lines = Vec::new();
    let mut i = 0;
    while i < n {
        let j = next_break[i].max(i + 1);
        lines.push(words[i..j].join(" "));
        i = j;
    }
    lines
}

/// tablewriter's `WrapString`: never splits a word, so the limit grows to the
/// widest word.
fn wrap_string(s: &str, limit: usize) -> Vec<String> {
    let s = s.replace('\n', " ");
    let words: Vec<&str> = s.split(' ').collect();
    let limit = words
        .iter()
        .map(|w| display_width(w))
        .fold(limit, usize::max);
    wrap_words(&words, limit)
}

/// Splits a cell into its display lines and reports its width.
fn cell_lines(text: &str) -> (Vec<String>, usize) {
    let raw: Vec<&str> = text.split('\n').collect();
    let mut max_width = raw.iter().map(|l| display_width(l)).max().unwrap_or(0);
    max_width = max_width.min(MAX_CELL_WIDTH);
    let joined = raw.join(" ");
    let lines = wrap_string(&joined, max_width);
    let width = lines
        .iter()
        .map(|l| display_width(l))
        .fold(max_width, usize::max);
    (lines, width)
}

/// tablewriter's header formatting: `_` (and most `.`) become spaces,
/// trimmed, upper-cased.
fn title(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let is_num_or_space = |c: char| c.is_ascii_digit() || c == ' ';
    let mapped: String = chars
        .iter()
        .enumerate()
        .map(|(i, &c)| match c {
            '_' => ' ',
            '.' if (i != 0 && !is_num_or_space(chars[i - 1]))
                || (i + 1 != chars.len() && !is_num_or_space(chars[i + 1])) =>
            {
                ' '
            }
            c => c,
        })
        .collect();
    let trimmed = mapped.trim();
    if trimmed.is_empty() && !name.is_empty() {
        return " ".to_string();
    }
    trimmed.to_uppercase()
}

fn pad_center(s: &str, width: usize) -> String {
    let gap = width.saturating_sub(display_width(s));
    let left = gap / 2;
    format!("{}{s}{}", " ".repeat(left), " ".repeat(gap - left))
}

fn pad_left(s: &str, width: usize) -> String {
    let gap = width.saturating_sub(display_width(s));
    format!("{}{s}", " ".repeat(gap))
}

/// Renders a table the way etcdctl's table printer does.
pub fn render_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let columns = header
        .len()
        .max(rows.iter().map(Vec::len).max().unwrap_or(0));
    let mut widths = vec![0usize; columns];
    let header_cells: Vec<Vec<String>> = header
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let (lines, w) = cell_lines(h);
            widths[i] = widths[i].max(w);
            lines
        })
        .collect();
    let row_cells: Vec<Vec<Vec<String>>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .map(|(i, cell)| {
                    let (lines, w) = cell_lines(cell);
                    widths[i] = widths[i].max(w);
                    lines
                })
                .collect()
        })
        .collect();

    let mut out = String::new();
    let rule = |out: &mut String| {
        out.push('+');
        for w in &widths {
            out.push_str(&"-".repeat(w + 2));
            out.push('+');
        }
        out.push('\n');
    };

    rule(&mut out);
    let header_height = header_cells.iter().map(Vec::len).max().unwrap_or(0);
    for line in 0..header_height {
        out.push('|');
        for (i, w) in widths.iter().enumerate() {
            let text = header_cells
                .get(i)
                .and_then(|c| c.get(line))
                .map(|t| title(t))
                .unwrap_or_default();
            out.push(' ');
            out.push_str(&pad_center(&text, *w));
            out.push_str(" |");
        }
        out.push('\n');
    }
    rule(&mut out);
    for cells in &row_cells {
        let height = cells.iter().map(Vec::len).max().unwrap_or(0);
        for line in 0..height {
            for (i, cell) in cells.iter().enumerate() {
                let text = cell.get(line).map(String::as_str).unwrap_or("  ");
                out.push_str("| ");
                out.push_str(&pad_left(text, widths[i]));
                out.push(' ');
            }
            out.push_str("|\n");
        }
    }
    rule(&mut out);
    out
}

fn print(out: &mut dyn Write, table: (Vec<&'static str>, Vec<Vec<String>>)) -> std::io::Result<()> {
    out.write_all(render_table(&table.0, &table.1).as_bytes())
}

pub fn member_list(out: &mut dyn Write, r: &MemberListResponse) -> std::io::Result<()> {
    print(out, super::member_list_rows(r))
}

pub fn endpoint_health(out: &mut dyn Write, list: &[EpHealth]) -> std::io::Result<()> {
    print(out, super::endpoint_health_rows(list))
}

pub fn endpoint_status(out: &mut dyn Write, list: &[EpStatus]) -> std::io::Result<()> {
    print(out, super::endpoint_status_rows(list))
}

pub fn endpoint_hashkv(out: &mut dyn Write, list: &[EpHashKv]) -> std::io::Result<()> {
    print(out, super::endpoint_hashkv_rows(list))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_etcdctl() {
        let table = render_table(
            &["endpoint", "hash"],
            &[vec!["127.0.0.1:23790".into(), "1776898817".into()]],
        );
        assert_eq!(
            table,
            "+-----------------+------------+\n\
             |    ENDPOINT     |    HASH    |\n\
             +-----------------+------------+\n\
             | 127.0.0.1:23790 | 1776898817 |\n\
             +-----------------+------------+\n"
        );
    }

    #[test]
    fn empty_table_has_header_only() {
        let table = render_table(&["endpoint", "hash"], &[]);
        assert_eq!(
            table,
            "+----------+------+\n| ENDPOINT | HASH |\n+----------+------+\n+----------+------+\n"
        );
    }

    #[test]
    fn long_cells_wrap_at_thirty_columns() {
        let table = render_table(
            &["errors"],
            &[vec!["etcdserver: mvcc: database space exceeded".into()]],
        );
        assert_eq!(
            table,
            "+--------------------------------+\n\
             |             ERRORS             |\n\
             +--------------------------------+\n\
             |     etcdserver: mvcc: database |\n\
             |                 space exceeded |\n\
             +--------------------------------+\n"
        );
    }
}
