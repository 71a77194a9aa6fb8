//! Synthetic sandbox metrics (CONTRACT §8 "Metrics synthesis", §11 "Metrics"): a post's daily
//! series as a pure function of its id and the day, from an FNV-1a-seeded mulberry32 generator,
//! so that two calls with the same id and range agree to the bit and overlapping ranges agree day
//! by day. Views lie in [80, 120] a day, the engagement rate in [0.02, 0.05], reach never exceeds
//! views and the days before publishing are zeros. No dependencies, not even the other layers
//! crates: dates are this crate's own [`Date`], and serialization is the caller's business.
//!
//! ```
//! use layers_metrics_synth::{day, series, summarize, Date};
//!
//! let published: Date = "2024-02-27".parse()?;
//! let march = series("sb_post_cnt_1_0", published, "2024-02-25".parse()?, "2024-03-02".parse()?)?;
//! assert_eq!(march.len(), 7);
//! assert_eq!(march[0].views, 0); // not yet published
//! assert_eq!(march[2].posts_published, 1);
//! assert!((80..=120).contains(&march[4].views));
//! assert!((0.02..=0.05).contains(&march[4].engagement_rate));
//! assert!(march[4].reach <= march[4].views);
//!
//! // A day depends on the post and the day only, never on the range that holds it.
//! let leap_day = day("sb_post_cnt_1_0", published, "2024-02-29".parse()?);
//! assert_eq!(march[4], leap_day);
//!
//! let other = series("sb_post_cnt_2_0", published, "2024-02-25".parse()?, "2024-03-02".parse()?)?;
//! let summary = summarize(&[&march, &other]);
//! assert_eq!(summary.posts, 2);
//! assert_eq!(summary.views, march.iter().chain(&other).map(|d| d.views).sum::<u64>());
//!
//! assert!(series("sb_post_cnt_1_0", published, "2024-03-02".parse()?, "2024-03-01".parse()?).is_err());
//! assert_eq!(leap_day.date.to_string(), "2024-02-29");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod date;
pub mod rng;
pub mod series;
pub mod summary;

pub use date::{Date, DateError};
pub use rng::{fnv1a, fnv1a_extend, Mulberry32};
pub use series::{day, series, Day, ReversedRange};
pub use summary::{summarize, Summary};
