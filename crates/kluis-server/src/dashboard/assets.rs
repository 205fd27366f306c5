//! The dashboard's own static files, compiled in: its stylesheet (no framework, no CDN) and its
//! icon (served, not a `data:` URL, which the pages' `img-src 'self'` would refuse).

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;
use axum::routing::get;

use super::Dashboard;

const CSS: &str = include_str!("../../assets/kluis.css");
const ICON: &str = include_str!("../../assets/kluis.svg");

pub fn router() -> Router<Dashboard> {
    Router::new()
        .route("/dashboard/static/kluis.css", get(css))
        .route("/dashboard/static/kluis.svg", get(icon))
}

async fn css() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/css; charset=utf-8"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=3600"),
            ),
        ],
        CSS,
    )
}

async fn icon() -> impl IntoResponse {
    (
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("image/svg+xml"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        ICON,
    )
}

#[cfg(test)]
mod tests {
    use super::CSS;

    /// A `--name: #rrggbb` colour of the stylesheet's `:root`.
    fn colour(name: &str) -> [f64; 3] {
        let at = CSS
            .find(&format!("--{name}: #"))
            .unwrap_or_else(|| panic!("no --{name}"));
        let hex = &CSS[at + name.len() + 5..][..6];
        [0, 2, 4].map(|i| f64::from(u8::from_str_radix(&hex[i..i + 2], 16).unwrap()) / 255.0)
    }

    /// WCAG 2 relative luminance.
    fn luminance(rgb: [f64; 3]) -> f64 {
        let [r, g, b] = rgb.map(|c| {
            if c <= 0.039_28 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        });
        0.2126 * r + 0.7152 * g + 0.0722 * b
    }

    fn contrast(a: &str, b: &str) -> f64 {
        let (la, lb) = (luminance(colour(a)), luminance(colour(b)));
        (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
    }

    #[test]
    fn text_colours_meet_wcag_aa() {
        // Text on backgrounds, as the stylesheet pairs them (buttons: paper on accent/error).
        for (text, background) in [
            ("ink", "paper"),
            ("ink", "soft"),
            ("accent", "paper"),
            ("accent", "soft"),
            ("muted", "paper"),
            ("muted", "soft"),
            ("error", "paper"),
            ("ok", "paper"),
            ("warn-ink", "warn-bg"),
            ("paper", "accent"),
            ("paper", "error"),
        ] {
            let ratio = contrast(text, background);
            assert!(ratio >= 4.5, "{text} on {background}: {ratio:.2}:1");
        }
        assert!(
            contrast("line", "paper") < 4.5,
            "the check can fail: a light line is not text"
        );
    }
}
