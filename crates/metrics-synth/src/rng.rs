//! The two deterministic primitives of the sandbox fakes (CONTRACT §8): the 32-bit FNV-1a hash of
//! a string and the mulberry32 generator, both bit for bit as their usual JavaScript versions.

/// The FNV-1a offset basis: the hash of the empty string.
pub const FNV_OFFSET_BASIS: u32 = 2_166_136_261;

/// 32-bit FNV-1a over the UTF-8 bytes of `s` (offset basis 2166136261, prime 16777619).
pub fn fnv1a(s: &str) -> u32 {
    fnv1a_extend(FNV_OFFSET_BASIS, s.as_bytes())
}

/// Carries on hashing `bytes` from `hash`, the FNV-1a of what came before them: FNV-1a has no
/// finishing step, so `fnv1a_extend(fnv1a(a), b) == fnv1a(a + b)`.
pub fn fnv1a_extend(hash: u32, bytes: &[u8]) -> u32 {
    bytes.iter().fold(hash, |hash, &byte| {
        (hash ^ u32::from(byte)).wrapping_mul(16_777_619)
    })
}

/// mulberry32, Tommy Ettinger's 32-bit generator, as the widely published JavaScript:
///
/// ```js
/// var t = a += 0x6D2B79F5;
/// t = Math.imul(t ^ t >>> 15, t | 1);
/// t ^= t + Math.imul(t ^ t >>> 7, t | 61);
/// return ((t ^ t >>> 14) >>> 0) / 4294967296;
/// ```
///
/// [`next_u32`](Mulberry32::next_u32) is the value before the division,
/// [`next_f64`](Mulberry32::next_f64) the value after it, so both match the JavaScript exactly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mulberry32 {
    state: u32,
}

impl Mulberry32 {
    pub fn new(seed: u32) -> Mulberry32 {
        Mulberry32 { state: seed }
    }

    /// The next 32 bits.
    pub fn next_u32(&mut self) -> u32 {
        self.state = self.state.wrapping_add(0x6D2B_79F5);
        let mut t = self.state;
        t = (t ^ (t >> 15)).wrapping_mul(t | 1);
        t ^= t.wrapping_add((t ^ (t >> 7)).wrapping_mul(t | 61));
        t ^ (t >> 14)
    }

    /// The next number in [0, 1): `next_u32() / 2^32` (exact: a u32 fits an f64's mantissa).
    pub fn next_f64(&mut self) -> f64 {
        f64::from(self.next_u32()) / 4_294_967_296.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_reference_vectors() {
        assert_eq!(fnv1a(""), 0x811c_9dc5);
        assert_eq!(fnv1a("a"), 0xe40c_292c);
        assert_eq!(fnv1a("foobar"), 0xbf9c_f968);
        // UTF-8 bytes, not UTF-16 code units or chars (computed with Node's Buffer.from(s, "utf8")).
        assert_eq!(fnv1a("é"), 0x1e9d_e8c1);
        assert_eq!(fnv1a("sb_post_cnt_x_0"), 0x3727_f893);
    }

    /// The first five outputs for seeds 0, 1 and 42, printed by running the published JavaScript
    /// (above) with Node 20 (`node -e`), `next_u32` being the output times 2^32.
    const VECTORS: [(u32, [u32; 5]); 3] = [
        (
            0,
            [
                0x4434_b462,
                0x0015_9c37,
                0x3928_5b08,
                0x256d_8104,
                0x77a2_cbd4,
            ],
        ),
        (
            1,
            [
                0xa087_eaf3,
                0x00b3_49c9,
                0x8706_c4eb,
                0xfb26_27fd,
                0xf7e7_9d2b,
            ],
        ),
        (
            42,
            [
                0x99e1_ef7c,
                0x72c3_2b8a,
                0xda3b_32c0,
                0xab73_b0ad,
                0x2cc0_9a8a,
            ],
        ),
    ];

    #[test]
    fn mulberry32_reference_vectors() {
        for (seed, expected) in VECTORS {
            let mut rng = Mulberry32::new(seed);
            let got: Vec<u32> = (0..5).map(|_| rng.next_u32()).collect();
            assert_eq!(got, expected, "seed {seed}");
        }
    }

    #[test]
    fn mulberry32_floats_match_the_javascript() {
        // Node printed these with `console.log` (shortest round-trip decimal, as Rust's `{}`).
        let mut rng = Mulberry32::new(0);
        assert_eq!(rng.next_f64(), 0.266_429_208_684_712_65);
        assert_eq!(rng.next_f64(), 0.000_329_745_700_582_861_9);
        let mut rng = Mulberry32::new(42);
        assert_eq!(rng.next_f64(), 0.601_103_751_920_163_6);
        assert_eq!(rng.next_f64(), 0.448_290_558_997_541_67);
        let mut rng = Mulberry32::new(1);
        assert_eq!(rng.next_f64(), 0.627_073_940_588_161_3);
    }

    #[test]
    fn floats_stay_below_one() {
        // The largest u32 maps just below 1.
        assert!(f64::from(u32::MAX) / 4_294_967_296.0 < 1.0);
        let mut rng = Mulberry32::new(7);
        assert!((0..10_000).all(|_| (0.0..1.0).contains(&rng.next_f64())));
    }
}
