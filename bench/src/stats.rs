//! Percentiles and the plain-text report.

use serde_json::{json, Value};

/// Summary of a sample (nearest-rank percentiles).
#[derive(Clone, Debug)]
pub struct Summary {
    pub n: usize,
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Summary {
    pub fn of(values: &[f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let rank = |p: f64| {
            sorted[((p / 100.0 * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
        };
        Some(Self {
            n: sorted.len(),
            min: sorted[0],
            p50: rank(50.0),
            p90: rank(90.0),
            p99: rank(99.0),
            max: sorted[sorted.len() - 1],
            mean: sorted.iter().sum::<f64>() / sorted.len() as f64,
        })
    }

    pub fn json(&self) -> Value {
        json!({"n": self.n, "min": round(self.min), "p50": round(self.p50), "p90": round(self.p90),
            "p99": round(self.p99), "max": round(self.max), "mean": round(self.mean)})
    }
}

pub fn summary_json(values: &[f64]) -> Value {
    Summary::of(values).map_or(Value::Null, |s| s.json())
}

pub fn round(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// A plain-text table with right-aligned numeric columns.
pub struct Table {
    title: String,
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(title: &str, header: &[&str]) -> Self {
        Self {
            title: title.into(),
            header: header.iter().map(std::string::ToString::to_string).collect(),
            rows: vec![],
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// A row of a label and a summary's n/min/p50/p90/p99/max.
    pub fn summary_row(&mut self, label: &str, values: &[f64], decimals: usize) {
        let mut cells = vec![label.to_string()];
        match Summary::of(values) {
            Some(s) => {
                cells.push(s.n.to_string());
                for v in [s.min, s.p50, s.p90, s.p99, s.max] {
                    cells.push(format!("{v:.decimals$}"));
                }
            }
            None => cells.extend(std::iter::repeat_n("-".to_string(), 6)),
        }
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let columns = self.header.len();
        let mut widths: Vec<usize> = self.header.iter().map(String::len).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.len());
            }
        }
        let line = |cells: &[String]| {
            let mut out = String::new();
            for (i, cell) in cells.iter().enumerate().take(columns) {
                if i == 0 {
                    out.push_str(&format!("  {cell:<w$}", w = widths[0]));
                } else {
                    out.push_str(&format!("  {cell:>w$}", w = widths[i]));
                }
            }
            out.push('\n');
            out
        };
        let mut out = format!("{}\n", self.title);
        out.push_str(&line(&self.header));
        out.push_str(&format!(
            "  {}\n",
            "-".repeat(widths.iter().sum::<usize>() + 2 * (columns - 1))
        ));
        for row in &self.rows {
            out.push_str(&line(row));
        }
        out
    }
}

pub const SUMMARY_HEADER: &[&str] = &["", "n", "min", "p50", "p90", "p99", "max"];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let values: Vec<f64> = (1..=100).map(f64::from).collect();
        let s = Summary::of(&values).unwrap();
        assert_eq!((s.min, s.p50, s.p90, s.p99, s.max), (1.0, 50.0, 90.0, 99.0, 100.0));
        let one = Summary::of(&[7.0]).unwrap();
        assert_eq!((one.p50, one.p99), (7.0, 7.0));
        assert!(Summary::of(&[]).is_none());
    }
}
