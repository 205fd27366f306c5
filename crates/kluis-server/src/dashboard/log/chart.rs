//! The log page's chart: served reads per business per day over the last [`DAYS`] days, for
//! the [`TOP`] businesses that read most, as stacked bars in inline SVG drawn here (no script;
//! colours as SVG presentation attributes, since the CSP allows no inline style). The same
//! numbers go in a table for screen readers and for reading exact values.

use std::collections::HashMap;

use kluis_core::grant::BusinessId;

use crate::dashboard::i18n::Lang;
use crate::dashboard::render::date;

pub const DAYS: i64 = 30;
pub const TOP: usize = 5;

/// One colour per series: each at least 3:1 on white (WCAG 1.4.11), told apart by hue and
/// lightness, and named in the legend and the table, so colour alone carries nothing.
const FILLS: [&str; TOP] = ["#0b5394", "#c05600", "#1d6b35", "#762a83", "#00727a"];

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 220.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 8.0;
const TOP_PAD: f64 = 10.0;
const BOTTOM: f64 = 26.0;

pub struct Chart {
    pub label: String,
    pub bars: Vec<Bar>,
    pub grid: Vec<Tick>,
    pub days: Vec<Tick>,
    pub series: Vec<Series>,
    /// Per day with reads, oldest first: the day and each series' count.
    pub rows: Vec<(String, Vec<u64>)>,
}

pub struct Bar {
    pub x: String,
    pub y: String,
    pub width: String,
    pub height: String,
    pub fill: &'static str,
    pub title: String,
}

/// A label on an axis at `at` (y for the grid, x for days).
pub struct Tick {
    pub at: String,
    pub text: String,
}

pub struct Series {
    pub name: String,
    pub fill: &'static str,
    pub total: u64,
}

fn px(v: f64) -> String {
    format!("{v:.1}")
}

/// The smallest 1, 2 or 5 times a power of ten at or above `n` (at least 1).
fn nice(n: u64) -> u64 {
    let mut step = 1;
    loop {
        for m in [1, 2, 5] {
            if step * m >= n {
                return step * m;
            }
        }
        step *= 10;
    }
}

/// The chart of `counts` (`(business, day, reads)`, days since 1970) for the days
/// `first_day..first_day + DAYS`; `None` when nobody read anything then.
pub fn chart(lang: Lang, counts: &[(BusinessId, i64, u64)], first_day: i64) -> Option<Chart> {
    let in_range = |day: i64| (first_day..first_day + DAYS).contains(&day);
    let mut totals: HashMap<&BusinessId, u64> = HashMap::new();
    for (b, day, n) in counts {
        if in_range(*day) {
            *totals.entry(b).or_default() += n;
        }
    }
    let mut top: Vec<(&BusinessId, u64)> = totals.into_iter().collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    top.truncate(TOP);
    if top.is_empty() {
        return None;
    }
    let mut per_day = vec![vec![0u64; top.len()]; DAYS as usize];
    for (b, day, n) in counts {
        if let (true, Some(s)) = (in_range(*day), top.iter().position(|(t, _)| *t == b)) {
            per_day[(day - first_day) as usize][s] += n;
        }
    }
    let max = nice(
        per_day
            .iter()
            .map(|d| d.iter().sum::<u64>())
            .max()
            .unwrap_or(0),
    );
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP_PAD - BOTTOM;
    let slot = plot_w / DAYS as f64;
    let scale = plot_h / max as f64;
    let base = HEIGHT - BOTTOM;
    let day_name = |day: i64| date(lang, day * 86_400);
    let reads = |n: u64| match (lang, n) {
        (Lang::En, 1) => "1 read".to_owned(),
        (Lang::En, n) => format!("{n} reads"),
        (Lang::Nl, 1) => "1 inzage".to_owned(),
        (Lang::Nl, n) => format!("{n} inzagen"),
    };
    let mut bars = Vec::new();
    for (d, values) in per_day.iter().enumerate() {
        let mut y = base;
        for (s, &n) in values.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let h = n as f64 * scale;
            y -= h;
            bars.push(Bar {
                x: px(LEFT + d as f64 * slot + slot * 0.15),
                y: px(y),
                width: px(slot * 0.7),
                height: px(h),
                fill: FILLS[s],
                title: format!(
                    "{}, {}: {}",
                    top[s].0,
                    day_name(first_day + d as i64),
                    reads(n)
                ),
            });
        }
    }
    let grid = [0, max / 2, max]
        .into_iter()
        .filter(|&v| v == 0 || v != max / 2 || max >= 2)
        .map(|v| Tick {
            at: px(base - v as f64 * scale),
            text: v.to_string(),
        })
        .collect();
    let days = [0, DAYS / 2, DAYS - 1]
        .into_iter()
        .map(|d| Tick {
            at: px(LEFT + (d as f64 + 0.5) * slot),
            text: day_name(first_day + d),
        })
        .collect();
    let rows = per_day
        .iter()
        .enumerate()
        .filter(|(_, v)| v.iter().any(|&n| n > 0))
        .map(|(d, v)| (day_name(first_day + d as i64), v.clone()))
        .collect();
    let label = match lang {
        Lang::En => format!(
            "Reads per day from {} to {}, for the {} businesses that read most",
            day_name(first_day),
            day_name(first_day + DAYS - 1),
            top.len()
        ),
        Lang::Nl => format!(
            "Inzagen per dag van {} tot en met {}, voor de {} bedrijven die het meest lazen",
            day_name(first_day),
            day_name(first_day + DAYS - 1),
            top.len()
        ),
    };
    Some(Chart {
        label,
        bars,
        grid,
        days,
        series: top
            .iter()
            .enumerate()
            .map(|(s, (b, total))| Series {
                name: b.to_string(),
                fill: FILLS[s],
                total: *total,
            })
            .collect(),
        rows,
    })
}

impl Chart {
    pub const WIDTH: u32 = WIDTH as u32;
    pub const HEIGHT: u32 = HEIGHT as u32;

    pub fn left(&self) -> String {
        px(LEFT - 4.0)
    }

    pub fn right(&self) -> String {
        px(WIDTH - RIGHT)
    }

    pub fn label_y(&self) -> String {
        px(HEIGHT - 8.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_top_businesses_in_stacked_bars_within_the_days() {
        let b = |n: &str| BusinessId::parse(n).unwrap();
        let counts: Vec<(BusinessId, i64, u64)> = (0..7)
            .map(|i| (b(&format!("s{i}.example")), 100 + i, 10 + i as u64))
            .chain([(b("s0.example"), 101, 20), (b("old.example"), 99, 1000)])
            .collect();
        let c = chart(Lang::En, &counts, 100).unwrap();
        let names: Vec<&str> = c.series.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "s0.example",
                "s6.example",
                "s5.example",
                "s4.example",
                "s3.example"
            ]
        );
        assert_eq!(c.series[0].total, 30);
        assert_eq!(c.bars.len(), 6, "one bar per day and series with reads");
        assert!(
            c.bars
                .iter()
                .any(|bar| bar.title == "s0.example, 12 Apr 1970: 20 reads")
        );
        assert_eq!(c.rows.len(), 6);
        assert_eq!(c.rows[1].1, [20, 0, 0, 0, 0]);
        assert!(
            chart(Lang::En, &counts[8..], 100).is_none(),
            "old reads only"
        );
        assert_eq!(
            (nice(0), nice(1), nice(3), nice(17), nice(200)),
            (1, 1, 5, 20, 200)
        );
    }
}
