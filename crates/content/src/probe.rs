//! Media probing for live uploads (CONTRACT §11 "Uploads"): the declared type must be accepted,
//! the first bytes decide the real type, and images and videos tell their dimensions. Pure: no
//! I/O, the caller hands in the file's first [`HEAD_BYTES`] (or the whole file if smaller).

use std::fmt;

/// How many leading bytes of a file [`probe`] wants. A `head` shorter than this is taken as the
/// whole file; one this long or longer may be the start of a larger file.
pub const HEAD_BYTES: usize = 64 * 1024;

/// The content types live uploads accept (CONTRACT §11 "Uploads").
pub const ACCEPTED: [&str; 5] = [
    "image/jpeg",
    "image/png",
    "image/webp",
    "video/mp4",
    "video/quicktime",
];

/// The most characters of partner input a [`Rejection`] message repeats.
const ECHO_CHARS: usize = 64;

/// Whether an accepted file is a still image or a video.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Image,
    Video,
}

impl MediaKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Image => "image",
            MediaKind::Video => "video",
        }
    }

    /// The kind of an accepted content type (`None` for anything else).
    fn of(content_type: &str) -> Option<MediaKind> {
        match content_type {
            "image/jpeg" | "image/png" | "image/webp" => Some(MediaKind::Image),
            "video/mp4" | "video/quicktime" => Some(MediaKind::Video),
            _ => None,
        }
    }
}

/// Why a file is refused: the `reason` of 422 `MEDIA_REJECTED` (CONTRACT §4) and a message fit
/// for the partner. The strings are details that go into the message; any partner input in them
/// is cut to 64 characters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Larger than `LAYERS_UPLOAD_MAX_BYTES`.
    TooLarge { max_bytes: u64 },
    /// Declared or sniffed as a type outside [`ACCEPTED`], or bytes that contradict the
    /// declared type.
    UnsupportedType(String),
    /// Bytes that are truncated or garbage for the type they start as.
    Unreadable(String),
}

impl Rejection {
    /// `too_large`, `unsupported_type` or `unreadable`.
    pub fn reason(&self) -> &'static str {
        match self {
            Rejection::TooLarge { .. } => "too_large",
            Rejection::UnsupportedType(_) => "unsupported_type",
            Rejection::Unreadable(_) => "unreadable",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::TooLarge { max_bytes } => {
                write!(f, "the file is larger than the limit of {max_bytes} bytes")
            }
            Rejection::UnsupportedType(detail) => write!(
                f,
                "unsupported media type: {detail} (accepted: {})",
                ACCEPTED.join(", ")
            ),
            Rejection::Unreadable(detail) => write!(f, "the file is not readable media: {detail}"),
        }
    }
}

impl std::error::Error for Rejection {}

/// What [`probe`] found: the type the bytes really are, and the dimensions in pixels when the
/// head holds them (a video whose `moov` box comes after the head has none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    pub kind: MediaKind,
    /// One of [`ACCEPTED`].
    pub content_type: &'static str,
    pub width: Option<u32>,
    pub height: Option<u32>,
}

/// Partner input as a message may repeat it: at most 64 characters, control characters
/// replaced.
fn echo(input: &str) -> String {
    let mut out: String = input
        .chars()
        .take(ECHO_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if input.chars().nth(ECHO_CHARS).is_some() {
        out.push('…');
    }
    out
}

/// The accepted type `content_type` names, parameters (`; charset=…`) and case ignored.
fn accepted(content_type: &str) -> Result<&'static str, Rejection> {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    ACCEPTED
        .iter()
        .copied()
        .find(|&t| t == essence)
        .ok_or_else(|| {
            Rejection::UnsupportedType(if essence.is_empty() {
                "no content type declared".to_owned()
            } else {
                format!("declared {}", echo(&essence))
            })
        })
}

/// The kind of a declared content type, which must be one of [`ACCEPTED`] (parameters such as
/// `; charset=…` and case are ignored).
pub fn check_declared(content_type: &str) -> Result<MediaKind, Rejection> {
    accepted(content_type).map(|t| MediaKind::of(t).expect("every accepted type has a kind"))
}

/// Sniffs what `head` really is and reads its dimensions.
///
/// `head` is the file's first [`HEAD_BYTES`] or more, or the whole file when it is smaller (a
/// shorter `head` is taken as the whole file). Refused: a type outside [`ACCEPTED`] or not
/// recognised at all, a `declared` type that is not accepted or that the bytes contradict
/// (`unsupported_type`); bytes that are truncated or garbage for their type (`unreadable`).
/// Dimensions that lie beyond a partial head (a JPEG frame header after 64 KiB of metadata, a
/// video whose `moov` box is at the end) are `None`.
pub fn probe(head: &[u8], declared: Option<&str>) -> Result<Probe, Rejection> {
    let declared = declared.map(accepted).transpose()?;
    if head.is_empty() {
        return Err(Rejection::Unreadable("the file is empty".to_owned()));
    }
    let sniffed = infer::get(head).map(|t| t.mime_type()).ok_or_else(|| {
        Rejection::UnsupportedType("the bytes are not a recognised image or video".to_owned())
    })?;
    let Some(content_type) = ACCEPTED.iter().copied().find(|&t| t == sniffed) else {
        return Err(Rejection::UnsupportedType(format!(
            "the bytes are {}",
            echo(sniffed)
        )));
    };
    if let Some(declared) = declared {
        if declared != content_type {
            return Err(Rejection::UnsupportedType(format!(
                "declared {declared} but the bytes are {content_type}"
            )));
        }
    }
    let whole = head.len() < HEAD_BYTES;
    let kind = MediaKind::of(content_type).expect("every accepted type has a kind");
    let size = match kind {
        MediaKind::Image => image_size(head, content_type, whole)?,
        MediaKind::Video => video_size(head, whole)?,
    };
    Ok(Probe {
        kind,
        content_type,
        width: size.map(|(w, _)| w),
        height: size.map(|(_, h)| h),
    })
}

/// Width and height of a JPEG, PNG or WebP; `None` when they lie beyond a partial head.
fn image_size(
    head: &[u8],
    content_type: &str,
    whole: bool,
) -> Result<Option<(u32, u32)>, Rejection> {
    let unreadable =
        || Rejection::Unreadable(format!("the bytes are not a readable {content_type}"));
    let expected = match content_type {
        "image/jpeg" => imagesize::ImageType::Jpeg,
        "image/png" => imagesize::ImageType::Png,
        _ => imagesize::ImageType::Webp,
    };
    if imagesize::image_type(head).ok() != Some(expected) {
        return Err(unreadable());
    }
    let size = match imagesize::blob_size(head) {
        Ok(size) => size,
        Err(imagesize::ImageError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            return if whole {
                Err(Rejection::Unreadable(format!(
                    "the {content_type} is truncated before its dimensions"
                )))
            } else {
                Ok(None)
            };
        }
        Err(_) => return Err(unreadable()),
    };
    let (mut width, mut height) = (size.width, size.height);
    if head.get(12..16) == Some(b"VP8 ") {
        // a lossy WebP's 16-bit fields carry 2 bits of upscaling hint above the 14-bit size
        (width, height) = (width & 0x3FFF, height & 0x3FFF);
    }
    match (u32::try_from(width), u32::try_from(height)) {
        (Ok(w), Ok(h)) if w > 0 && h > 0 => Ok(Some((w, h))),
        _ => Err(unreadable()),
    }
}

/// One ISO BMFF box: its type, and as much of its body as the head holds.
struct Mp4Box<'a> {
    kind: [u8; 4],
    body: &'a [u8],
    /// The body is all there (not cut off by the end of the head).
    whole: bool,
}

/// The boxes directly inside `data`. With `whole`, `data` must hold every box entirely; without,
/// the last box may be cut off (and is then returned with `whole: false`). `Err` for a box
/// structure that makes no sense.
fn boxes(mut data: &[u8], whole: bool) -> Result<Vec<Mp4Box<'_>>, ()> {
    let mut out = Vec::new();
    while !data.is_empty() {
        let Some(header) = data.get(..8) else {
            return if whole { Err(()) } else { Ok(out) };
        };
        let size32 = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let kind = [header[4], header[5], header[6], header[7]];
        let (header_len, size) = match size32 {
            // to the end of the enclosing data
            0 => (8, None),
            1 => match data.get(8..16) {
                Some(large) => {
                    let large = u64::from_be_bytes(large.try_into().map_err(|_| ())?);
                    (16, Some(large))
                }
                None if whole => return Err(()),
                None => return Ok(out),
            },
            n => (8, Some(u64::from(n))),
        };
        if size.is_some_and(|s| s < header_len as u64) {
            return Err(());
        }
        match size {
            Some(size) if size <= data.len() as u64 => {
                let size = size as usize;
                out.push(Mp4Box {
                    kind,
                    body: &data[header_len..size],
                    whole: true,
                });
                data = &data[size..];
            }
            _ => {
                // to the end of `data` (size 0), or beyond it: cut off by the end of the head
                if whole && size.is_some() {
                    return Err(());
                }
                out.push(Mp4Box {
                    kind,
                    body: &data[header_len..],
                    whole,
                });
                break;
            }
        }
    }
    Ok(out)
}

fn child<'a>(parent: &Mp4Box<'a>, kind: &[u8; 4]) -> Option<Mp4Box<'a>> {
    boxes(parent.body, parent.whole)
        .ok()?
        .into_iter()
        .find(|b| &b.kind == kind)
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// A track's presentation size from its `tkhd` (16.16 fixed point, integer part), swapped when
/// its matrix turns the picture by 90° or 270° (portrait phone video); `None` when the box is
/// cut off or of an unknown version.
fn tkhd_size(tkhd: &[u8]) -> Option<(u32, u32)> {
    // version/flags(4), creation/modification time, track id, reserved, duration (20 or 32),
    // reserved(8), layer, alternate group, volume, reserved (2 each), matrix(36), width, height
    let matrix =
        4 + match tkhd.first()? {
            0 => 20,
            1 => 32,
            _ => return None,
        } + 8
            + 8;
    let width = be32(tkhd, matrix + 36)? >> 16;
    let height = be32(tkhd, matrix + 40)? >> 16;
    // matrix {a b u, c d v, x y w}: a quarter turn has a = d = 0
    let (a, b, c, d) = (
        be32(tkhd, matrix)?,
        be32(tkhd, matrix + 4)?,
        be32(tkhd, matrix + 12)?,
        be32(tkhd, matrix + 16)?,
    );
    Some(if a == 0 && d == 0 && b != 0 && c != 0 {
        (height, width)
    } else {
        (width, height)
    })
}

/// Width and height of an MP4 or QuickTime file's video track; `None` when its `moov` box (or
/// the video track inside it) lies beyond a partial head.
fn video_size(head: &[u8], whole: bool) -> Result<Option<(u32, u32)>, Rejection> {
    let unreadable = |why: &str| Rejection::Unreadable(format!("the video {why}"));
    let top = boxes(head, whole).map_err(|()| unreadable("is truncated or malformed"))?;
    let Some(moov) = top.into_iter().find(|b| &b.kind == b"moov") else {
        return if whole {
            Err(unreadable("has no moov box"))
        } else {
            Ok(None)
        };
    };
    let traks = boxes(moov.body, moov.whole)
        .map_err(|()| unreadable("has a malformed moov box"))?
        .into_iter()
        .filter(|b| &b.kind == b"trak");
    let mut unlabelled = None;
    for trak in traks {
        let handler = child(&trak, b"mdia")
            .and_then(|mdia| child(&mdia, b"hdlr"))
            .and_then(|hdlr| hdlr.body.get(8..12).map(|h| [h[0], h[1], h[2], h[3]]));
        let size = child(&trak, b"tkhd").and_then(|tkhd| tkhd_size(tkhd.body));
        match (handler, size) {
            (Some(h), _) if &h != b"vide" => {}
            (Some(_), Some((w, h))) if w > 0 && h > 0 => return Ok(Some((w, h))),
            (Some(_), Some(_)) => return Err(unreadable("track has no picture size")),
            (Some(_), None) if trak.whole => return Err(unreadable("track has no readable size")),
            (Some(_), None) => return Ok(None),
            // the handler is past the head: a track with a picture size is taken as the video
            (None, Some((w, h))) if w > 0 && h > 0 => {
                unlabelled.get_or_insert((w, h));
            }
            (None, _) => {}
        }
    }
    match unlabelled {
        Some(size) => Ok(Some(size)),
        None if moov.whole => Err(Rejection::UnsupportedType(
            "the file has no video track".to_owned(),
        )),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(path: &str) -> &'static [u8] {
        crate::file(path).expect("a catalog fixture").0
    }

    fn head(bytes: &[u8]) -> &[u8] {
        &bytes[..bytes.len().min(HEAD_BYTES)]
    }

    fn size(p: &Probe) -> (Option<u32>, Option<u32>) {
        (p.width, p.height)
    }

    /// The detail a rejection carries, after checking its reason.
    fn refused(r: Result<Probe, Rejection>, reason: &str) -> String {
        let e = r.expect_err("refused");
        assert_eq!(e.reason(), reason, "{e}");
        e.to_string()
    }

    // ---- ISO BMFF builders

    fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = u32::try_from(8 + body.len())
            .unwrap()
            .to_be_bytes()
            .to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }

    fn ftyp(brand: &[u8; 4]) -> Vec<u8> {
        bx(b"ftyp", &[&brand[..], &[0, 0, 2, 0], &brand[..]].concat())
    }

    const IDENTITY: [u32; 9] = [0x1_0000, 0, 0, 0, 0x1_0000, 0, 0, 0, 0x4000_0000];
    const QUARTER_TURN: [u32; 9] = [0, 0x1_0000, 0, 0xFFFF_0000, 0, 0, 0, 0, 0x4000_0000];

    fn tkhd(version: u8, matrix: [u32; 9], width: u32, height: u32) -> Vec<u8> {
        let mut body = vec![version, 0, 0, 3];
        body.extend(vec![0xAB; if version == 1 { 32 } else { 20 }]);
        body.extend([0; 8 + 8]);
        body.extend(matrix.iter().flat_map(|m| m.to_be_bytes()));
        body.extend((width << 16).to_be_bytes());
        body.extend((height << 16).to_be_bytes());
        bx(b"tkhd", &body)
    }

    fn trak(tkhd: Vec<u8>, handler: &[u8; 4]) -> Vec<u8> {
        let hdlr = bx(
            b"hdlr",
            &[&[0u8; 8][..], handler, &[0; 12], b"h\0"].concat(),
        );
        bx(b"trak", &[tkhd, bx(b"mdia", &hdlr)].concat())
    }

    fn movie(brand: &[u8; 4], traks: &[Vec<u8>]) -> Vec<u8> {
        let mvhd = bx(b"mvhd", &[0; 100]);
        let moov = bx(b"moov", &[mvhd, traks.concat()].concat());
        [ftyp(brand), moov, bx(b"mdat", &[0x55; 64])].concat()
    }

    /// `file`'s top-level boxes, whole.
    fn top_level(file: &[u8]) -> Vec<(&[u8; 4], &[u8])> {
        let mut out = Vec::new();
        let mut rest = file;
        while !rest.is_empty() {
            let size = be32(rest, 0).unwrap() as usize;
            assert!(size >= 8, "a 32-bit box size");
            out.push((rest[4..8].try_into().unwrap(), &rest[..size]));
            rest = &rest[size..];
        }
        out
    }

    // ---- images

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &b in bytes {
            crc ^= u32::from(b);
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }

    fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut out = u32::try_from(data.len()).unwrap().to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(data);
        out.extend(crc32(&[&kind[..], data].concat()).to_be_bytes());
        out
    }

    /// A PNG signature, IHDR (8-bit RGB) and IEND.
    fn png(width: u32, height: u32) -> Vec<u8> {
        let ihdr = [
            &width.to_be_bytes()[..],
            &height.to_be_bytes(),
            &[8, 2, 0, 0, 0],
        ]
        .concat();
        [
            &b"\x89PNG\r\n\x1a\n"[..],
            &png_chunk(b"IHDR", &ihdr),
            &png_chunk(b"IEND", &[]),
        ]
        .concat()
    }

    fn riff_webp(chunk: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut body = b"WEBP".to_vec();
        body.extend_from_slice(chunk);
        body.extend(u32::try_from(data.len()).unwrap().to_le_bytes());
        body.extend_from_slice(data);
        let mut out = b"RIFF".to_vec();
        out.extend(u32::try_from(body.len()).unwrap().to_le_bytes());
        out.extend(body);
        out
    }

    fn le24(v: u32) -> [u8; 3] {
        let b = v.to_le_bytes();
        [b[0], b[1], b[2]]
    }

    /// An extended WebP (VP8X): flags, then canvas width - 1 and height - 1 in 24 bits.
    fn webp_vp8x(width: u32, height: u32) -> Vec<u8> {
        let data = [&[0u8; 4][..], &le24(width - 1), &le24(height - 1)].concat();
        riff_webp(b"VP8X", &data)
    }

    /// A lossless WebP (VP8L): signature 0x2F, then width - 1 and height - 1 in 14 bits each.
    fn webp_vp8l(width: u32, height: u32) -> Vec<u8> {
        let bits = (width - 1) | ((height - 1) << 14);
        riff_webp(
            b"VP8L",
            &[&[0x2F][..], &bits.to_le_bytes(), &[0; 8]].concat(),
        )
    }

    /// A lossy WebP (VP8): frame tag, start code, then 14-bit sizes with a 2-bit scale above.
    fn webp_vp8(width: u16, height: u16, scale: u16) -> Vec<u8> {
        let data = [
            &[0x50, 0x02, 0x00, 0x9D, 0x01, 0x2A][..],
            &(width | scale << 14).to_le_bytes(),
            &(height | scale << 14).to_le_bytes(),
            &[0; 8],
        ]
        .concat();
        riff_webp(b"VP8 ", &data)
    }

    /// Where the fixture JPEG's first SOF0..SOF2 marker starts.
    fn sof_offset(jpeg: &[u8]) -> usize {
        jpeg.windows(2)
            .position(|w| w[0] == 0xFF && (0xC0..=0xC2).contains(&w[1]))
            .expect("a frame header")
    }

    #[test]
    fn fixture_jpeg_is_a_1080_by_1920_image() {
        let jpeg = fixture("image/sample-1.jpg");
        for bytes in [head(jpeg), jpeg] {
            for declared in [None, Some("image/jpeg"), Some("Image/JPEG; charset=binary")] {
                let p = probe(bytes, declared).unwrap();
                assert_eq!(p.kind, MediaKind::Image);
                assert_eq!(p.content_type, "image/jpeg");
                assert_eq!(size(&p), (Some(1080), Some(1920)));
            }
        }
    }

    #[test]
    fn fixture_mp4_is_a_1080_by_1920_video() {
        let mp4 = fixture("video-remix/sample-1/video.mp4");
        assert!(mp4.len() > HEAD_BYTES, "the test needs a partial head");
        for bytes in [head(mp4), mp4] {
            for declared in [None, Some("video/mp4")] {
                let p = probe(bytes, declared).unwrap();
                assert_eq!(p.kind, MediaKind::Video);
                assert_eq!(p.content_type, "video/mp4");
                assert_eq!(size(&p), (Some(1080), Some(1920)));
            }
        }
    }

    #[test]
    fn moov_at_the_end_has_no_size_in_the_head_but_one_in_the_whole_file() {
        let mp4 = fixture("video-remix/sample-1/video.mp4");
        let top = top_level(mp4);
        let moov = top.iter().find(|(k, _)| *k == b"moov").unwrap().1;
        let others: Vec<u8> = top
            .iter()
            .filter(|(k, _)| *k != b"moov")
            .flat_map(|(_, b)| b.iter().copied())
            .collect();
        let moved = [&others[..], moov].concat();
        assert_eq!(moved.len(), mp4.len());

        let p = probe(head(&moved), Some("video/mp4")).unwrap();
        assert_eq!((p.kind, p.content_type), (MediaKind::Video, "video/mp4"));
        assert_eq!(size(&p), (None, None));
        let p = probe(&moved, None).unwrap();
        assert_eq!(size(&p), (Some(1080), Some(1920)));

        // the whole file with no moov at all
        let small = [ftyp(b"isom"), bx(b"mdat", &[1; 100])].concat();
        assert!(refused(probe(&small, None), "unreadable").contains("moov"));
        // a whole file whose mdat claims more bytes than there are, though its moov is fine
        let mut cut = movie(b"isom", &[trak(tkhd(0, IDENTITY, 640, 360), b"vide")]);
        assert!(probe(&cut, None).is_ok());
        cut.truncate(cut.len() - 10);
        assert!(refused(probe(&cut, None), "unreadable").contains("truncated"));
        // a box shorter than its own header
        let garbage = [ftyp(b"isom"), vec![0, 0, 0, 3, b'f', b'r', b'e', b'e']].concat();
        refused(probe(&garbage, None), "unreadable");
    }

    #[test]
    fn tkhd_versions_rotation_and_tracks() {
        let file = movie(b"isom", &[trak(tkhd(0, IDENTITY, 640, 360), b"vide")]);
        let p = probe(&file, None).unwrap();
        assert_eq!(
            (p.content_type, size(&p)),
            ("video/mp4", (Some(640), Some(360)))
        );

        let file = movie(b"mp42", &[trak(tkhd(1, IDENTITY, 720, 1280), b"vide")]);
        assert_eq!(size(&probe(&file, None).unwrap()), (Some(720), Some(1280)));

        // a phone's portrait video: stored 1920x1080, turned a quarter by the matrix
        let file = movie(b"isom", &[trak(tkhd(0, QUARTER_TURN, 1920, 1080), b"vide")]);
        assert_eq!(size(&probe(&file, None).unwrap()), (Some(1080), Some(1920)));

        // the audio track comes first, and its tkhd says 0x0
        let file = movie(
            b"qt  ",
            &[
                trak(tkhd(0, IDENTITY, 0, 0), b"soun"),
                trak(tkhd(1, IDENTITY, 1080, 1920), b"vide"),
            ],
        );
        let p = probe(&file, Some("video/quicktime")).unwrap();
        assert_eq!(p.kind, MediaKind::Video);
        assert_eq!(p.content_type, "video/quicktime");
        assert_eq!(size(&p), (Some(1080), Some(1920)));

        // only sound: not a video
        let file = movie(b"isom", &[trak(tkhd(0, IDENTITY, 0, 0), b"soun")]);
        let msg = refused(probe(&file, None), "unsupported_type");
        assert!(msg.contains("no video track"), "{msg}");
        // a video track without a size
        let file = movie(b"isom", &[trak(tkhd(0, IDENTITY, 0, 0), b"vide")]);
        refused(probe(&file, None), "unreadable");
        // a tkhd of an unknown version
        let file = movie(b"isom", &[trak(tkhd(7, IDENTITY, 640, 360), b"vide")]);
        refused(probe(&file, None), "unreadable");
    }

    /// ftyp, a moov holding a `free` box of `free_len` bytes and then `traks`, and an mdat that
    /// makes the file longer than a head.
    fn padded_movie(free_len: usize, traks: &[Vec<u8>]) -> Vec<u8> {
        let moov = bx(
            b"moov",
            &[bx(b"free", &vec![0; free_len]), traks.concat()].concat(),
        );
        [ftyp(b"isom"), moov, bx(b"mdat", &vec![0x55; HEAD_BYTES])].concat()
    }

    #[test]
    fn a_video_track_cut_off_by_the_head() {
        let video = trak(tkhd(0, IDENTITY, 1080, 1920), b"vide");
        let audio = trak(tkhd(0, IDENTITY, 0, 0), b"soun");
        // ftyp(20) moov(8) free(8 + n): the first trak starts at 36 + n; in it, the trak header
        // (8) and tkhd (92) come before mdia and its hdlr
        let trak_at = |n: usize| 36 + n;

        // the tkhd is in the head, the handler is not: the track with a picture size counts
        let n = HEAD_BYTES - 104 - 36;
        assert_eq!(trak_at(n) + 100, HEAD_BYTES - 4);
        let file = padded_movie(n, std::slice::from_ref(&video));
        let p = probe(&file[..HEAD_BYTES], Some("video/mp4")).unwrap();
        assert_eq!(size(&p), (Some(1080), Some(1920)));
        assert_eq!(size(&probe(&file, None).unwrap()), (Some(1080), Some(1920)));

        // the head ends inside the tkhd: no size, and no failure
        let n = HEAD_BYTES - 58 - 36;
        assert_eq!(trak_at(n) + 58, HEAD_BYTES);
        let file = padded_movie(n, std::slice::from_ref(&video));
        assert_eq!(
            size(&probe(&file[..HEAD_BYTES], None).unwrap()),
            (None, None)
        );
        assert_eq!(size(&probe(&file, None).unwrap()), (Some(1080), Some(1920)));

        // a whole sound track, then the video track cut before its tkhd
        let n = HEAD_BYTES - 36 - audio.len() - 20;
        let file = padded_movie(n, &[audio.clone(), video.clone()]);
        assert_eq!(
            size(&probe(&file[..HEAD_BYTES], None).unwrap()),
            (None, None)
        );
        assert_eq!(size(&probe(&file, None).unwrap()), (Some(1080), Some(1920)));

        // cut inside the sound track: its handler is read, so its 0x0 is not taken for a video
        let n = HEAD_BYTES - 36 - audio.len() + 10;
        let file = padded_movie(n, &[audio, video]);
        assert_eq!(
            size(&probe(&file[..HEAD_BYTES], None).unwrap()),
            (None, None)
        );
    }

    #[test]
    fn png_and_webp_dimensions() {
        let p = probe(&png(3, 5), Some("image/png")).unwrap();
        assert_eq!((p.kind, p.content_type), (MediaKind::Image, "image/png"));
        assert_eq!(size(&p), (Some(3), Some(5)));
        assert_eq!(
            size(&probe(&png(70_000, 1), None).unwrap()),
            (Some(70_000), Some(1))
        );

        for (webp, w, h) in [
            (webp_vp8x(1080, 1920), 1080, 1920),
            (webp_vp8l(7, 9), 7, 9),
            (webp_vp8(300, 200, 0), 300, 200),
            (webp_vp8(300, 200, 2), 300, 200),
        ] {
            let p = probe(&webp, Some("image/webp")).unwrap();
            assert_eq!((p.kind, p.content_type), (MediaKind::Image, "image/webp"));
            assert_eq!(size(&p), (Some(w), Some(h)));
        }

        // a zero-sized PNG, and "WEBP" where infer looks but no RIFF around it
        refused(probe(&png(0, 5), None), "unreadable");
        let mut not_riff = webp_vp8x(4, 4);
        not_riff[..4].copy_from_slice(b"JUNK");
        refused(probe(&not_riff, None), "unreadable");
    }

    #[test]
    fn a_declared_type_the_bytes_contradict_is_refused() {
        let jpeg = head(fixture("image/sample-1.jpg"));
        let msg = refused(probe(jpeg, Some("image/png")), "unsupported_type");
        assert!(msg.contains("the bytes are image/jpeg"), "{msg}");
        assert!(msg.contains("declared image/png"), "{msg}");
        refused(probe(jpeg, Some("video/mp4")), "unsupported_type");

        let mp4 = head(fixture("video-remix/sample-1/video.mp4"));
        let msg = refused(probe(mp4, Some("video/quicktime")), "unsupported_type");
        assert!(msg.contains("the bytes are video/mp4"), "{msg}");
        refused(probe(&png(1, 1), Some("image/webp")), "unsupported_type");

        // a declared type outside the list is refused before the bytes are looked at
        let msg = refused(probe(jpeg, Some("image/gif")), "unsupported_type");
        assert!(msg.contains("declared image/gif"), "{msg}");
    }

    #[test]
    fn other_types_are_refused_by_name() {
        let gif = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01";
        let msg = refused(probe(gif, None), "unsupported_type");
        assert!(msg.contains("the bytes are image/gif"), "{msg}");
        assert!(msg.contains("image/jpeg, image/png"), "{msg}");
        refused(probe(gif, Some("image/jpeg")), "unsupported_type");

        let text = b"hello, this is a caption and not a picture\n";
        let msg = refused(probe(text, None), "unsupported_type");
        assert!(msg.contains("not a recognised image or video"), "{msg}");
        refused(probe(text, Some("image/jpeg")), "unsupported_type");
        let html = b"<!DOCTYPE html><html><body>no</body></html>";
        let msg = refused(probe(html, Some("image/png")), "unsupported_type");
        assert!(msg.contains("text/html"), "{msg}");

        let heic = [ftyp(b"heic"), bx(b"meta", &[0; 32])].concat();
        assert!(refused(probe(&heic, None), "unsupported_type").contains("image/heif"));

        refused(probe(&[], None), "unreadable");
    }

    #[test]
    fn truncated_and_garbage_jpegs_are_unreadable() {
        let jpeg = fixture("image/sample-1.jpg");
        let sof = sof_offset(jpeg);
        assert!(sof > 20 && sof < HEAD_BYTES);
        // the whole file, cut before its frame header
        let msg = refused(probe(&jpeg[..sof], Some("image/jpeg")), "unreadable");
        assert!(msg.contains("truncated"), "{msg}");
        refused(probe(&jpeg[..sof + 4], None), "unreadable");
        refused(probe(&jpeg[..3], None), "unreadable");
        // a marker segment followed by bytes that are no marker
        let garbage = [&jpeg[..sof], &[0x12; 64][..]].concat();
        refused(probe(&garbage, None), "unreadable");
    }

    #[test]
    fn a_jpeg_frame_header_beyond_a_partial_head_gives_no_size() {
        let jpeg = fixture("image/sample-1.jpg");
        let sof = sof_offset(jpeg);
        // two maximal APP1 segments push the frame header past 64 KiB
        let app1 = [&[0xFF, 0xE1, 0xFF, 0xFF][..], &[0u8; 0xFFFF - 2]].concat();
        let big = [&jpeg[..sof], &app1, &app1, &jpeg[sof..]].concat();
        let p = probe(head(&big), Some("image/jpeg")).unwrap();
        assert_eq!((p.kind, size(&p)), (MediaKind::Image, (None, None)));
        assert_eq!(size(&probe(&big, None).unwrap()), (Some(1080), Some(1920)));
    }

    #[test]
    fn declared_types() {
        for (declared, kind) in [
            ("image/jpeg", MediaKind::Image),
            ("IMAGE/JPEG; q=1", MediaKind::Image),
            ("image/png", MediaKind::Image),
            (" image/webp ", MediaKind::Image),
            ("video/mp4;codecs=\"avc1.640028\"", MediaKind::Video),
            ("Video/QuickTime", MediaKind::Video),
        ] {
            assert_eq!(check_declared(declared), Ok(kind), "{declared}");
        }
        for declared in [
            "image/gif",
            "image/jpg",
            "image/jpeg2",
            "jpeg",
            "image/ jpeg",
            "",
            "; image/jpeg",
            "video/x-m4v",
            "application/octet-stream",
        ] {
            let e = check_declared(declared).expect_err(declared);
            assert_eq!(e.reason(), "unsupported_type", "{declared}");
            assert!(e.to_string().contains("accepted: image/jpeg"), "{e}");
        }
        assert!(check_declared("image/gif")
            .unwrap_err()
            .to_string()
            .contains("declared image/gif"));
        assert_eq!(
            ACCEPTED.map(|t| check_declared(t).unwrap()),
            [
                MediaKind::Image,
                MediaKind::Image,
                MediaKind::Image,
                MediaKind::Video,
                MediaKind::Video
            ]
        );
    }

    #[test]
    fn messages_echo_at_most_64_characters_of_input() {
        let long = format!("image/{}", "x".repeat(500));
        let with_params = format!("{long}; {}", "y".repeat(500));
        for declared in [long.as_str(), with_params.as_str()] {
            for msg in [
                check_declared(declared).unwrap_err().to_string(),
                refused(probe(&png(1, 1), Some(declared)), "unsupported_type"),
            ] {
                assert!(msg.contains(&long[..64]), "{msg}");
                assert!(!msg.contains(&long[..65]), "{msg}");
                assert!(!msg.contains("yy"), "{msg}");
                assert!(msg.len() < 64 + 150, "{msg}");
            }
        }
        // multi-byte characters count as characters, and control characters are not repeated
        let wide = "é".repeat(100);
        let msg = check_declared(&wide).unwrap_err().to_string();
        assert_eq!(msg.matches('é').count(), 64, "{msg}");
        let msg = check_declared("image/gif\u{7}\u{1b}[31m")
            .unwrap_err()
            .to_string();
        assert!(!msg.chars().any(char::is_control), "{msg:?}");
    }

    #[test]
    fn reasons_and_messages() {
        let too_large = Rejection::TooLarge {
            max_bytes: 104_857_600,
        };
        assert_eq!(too_large.reason(), "too_large");
        assert!(too_large.to_string().contains("104857600 bytes"));
        assert_eq!(
            Rejection::UnsupportedType(String::new()).reason(),
            "unsupported_type"
        );
        assert_eq!(Rejection::Unreadable(String::new()).reason(), "unreadable");
        assert_eq!(MediaKind::Image.as_str(), "image");
        assert_eq!(MediaKind::Video.as_str(), "video");
    }
}
