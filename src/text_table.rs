//! Left-aligned text columns separated by three spaces, as kubectl prints them.

/// Aligns `rows` under `header`, each line prefixed with `indent`. Trailing spaces are trimmed.
pub fn render(indent: &str, header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            let w = cell.chars().count();
            match widths.get_mut(i) {
                Some(width) => *width = (*width).max(w),
                None => widths.push(w),
            }
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|h| h.to_string()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::from(indent);
        for (i, cell) in row.iter().enumerate() {
            if i > 0 {
                line.push_str("   ");
            }
            line.push_str(cell);
            let pad = widths[i].saturating_sub(cell.chars().count());
            line.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A duration as `4m05s` (or `42s`).
pub fn duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    if s >= 60 { format!("{}m{:02}s", s / 60, s % 60) } else { format!("{s}s") }
}

/// A longer duration as `42s`, `4m5s`, `6h10m`, or whole hours past a day (`48h`).
pub fn human(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s >= 86_400 && s % 3_600 == 0 => format!("{}h", s / 3_600),
        s if s >= 3_600 => format!("{}h{}m", s / 3_600, (s % 3_600) / 60),
        s if s >= 60 => format!("{}m{}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn columns_align_on_the_widest_cell() {
        let rows = vec![vec!["blue-1".to_string(), "Ready".to_string()], vec!["b".to_string(), "NotReady".into()]];
        let got = super::render("  ", &["NODE", "STATUS"], &rows);
        assert_eq!(got, "  NODE     STATUS\n  blue-1   Ready\n  b        NotReady\n");
    }
}
