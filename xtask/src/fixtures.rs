//! `cargo xtask fixtures`: regenerates the sandbox fixture media of `crates/content/fixtures/`
//! (CONTRACT §8, seed 001 "Content generation") with ffmpeg, byte for byte the same on every run
//! with the same ffmpeg build.
//!
//! Thirty files, every one 1080×1920: per sample `n` in 1..=3, `slideshow/sample-n/slide-1..5.jpg`,
//! `video-remix/sample-n/{video.mp4,thumbnail.jpg}`, `ugc-creative/sample-n/{video.mp4,
//! thumbnail.jpg}` and `image/sample-n.jpg`. The pictures come from ffmpeg's lavfi sources
//! (gradients, testsrc2, mandelbrot; no text, so no fonts): a palette per sample, a shape per
//! slide, and a few white marks giving the slide's number. A video is 10 s at 5 frames/s of
//! H.264 (yuv420p, no audio) in MP4; its thumbnail is its first frame.
//!
//! Reproducibility: one thread everywhere (`-threads 1`, `-filter_threads 1`), fixed frame
//! counts and seeds, `+bitexact` (no encoder version strings, zero creation times) and no
//! metadata. The files are written to `target/xtask-fixtures/` first and copied into place only
//! when all of them were made.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::util::{root, target_dir, Result};

/// Every fixture is this size (portrait 9:16).
const WIDTH: u32 = 1080;
const HEIGHT: u32 = 1920;
/// Videos: 10 s at 5 frames/s.
const FPS: u32 = 5;
const SECONDS: u32 = 10;
/// Samples per format.
const SAMPLES: u32 = 3;

/// Four colours per sample: sunset, ocean, forest.
const PALETTES: [[&str; 4]; 3] = [
    ["0xff5e3a", "0xffb347", "0xff2d95", "0x8e2de2"],
    ["0x00c6ff", "0x0072ff", "0x1de9b6", "0x3a1c71"],
    ["0x56ab2f", "0xa8e063", "0xf7e600", "0x134e5e"],
];

/// The gradient shape of slides 1..=5.
const SLIDE_SHAPES: [&str; 5] = ["linear", "radial", "circular", "spiral", "linear"];

/// Where the image samples look into the Mandelbrot set: (x, y, scale, hue shift in degrees).
const MANDELBROT_VIEWS: [(f64, f64, f64, u32); 3] = [
    (-0.743644, -0.131826, 2.5, 90),
    (-0.75, 0.0, 6.0, 0),
    (-1.25066, 0.02012, 0.05, 200),
];

/// What ffmpeg writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Output {
    /// One frame, baseline JPEG.
    Jpeg,
    /// `FPS * SECONDS` frames of H.264 in MP4.
    Mp4,
}

/// One fixture file: its path under `crates/content/fixtures/` and the lavfi graph it is made
/// from.
#[derive(Clone, Debug)]
struct Fixture {
    path: String,
    graph: String,
    output: Output,
}

pub fn run(args: &[String]) -> Result<()> {
    if let Some(extra) = args.first() {
        return Err(format!(
            "`cargo xtask fixtures` takes no arguments (got `{extra}`)"
        ));
    }
    let version = ffmpeg_version()?;
    eprintln!("xtask: generating the sandbox fixtures with {version}");

    let plan = plan();
    let staging = target_dir().join("xtask-fixtures");
    if staging.exists() {
        std::fs::remove_dir_all(&staging)
            .map_err(|e| format!("could not clear {}: {e}", staging.display()))?;
    }
    generate_all(&plan, &staging)?;

    let dest = fixtures_dir();
    let mut total = 0;
    for fixture in &plan {
        let from = staging.join(&fixture.path);
        let to = dest.join(&fixture.path);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| format!("could not create {}: {e}", parent.display()))?;
        }
        let size = std::fs::copy(&from, &to)
            .map_err(|e| format!("could not copy {} to {}: {e}", from.display(), to.display()))?;
        total += size;
        println!("{size:>9}  {}", fixture.path);
    }
    println!(
        "{total:>9}  total, {} files in {}",
        plan.len(),
        dest.display()
    );
    let stray = stray_files(&dest, &plan);
    if !stray.is_empty() {
        eprintln!(
            "xtask: these files under {} are not fixtures (left alone): {}",
            dest.display(),
            stray.join(", ")
        );
    }
    std::fs::remove_dir_all(&staging).ok();
    Ok(())
}

/// `crates/content/fixtures/`.
fn fixtures_dir() -> PathBuf {
    root().join("crates/content/fixtures")
}

/// ffmpeg's first version line, or the hint to install it.
fn ffmpeg_version() -> Result<String> {
    match Command::new("ffmpeg").arg("-version").output() {
        Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .unwrap_or("ffmpeg")
            .to_owned()),
        Ok(out) => Err(format!(
            "`ffmpeg -version` failed ({}); reinstall it (apt-get install ffmpeg)",
            out.status
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(
            "ffmpeg is not on PATH: install it (apt-get install ffmpeg, or brew install ffmpeg) \
             and run cargo xtask fixtures again"
                .into(),
        ),
        Err(e) => Err(format!("could not run ffmpeg: {e}")),
    }
}

/// Runs ffmpeg for every fixture, a few at a time (each ffmpeg on one thread), into `staging`.
fn generate_all(plan: &[Fixture], staging: &Path) -> Result<()> {
    let next = AtomicUsize::new(0);
    let errors = Mutex::new(Vec::new());
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(plan.len());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(fixture) = plan.get(i) else { break };
                if let Err(e) = generate(fixture, staging) {
                    errors.lock().unwrap().push(e);
                }
            });
        }
    });
    let errors = errors.into_inner().unwrap();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

fn generate(fixture: &Fixture, staging: &Path) -> Result<()> {
    let out = staging.join(&fixture.path);
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| format!("could not create {}: {e}", parent.display()))?;
    }
    let args = ffmpeg_args(fixture, &out.to_string_lossy());
    let output = Command::new("ffmpeg")
        .args(&args)
        .output()
        .map_err(|e| format!("could not run ffmpeg for {}: {e}", fixture.path))?;
    if !output.status.success() {
        return Err(format!(
            "ffmpeg failed for {} ({}): {}",
            fixture.path,
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(())
}

/// The ffmpeg command line that makes `fixture` at `out`.
fn ffmpeg_args(fixture: &Fixture, out: &str) -> Vec<String> {
    let mut args: Vec<String> = [
        "-hide_banner",
        "-loglevel",
        "error",
        "-nostdin",
        "-y",
        "-filter_threads",
        "1",
        "-f",
        "lavfi",
        "-i",
        &fixture.graph,
        "-an",
        "-threads",
        "1",
        "-map_metadata",
        "-1",
        "-fflags",
        "+bitexact",
        "-flags:v",
        "+bitexact",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let frames = match fixture.output {
        Output::Jpeg => 1,
        Output::Mp4 => FPS * SECONDS,
    };
    args.extend(["-frames:v".into(), frames.to_string()]);
    let tail: &[&str] = match fixture.output {
        Output::Jpeg => &[
            "-c:v", "mjpeg", "-q:v", "5", "-pix_fmt", "yuvj420p", "-f", "image2", "-update", "1",
        ],
        Output::Mp4 => &[
            "-c:v",
            "libx264",
            "-preset",
            "veryslow",
            "-crf",
            "42",
            "-profile:v",
            "high",
            "-pix_fmt",
            "yuv420p",
            "-movflags",
            "+faststart",
            "-f",
            "mp4",
        ],
    };
    args.extend(tail.iter().map(|s| s.to_string()));
    args.push(out.to_owned());
    args
}

/// The thirty fixtures, in the catalog's order.
fn plan() -> Vec<Fixture> {
    let mut plan = Vec::new();
    for sample in 1..=SAMPLES {
        for slide in 1..=5 {
            plan.push(Fixture {
                path: format!("slideshow/sample-{sample}/slide-{slide}.jpg"),
                graph: slide_graph(sample, slide),
                output: Output::Jpeg,
            });
        }
    }
    for (format, graph) in [
        ("video-remix", remix_graph as fn(u32) -> String),
        ("ugc-creative", ugc_graph),
    ] {
        for sample in 1..=SAMPLES {
            for (name, output) in [("video.mp4", Output::Mp4), ("thumbnail.jpg", Output::Jpeg)] {
                plan.push(Fixture {
                    path: format!("{format}/sample-{sample}/{name}"),
                    graph: graph(sample),
                    output,
                });
            }
        }
    }
    for sample in 1..=SAMPLES {
        plan.push(Fixture {
            path: format!("image/sample-{sample}.jpg"),
            graph: image_graph(sample),
            output: Output::Jpeg,
        });
    }
    plan
}

fn palette(sample: u32) -> [&'static str; 4] {
    PALETTES[(sample as usize - 1) % PALETTES.len()]
}

/// `count` white bars in a row from (x, y): a slide's number, a sample's number.
fn marks(count: u32, x: u32, y: u32, w: u32, h: u32) -> String {
    (0..count)
        .map(|i| {
            format!(
                ",drawbox=x={}:y={y}:w={w}:h={h}:color=white@0.85:t=fill",
                x + i * (w * 7 / 4)
            )
        })
        .collect()
}

/// A slide: a four-colour gradient in the sample's palette (rotated by the slide), the slide's
/// shape, the slide's number in bars at the bottom and the sample's number in squares at the top.
fn slide_graph(sample: u32, slide: u32) -> String {
    let p = palette(sample);
    let k = slide as usize - 1;
    let c = |i: usize| p[(i + k) % 4];
    let shape = SLIDE_SHAPES[k];
    let (x0, y0, x1, y1) = [
        (0, 0, 1080, 1920),
        (540, 700, 1080, 1920),
        (300, 1200, 900, 400),
        (540, 960, 1000, 200),
        (1080, 0, 0, 1920),
    ][k];
    format!(
        "gradients=s={WIDTH}x{HEIGHT}:r=1:n=4:c0={}:c1={}:c2={}:c3={}:type={shape}:\
         x0={x0}:y0={y0}:x1={x1}:y1={y1}:seed={}{}{}",
        c(0),
        c(1),
        c(2),
        c(3),
        sample * 10 + slide,
        marks(slide, 80, 1680, 48, 140),
        marks(sample, 860, 80, 36, 36),
    )
}

/// A video-remix sample: testsrc2 (moving bars, a gradient line, a timecode) drawn at half size,
/// doubled, and turned round the hue circle by the sample.
fn remix_graph(sample: u32) -> String {
    format!(
        "testsrc2=s={}x{}:r={FPS},scale={WIDTH}:{HEIGHT}:flags=neighbor,hue=h={}{}",
        WIDTH / 2,
        HEIGHT / 2,
        (sample - 1) * 120,
        marks(sample, 860, 1780, 36, 36),
    )
}

/// A ugc-creative sample: a slowly turning gradient in the sample's palette behind a bobbing
/// "subject" box.
fn ugc_graph(sample: u32) -> String {
    let p = palette(sample);
    let shape = ["circular", "spiral", "radial"][(sample as usize - 1) % 3];
    format!(
        "gradients=s={}x{}:r={FPS}:n=3:c0={}:c1={}:c2={}:type={shape}:\
         x0=270:y0=300:x1=500:y1=900:speed=0.03:seed={sample},\
         scale={WIDTH}:{HEIGHT}:flags=bicubic,\
         drawbox=x=390:y='660+220*sin(2*PI*t/5)':w=300:h=600:color={}@0.75:t=fill{}",
        WIDTH / 2,
        HEIGHT / 2,
        p[0],
        p[1],
        p[2],
        p[3],
        marks(sample, 860, 80, 36, 36),
    )
}

/// An image sample: a view into the Mandelbrot set, its colours turned by the sample.
fn image_graph(sample: u32) -> String {
    let (x, y, scale, hue) = MANDELBROT_VIEWS[(sample as usize - 1) % 3];
    format!(
        "mandelbrot=s={WIDTH}x{HEIGHT}:r=1:maxiter=1000:start_x={x}:start_y={y}:\
         start_scale={scale},hue=h={hue}{}",
        marks(sample, 860, 80, 36, 36),
    )
}

/// Files under `dir` that the plan does not make (relative paths), sorted.
fn stray_files(dir: &Path, plan: &[Fixture]) -> Vec<String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(rel) = path.strip_prefix(dir) {
                let rel = rel.to_string_lossy().replace('\\', "/");
                if !plan.iter().any(|f| f.path == rel) {
                    found.push(rel);
                }
            }
        }
    }
    found.sort();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The seed's layout, written out by hand.
    fn expected_paths() -> Vec<String> {
        let mut paths = Vec::new();
        for n in 1..=3 {
            for k in 1..=5 {
                paths.push(format!("slideshow/sample-{n}/slide-{k}.jpg"));
            }
        }
        for format in ["video-remix", "ugc-creative"] {
            for n in 1..=3 {
                paths.push(format!("{format}/sample-{n}/video.mp4"));
                paths.push(format!("{format}/sample-{n}/thumbnail.jpg"));
            }
        }
        for n in 1..=3 {
            paths.push(format!("image/sample-{n}.jpg"));
        }
        paths
    }

    #[test]
    fn fixtures_plan_is_the_seed_layout() {
        let plan: Vec<String> = plan().into_iter().map(|f| f.path).collect();
        assert_eq!(plan, expected_paths());
    }

    #[test]
    fn fixtures_outputs_match_extensions_and_graphs_are_distinct() {
        let plan = plan();
        for f in &plan {
            let want = if f.path.ends_with(".mp4") {
                Output::Mp4
            } else {
                assert!(f.path.ends_with(".jpg"), "{}", f.path);
                Output::Jpeg
            };
            assert_eq!(f.output, want, "{}", f.path);
            assert!(!f.graph.contains("drawtext"), "{} needs fonts", f.path);
        }
        // a video and its thumbnail share a graph; every other pair differs
        for (i, a) in plan.iter().enumerate() {
            for b in &plan[i + 1..] {
                let same_dir =
                    a.path.rsplit_once('/').map(|p| p.0) == b.path.rsplit_once('/').map(|p| p.0);
                let pair = same_dir && a.output != b.output;
                assert_eq!(
                    a.graph == b.graph,
                    pair,
                    "{} and {}: graphs {}",
                    a.path,
                    b.path,
                    if pair {
                        "should match"
                    } else {
                        "should differ"
                    }
                );
            }
        }
    }

    #[test]
    fn fixtures_ffmpeg_args_are_reproducible_and_sized() {
        for f in plan() {
            let args = ffmpeg_args(&f, "out");
            let joined = args.join(" ");
            for needed in [
                "-threads 1",
                "-filter_threads 1",
                "-fflags +bitexact",
                "-flags:v +bitexact",
                "-map_metadata -1",
            ] {
                assert!(joined.contains(needed), "{}: no `{needed}`", f.path);
            }
            let frames = if f.output == Output::Mp4 { "50" } else { "1" };
            assert!(
                joined.contains(&format!("-frames:v {frames} ")),
                "{}",
                f.path
            );
            // every graph ends up 1080x1920: drawn at that size, or at half and doubled
            assert!(
                f.graph.contains("s=1080x1920")
                    || (f.graph.contains("s=540x960") && f.graph.contains("scale=1080:1920")),
                "{}: {}",
                f.path,
                f.graph
            );
            // graphs with random defaults have them pinned
            if f.graph.starts_with("gradients") {
                assert!(f.graph.contains(":seed="), "{}", f.path);
                for c in ["c0=", "c1=", "x0=", "y0=", "x1=", "y1="] {
                    assert!(f.graph.contains(c), "{}: no {c}", f.path);
                }
            }
            assert_eq!(args.last().map(String::as_str), Some("out"));
        }
    }

    #[test]
    fn fixtures_on_disk_are_exactly_the_plan() {
        let dir = fixtures_dir();
        let plan = plan();
        for f in &plan {
            assert!(
                dir.join(&f.path).is_file(),
                "{} is missing: run cargo xtask fixtures",
                f.path
            );
        }
        assert_eq!(stray_files(&dir, &plan), Vec::<String>::new());
    }
}
