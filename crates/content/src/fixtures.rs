//! The sandbox fixture catalog (CONTRACT §8, seed 001 "Content generation"): three sample sets
//! per format, every file 1080×1920, compiled into the crate from `fixtures/` (made by
//! `cargo xtask fixtures`), which sample a container uses, and the URLs the gateway serves them at
//! (`{LAYERS_MEDIA_BASE_URL}/sandbox/<path>`).

/// A generated content format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    Slideshow,
    VideoRemix,
    UgcCreative,
    Image,
}

impl Format {
    pub const ALL: [Format; 4] = [
        Format::Slideshow,
        Format::VideoRemix,
        Format::UgcCreative,
        Format::Image,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Format::Slideshow => "slideshow",
            Format::VideoRemix => "video-remix",
            Format::UgcCreative => "ugc-creative",
            Format::Image => "image",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// What generating one variant of this format costs (CONTRACT §11 "Credits").
    pub fn operation(self) -> layers_credits::Operation {
        use layers_credits::Operation;
        match self {
            Format::Slideshow => Operation::ContentSlideshow,
            Format::VideoRemix => Operation::ContentVideoRemix,
            Format::UgcCreative => Operation::ContentUgcCreative,
            Format::Image => Operation::ContentImage,
        }
    }
}

/// What one media file of a container is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AssetKind {
    Image,
    Video,
    Thumbnail,
}

impl AssetKind {
    pub const ALL: [AssetKind; 3] = [AssetKind::Image, AssetKind::Video, AssetKind::Thumbnail];

    pub fn as_str(self) -> &'static str {
        match self {
            AssetKind::Image => "image",
            AssetKind::Video => "video",
            AssetKind::Thumbnail => "thumbnail",
        }
    }

    pub fn parse(s: &str) -> Option<AssetKind> {
        AssetKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One fixture file as a container's asset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixtureAsset {
    /// Relative to `/sandbox/`: `slideshow/sample-1/slide-1.jpg`.
    pub path: &'static str,
    pub kind: AssetKind,
    pub content_type: &'static str,
    pub width: u32,
    pub height: u32,
}

/// Sample sets per format.
pub const SAMPLES: u32 = 3;
/// Every fixture file is this wide and tall (portrait 9:16).
pub const FIXTURE_WIDTH: u32 = 1080;
pub const FIXTURE_HEIGHT: u32 = 1920;

/// `(path, bytes)` of every fixture file, compiled in.
macro_rules! fixture_files {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!("../fixtures/", $path)) as &[u8])),*]
    };
}

/// The thirty fixture files, in catalog order: per sample, slides 1..5; video then thumbnail;
/// the image.
static FILES: &[(&str, &[u8])] = fixture_files![
    "slideshow/sample-1/slide-1.jpg",
    "slideshow/sample-1/slide-2.jpg",
    "slideshow/sample-1/slide-3.jpg",
    "slideshow/sample-1/slide-4.jpg",
    "slideshow/sample-1/slide-5.jpg",
    "slideshow/sample-2/slide-1.jpg",
    "slideshow/sample-2/slide-2.jpg",
    "slideshow/sample-2/slide-3.jpg",
    "slideshow/sample-2/slide-4.jpg",
    "slideshow/sample-2/slide-5.jpg",
    "slideshow/sample-3/slide-1.jpg",
    "slideshow/sample-3/slide-2.jpg",
    "slideshow/sample-3/slide-3.jpg",
    "slideshow/sample-3/slide-4.jpg",
    "slideshow/sample-3/slide-5.jpg",
    "video-remix/sample-1/video.mp4",
    "video-remix/sample-1/thumbnail.jpg",
    "video-remix/sample-2/video.mp4",
    "video-remix/sample-2/thumbnail.jpg",
    "video-remix/sample-3/video.mp4",
    "video-remix/sample-3/thumbnail.jpg",
    "ugc-creative/sample-1/video.mp4",
    "ugc-creative/sample-1/thumbnail.jpg",
    "ugc-creative/sample-2/video.mp4",
    "ugc-creative/sample-2/thumbnail.jpg",
    "ugc-creative/sample-3/video.mp4",
    "ugc-creative/sample-3/thumbnail.jpg",
    "image/sample-1.jpg",
    "image/sample-2.jpg",
    "image/sample-3.jpg",
];

/// 32-bit FNV-1a (offset basis 2166136261, prime 16777619) over the UTF-8 bytes of `s`.
pub fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(2_166_136_261_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16_777_619)
    })
}

/// The sample (1..=3) of variant `variant_index` (from 0) of a generation request whose first
/// container is `first_container_id`: `((FNV-1a(id) + i) mod 3) + 1`, so the variants of one
/// request are distinct samples (CONTRACT §8).
pub fn sample_for(first_container_id: &str, variant_index: u32) -> u32 {
    ((u64::from(fnv1a(first_container_id)) + u64::from(variant_index)) % u64::from(SAMPLES)) as u32
        + 1
}

/// The sample (1..=3) of the `n`-th regeneration of a container: `((FNV-1a(id) + n) mod 3) + 1`
/// (CONTRACT §11 "Content").
pub fn regeneration_sample(container_id: &str, n: u32) -> u32 {
    sample_for(container_id, n)
}

/// The files of `sample` (1..=3) of `format`, in order: slides 1..5; video then thumbnail; the
/// image. Empty for a sample outside 1..=3.
pub fn assets(format: Format, sample: u32) -> Vec<FixtureAsset> {
    if !(1..=SAMPLES).contains(&sample) {
        return Vec::new();
    }
    let prefix = match format {
        Format::Image => format!("image/sample-{sample}."),
        other => format!("{}/sample-{sample}/", other.as_str()),
    };
    FILES
        .iter()
        .filter(|(path, _)| path.starts_with(&prefix))
        .map(|&(path, _)| FixtureAsset {
            path,
            kind: if path.ends_with("/video.mp4") {
                AssetKind::Video
            } else if path.ends_with("/thumbnail.jpg") {
                AssetKind::Thumbnail
            } else {
                AssetKind::Image
            },
            content_type: content_type(path),
            width: FIXTURE_WIDTH,
            height: FIXTURE_HEIGHT,
        })
        .collect()
}

/// Every fixture path, in catalog order.
pub fn paths() -> impl Iterator<Item = &'static str> {
    FILES.iter().map(|&(path, _)| path)
}

/// The bytes and content type of the fixture at `path` (relative to `/sandbox/`, exactly as in
/// the catalog); `None` for anything else.
pub fn file(path: &str) -> Option<(&'static [u8], &'static str)> {
    FILES
        .iter()
        .find(|(p, _)| *p == path)
        .map(|&(p, bytes)| (bytes, content_type(p)))
}

/// The public URL of the fixture at `path`: `{media_base_url}/sandbox/{path}`.
pub fn url(media_base_url: &str, path: &str) -> String {
    format!("{}/sandbox/{path}", media_base_url.trim_end_matches('/'))
}

fn content_type(path: &str) -> &'static str {
    if path.ends_with(".mp4") {
        "video/mp4"
    } else {
        "image/jpeg"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Width and height from a JPEG's first SOF0/SOF1/SOF2 segment; `None` when `bytes` is not
    /// a JPEG walkable from SOI to a frame header.
    fn jpeg_size(bytes: &[u8]) -> Option<(u32, u32)> {
        if bytes.get(..2)? != [0xFF, 0xD8] || bytes.get(bytes.len() - 2..)? != [0xFF, 0xD9] {
            return None;
        }
        let mut i = 2;
        loop {
            if *bytes.get(i)? != 0xFF {
                return None;
            }
            let marker = *bytes.get(i + 1)?;
            let len = usize::from(u16::from_be_bytes([*bytes.get(i + 2)?, *bytes.get(i + 3)?]));
            if matches!(marker, 0xC0..=0xC2) {
                // length(2) precision(1) height(2) width(2)
                let seg = bytes.get(i + 4..i + 2 + len)?;
                let height = u16::from_be_bytes([seg[1], seg[2]]);
                let width = u16::from_be_bytes([seg[3], seg[4]]);
                return Some((u32::from(width), u32::from(height)));
            }
            if marker == 0xDA {
                return None; // scan data before any frame header
            }
            i += 2 + len;
        }
    }

    /// The boxes directly inside `data`: (type, body).
    fn boxes(mut data: &[u8]) -> Option<Vec<([u8; 4], &[u8])>> {
        let mut out = Vec::new();
        while !data.is_empty() {
            let size32 = u32::from_be_bytes(data.get(..4)?.try_into().ok()?);
            let kind: [u8; 4] = data.get(4..8)?.try_into().ok()?;
            let (header, size) = match size32 {
                0 => (8, data.len()),
                1 => (
                    16,
                    usize::try_from(u64::from_be_bytes(data.get(8..16)?.try_into().ok()?)).ok()?,
                ),
                n => (8, n as usize),
            };
            if size < header {
                return None;
            }
            out.push((kind, data.get(header..size)?));
            data = &data[size..];
        }
        Some(out)
    }

    fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
        boxes(data)?
            .into_iter()
            .find(|(k, _)| k == kind)
            .map(|(_, body)| body)
    }

    fn be32(b: &[u8], at: usize) -> Option<u32> {
        Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
    }

    fn be64(b: &[u8], at: usize) -> Option<u64> {
        Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
    }

    /// What the tests read from an MP4.
    #[derive(Debug, PartialEq)]
    struct Mp4 {
        brand: [u8; 4],
        /// Seconds, from mvhd.
        duration: f64,
        /// The video track's tkhd width and height (16.16, integer part).
        width: u32,
        height: u32,
        /// The video track's sample entry (`avc1` for H.264).
        codec: [u8; 4],
        /// moov comes before mdat (`+faststart`).
        faststart: bool,
    }

    fn mp4(bytes: &[u8]) -> Option<Mp4> {
        let top = boxes(bytes)?;
        let (first, ftyp) = top.first()?;
        if first != b"ftyp" {
            return None;
        }
        let pos = |k: &[u8; 4]| top.iter().position(|(kind, _)| kind == k);
        let faststart = pos(b"moov")? < pos(b"mdat")?;
        let moov = child(bytes, b"moov")?;
        let mvhd = child(moov, b"mvhd")?;
        let (timescale, duration) = match mvhd.first()? {
            0 => (be32(mvhd, 12)?, u64::from(be32(mvhd, 16)?)),
            1 => (be32(mvhd, 20)?, be64(mvhd, 24)?),
            _ => return None,
        };
        let video = boxes(moov)?.into_iter().find_map(|(kind, trak)| {
            let hdlr = child(child(trak, b"mdia")?, b"hdlr")?;
            (kind == *b"trak" && hdlr.get(8..12)? == b"vide").then_some(trak)
        })?;
        let tkhd = child(video, b"tkhd")?;
        // version/flags(4), times and ids (20 or 32), reserved(8), layer, group, volume,
        // reserved (2 each), matrix(36), then width and height in 16.16
        let at = 4 + if *tkhd.first()? == 1 { 32 } else { 20 } + 8 + 8 + 36;
        let stsd = child(
            child(child(child(video, b"mdia")?, b"minf")?, b"stbl")?,
            b"stsd",
        )?;
        Some(Mp4 {
            brand: ftyp.get(..4)?.try_into().ok()?,
            duration: duration as f64 / f64::from(timescale),
            width: be32(tkhd, at)? >> 16,
            height: be32(tkhd, at + 4)? >> 16,
            codec: stsd.get(12..16)?.try_into().ok()?,
            faststart,
        })
    }

    #[test]
    fn fnv1a_known_vectors() {
        assert_eq!(fnv1a(""), 0x811c_9dc5);
        assert_eq!(fnv1a("a"), 0xe40c_292c);
        assert_eq!(fnv1a("foobar"), 0xbf9c_f968);
        // over the UTF-8 bytes (C3 A9), not the code point (E9)
        assert_eq!(fnv1a("é"), 0x1e9d_e8c1);
    }

    #[test]
    fn formats_and_kinds_round_trip() {
        let names: Vec<&str> = Format::ALL.iter().map(|f| f.as_str()).collect();
        assert_eq!(names, ["slideshow", "video-remix", "ugc-creative", "image"]);
        for f in Format::ALL {
            assert_eq!(Format::parse(f.as_str()), Some(f));
        }
        assert_eq!(Format::parse("video"), None);
        assert_eq!(Format::parse("Slideshow"), None);
        for k in AssetKind::ALL {
            assert_eq!(AssetKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(AssetKind::Thumbnail.as_str(), "thumbnail");
        assert_eq!(AssetKind::parse("audio"), None);
    }

    #[test]
    fn catalog_layout_is_the_seeds() {
        for n in 1..=3 {
            let of = |f| assets(f, n).iter().map(|a| a.path).collect::<Vec<_>>();
            let slides: Vec<String> = (1..=5)
                .map(|k| format!("slideshow/sample-{n}/slide-{k}.jpg"))
                .collect();
            assert_eq!(of(Format::Slideshow), slides);
            for f in [Format::VideoRemix, Format::UgcCreative] {
                let dir = format!("{}/sample-{n}", f.as_str());
                assert_eq!(
                    of(f),
                    [format!("{dir}/video.mp4"), format!("{dir}/thumbnail.jpg")]
                );
                let kinds: Vec<AssetKind> = assets(f, n).iter().map(|a| a.kind).collect();
                assert_eq!(kinds, [AssetKind::Video, AssetKind::Thumbnail]);
                assert_eq!(assets(f, n)[0].content_type, "video/mp4");
                assert_eq!(assets(f, n)[1].content_type, "image/jpeg");
            }
            assert_eq!(of(Format::Image), [format!("image/sample-{n}.jpg")]);
            for f in [Format::Slideshow, Format::Image] {
                assert!(assets(f, n)
                    .iter()
                    .all(|a| a.kind == AssetKind::Image && a.content_type == "image/jpeg"));
            }
        }
        for f in Format::ALL {
            assert!(assets(f, 0).is_empty());
            assert!(assets(f, 4).is_empty());
        }
        // every file belongs to exactly one (format, sample)
        let mut all: Vec<&str> = Format::ALL
            .into_iter()
            .flat_map(|f| (1..=3).flat_map(move |n| assets(f, n)))
            .map(|a| a.path)
            .collect();
        assert_eq!(all.len(), 30);
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 30);
        assert_eq!(paths().count(), 30);
    }

    #[test]
    fn every_file_is_there_and_is_what_the_catalog_says() {
        let mut total = 0;
        for f in Format::ALL {
            for n in 1..=3 {
                for a in assets(f, n) {
                    let (bytes, content_type) = file(a.path).expect(a.path);
                    assert!(!bytes.is_empty(), "{} is empty", a.path);
                    assert_eq!(content_type, a.content_type, "{}", a.path);
                    assert_eq!((a.width, a.height), (1080, 1920), "{}", a.path);
                    total += bytes.len();
                    match a.kind {
                        AssetKind::Image | AssetKind::Thumbnail => {
                            assert_eq!(a.content_type, "image/jpeg");
                            assert_eq!(
                                jpeg_size(bytes),
                                Some((1080, 1920)),
                                "{} is not a 1080x1920 JPEG",
                                a.path
                            );
                        }
                        AssetKind::Video => {
                            assert_eq!(a.content_type, "video/mp4");
                            let m =
                                mp4(bytes).unwrap_or_else(|| panic!("{} is not an MP4", a.path));
                            assert_eq!((m.width, m.height), (1080, 1920), "{}", a.path);
                            assert!(
                                (8.0..=12.0).contains(&m.duration),
                                "{} lasts {} s",
                                a.path,
                                m.duration
                            );
                            assert_eq!(&m.codec, b"avc1", "{} is not H.264", a.path);
                            assert_eq!(&m.brand, b"isom", "{}", a.path);
                            assert!(m.faststart, "{}: moov after mdat", a.path);
                        }
                    }
                }
            }
        }
        // compiled into every binary that links the crate: keep the set small
        assert!(total < 3 * 1024 * 1024, "the fixtures weigh {total} bytes");
    }

    #[test]
    fn the_parsers_refuse_what_is_not_media() {
        let (jpeg, _) = file("image/sample-1.jpg").unwrap();
        let (video, _) = file("video-remix/sample-1/video.mp4").unwrap();
        assert_eq!(jpeg_size(video), None);
        assert_eq!(mp4(jpeg), None);
        assert_eq!(jpeg_size(&jpeg[..jpeg.len() - 1]), None);
        assert_eq!(mp4(&video[..video.len() / 2]), None);
        assert_eq!(jpeg_size(b""), None);
        assert_eq!(mp4(b""), None);
    }

    #[test]
    fn every_file_differs_from_every_other() {
        let files: Vec<(&str, &[u8])> = paths().map(|p| (p, file(p).unwrap().0)).collect();
        for (i, (a, a_bytes)) in files.iter().enumerate() {
            for (b, b_bytes) in &files[i + 1..] {
                assert_ne!(a_bytes, b_bytes, "{a} and {b} are the same file");
            }
        }
        // in particular the three samples of each format
        for f in Format::ALL {
            for (x, y) in [(1, 2), (1, 3), (2, 3)] {
                for (a, b) in assets(f, x).iter().zip(assets(f, y)) {
                    assert_ne!(file(a.path).unwrap().0, file(b.path).unwrap().0);
                }
            }
        }
    }

    #[test]
    fn file_serves_catalog_paths_only() {
        let (bytes, content_type) = file("slideshow/sample-2/slide-3.jpg").unwrap();
        assert_eq!(content_type, "image/jpeg");
        assert_eq!(&bytes[..2], [0xFF, 0xD8]);
        assert_eq!(
            file("ugc-creative/sample-3/video.mp4").unwrap().1,
            "video/mp4"
        );
        for bad in [
            "",
            "/",
            "slideshow",
            "slideshow/",
            "slideshow/sample-1",
            "slideshow/sample-1/",
            "slideshow/sample-4/slide-1.jpg",
            "slideshow/sample-1/slide-6.jpg",
            "slideshow/sample-0/slide-1.jpg",
            "image/sample-4.jpg",
            "video-remix/sample-4/video.mp4",
            "../slideshow/sample-1/slide-1.jpg",
            "slideshow/../image/sample-1.jpg",
            "slideshow/sample-1/../sample-2/slide-1.jpg",
            "./image/sample-1.jpg",
            "/image/sample-1.jpg",
            "image/sample-1.jpg/",
            "image//sample-1.jpg",
            "IMAGE/sample-1.jpg",
            "image/sample-1.JPG",
            "image/sample-1.jpg?x=1",
            "image/sample-1.jpg\0",
            "image%2Fsample-1.jpg",
            "sandbox/image/sample-1.jpg",
            "../../Cargo.toml",
            "../src/lib.rs",
        ] {
            assert!(file(bad).is_none(), "{bad:?} served");
        }
    }

    #[test]
    fn urls() {
        let want = "https://media.layers.com/sandbox/slideshow/sample-1/slide-1.jpg";
        for base in [
            "https://media.layers.com",
            "https://media.layers.com/",
            "https://media.layers.com//",
        ] {
            assert_eq!(url(base, "slideshow/sample-1/slide-1.jpg"), want);
        }
        assert_eq!(
            url("http://127.0.0.1:8080/media", "image/sample-2.jpg"),
            "http://127.0.0.1:8080/media/sandbox/image/sample-2.jpg"
        );
    }

    #[test]
    fn sample_for_spreads_variants_over_the_three_samples() {
        let mut firsts = [0; 3];
        for i in 0..3000 {
            let id = format!("cnt_{i:08x}-{}", i * 7919);
            let samples: Vec<u32> = (0..3).map(|v| sample_for(&id, v)).collect();
            let mut sorted = samples.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, [1, 2, 3], "{id}: {samples:?}");
            // consecutive variants take consecutive samples
            assert_eq!(samples[1], samples[0] % 3 + 1, "{id}");
            // a single container's sample is FNV-1a(id) mod 3 + 1
            assert_eq!(samples[0], fnv1a(&id) % 3 + 1);
            // deterministic
            assert_eq!(sample_for(&id, 0), samples[0]);
            assert_eq!(sample_for(&id.clone(), 2), samples[2]);
            firsts[samples[0] as usize - 1] += 1;
        }
        // different ids spread across the catalog
        assert!(firsts.iter().all(|&c| c > 800), "{firsts:?}");
    }

    #[test]
    fn sample_for_does_not_overflow() {
        // fnv1a("a") = 0xe40c292c; near u32::MAX the sum must not wrap
        let id = "a";
        let h = u64::from(fnv1a(id));
        assert_eq!(
            sample_for(id, u32::MAX),
            ((h + u64::from(u32::MAX)) % 3) as u32 + 1
        );
        assert_eq!(
            regeneration_sample(id, u32::MAX),
            ((h + u64::from(u32::MAX)) % 3) as u32 + 1
        );
        // by hand: 0xe40c292c = 3826002220, mod 3 = 1
        assert_eq!(sample_for(id, 0), 2);
        assert_eq!(sample_for(id, 1), 3);
        assert_eq!(sample_for(id, 2), 1);
    }

    #[test]
    fn regeneration_moves_to_the_next_sample() {
        let id = "cnt_5f0c7a2e-6f0e-4b0a-9c1d-2a3b4c5d6e7f";
        let first = sample_for(id, 0);
        for n in 1..10 {
            let s = regeneration_sample(id, n);
            assert_eq!(s, (fnv1a(id) % 3 + n % 3) % 3 + 1, "n = {n}");
            assert_ne!(
                regeneration_sample(id, n),
                regeneration_sample(id, n - 1),
                "n = {n}"
            );
            assert_eq!(regeneration_sample(id, n), regeneration_sample(id, n));
        }
        assert_eq!(regeneration_sample(id, 3), first);
    }
}
