//! Re-implementations of the few Go standard-library behaviours that shape
//! etcdctl's output and error messages: `%q` quoting, `encoding/json` string
//! escaping, `time.Duration` printing and parsing, `strconv.ParseInt` /
//! `ParseBool` (including their error texts) and go-humanize's byte sizes.
//! Everything here works on bytes, because etcd keys and values are not UTF-8.

use std::fmt::Write as _;

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Whether Go's `unicode.IsPrint` holds for `c`. Exact for ASCII and Latin-1;
/// beyond that it rejects controls, spaces other than U+0020, the common
/// format characters, private-use code points and noncharacters (code points
/// that are merely unassigned are treated as printable).
fn is_go_printable(c: char) -> bool {
    let u = c as u32;
    if u < 0x80 {
        return (0x20..0x7f).contains(&u);
    }
    if u < 0xa1 || u == 0xad {
        return false;
    }
    if c.is_whitespace() || c.is_control() {
        return false;
    }
    let format_chars: &[(u32, u32)] = &[
        (0x0600, 0x0605),
        (0x061c, 0x061c),
        (0x06dd, 0x06dd),
        (0x070f, 0x070f),
        (0x08e2, 0x08e2),
        (0x180e, 0x180e),
        (0x200b, 0x200f),
        (0x202a, 0x202e),
        (0x2060, 0x2064),
        (0x2066, 0x206f),
        (0xfeff, 0xfeff),
        (0xfff9, 0xfffb),
        (0x110bd, 0x110bd),
        (0x110cd, 0x110cd),
        (0x13430, 0x13438),
        (0x1bca0, 0x1bca3),
        (0x1d173, 0x1d17a),
        (0xe0001, 0xe0001),
        (0xe0020, 0xe007f),
        // Private use areas.
        (0xe000, 0xf8ff),
        (0xf0000, 0x10ffff),
        // Noncharacters.
        (0xfdd0, 0xfdef),
    ];
    if format_chars.iter().any(|&(lo, hi)| (lo..=hi).contains(&u)) {
        return false;
    }
    (u & 0xfffe) != 0xfffe
}

/// Go's `strconv.Quote` (what `fmt`'s `%q` prints) applied to raw bytes.
pub fn quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                c if is_go_printable(c) => out.push(c),
                '\u{7}' => out.push_str("\\a"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{b}' => out.push_str("\\v"),
                // Go 1.16 (etcdctl 3.5.1's) escapes only C0 controls as \x..;
                // DEL and the rest take the \u form.
                c if (c as u32) < 0x20 => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c if (c as u32) < 0x10000 => {
                    let _ = write!(out, "\\u{:04x}", c as u32);
                }
                c => {
                    let _ = write!(out, "\\U{:08x}", c as u32);
                }
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
    out
}

/// Appends `s` as a JSON string the way Go's `encoding/json` (Go 1.16, HTML
/// escaping on) writes it.
pub fn json_string_into(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for chunk in s.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\t' => out.extend_from_slice(b"\\t"),
                c if (c as u32) < 0x20 || c == '<' || c == '>' || c == '&' => {
                    let b = c as u8;
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX_DIGITS[(b >> 4) as usize]);
                    out.push(HEX_DIGITS[(b & 0xf) as usize]);
                }
                '\u{2028}' => out.extend_from_slice(b"\\u2028"),
                '\u{2029}' => out.extend_from_slice(b"\\u2029"),
                c => {
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        for _ in chunk.invalid() {
            out.extend_from_slice(b"\\ufffd");
        }
    }
    out.push(b'"');
}

/// A Go `time.Duration`: signed nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct GoDuration(pub i64);

impl GoDuration {
    pub const SECOND: i64 = 1_000_000_000;

    pub fn from_std(d: std::time::Duration) -> Self {
        GoDuration(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }

    /// The duration as a std duration; negative durations become zero.
    pub fn to_std(self) -> std::time::Duration {
        std::time::Duration::from_nanos(u64::try_from(self.0).unwrap_or(0))
    }
}

/// Writes `v / 10^prec` as a fraction (".123"), omitting trailing zeros and
/// the dot itself when the fraction is zero. Returns the integer part.
fn fmt_frac(out: &mut String, mut v: u64, prec: usize) -> u64 {
    let mut digits = Vec::with_capacity(prec);
    let mut print = false;
    for _ in 0..prec {
        let digit = v % 10;
        print = print || digit != 0;
        if print {
            digits.push(b'0' + digit as u8);
        }
        v /= 10;
    }
    if print {
        out.push('.');
        out.extend(digits.iter().rev().map(|&d| d as char));
    }
    v
}

impl std::fmt::Display for GoDuration {
    /// Go's `Duration.String()`: "1h2m3.5s", "16.371056ms", "0s".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let neg = self.0 < 0;
        let mut u = self.0.unsigned_abs();
        // Built back to front, then reversed.
        let mut parts: Vec<String> = Vec::new();
        if u < GoDuration::SECOND as u64 {
            if u == 0 {
                return f.write_str("0s");
            }
            let (prec, unit) = if u < 1_000 {
                (0, "ns")
            } else if u < 1_000_000 {
                (3, "µs")
            } else {
                (6, "ms")
            };
            let mut frac = String::new();
            u = fmt_frac(&mut frac, u, prec);
            parts.push(format!("{u}{frac}{unit}"));
        } else {
            let mut frac = String::new();
            u = fmt_frac(&mut frac, u, 9);
            parts.push(format!("{}{frac}s", u % 60));
            u /= 60;
            if u > 0 {
                parts.push(format!("{}m", u % 60));
                u /= 60;
                if u > 0 {
                    parts.push(format!("{u}h"));
                }
            }
        }
        if neg {
            f.write_str("-")?;
        }
        for part in parts.iter().rev() {
            f.write_str(part)?;
        }
        Ok(())
    }
}

/// Go's `time.ParseDuration`, with its error messages.
pub fn parse_duration(orig: &str) -> Result<GoDuration, String> {
    let invalid = || format!("time: invalid duration {}", quote(orig.as_bytes()));
    let mut s = orig.as_bytes();
    let mut neg = false;
    if let Some(&c) = s.first() {
        if c == b'-' || c == b'+' {
            neg = c == b'-';
            s = &s[1..];
        }
    }
    if s == b"0" {
        return Ok(GoDuration(0));
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        if !(s[0] == b'.' || s[0].is_ascii_digit()) {
            return Err(invalid());
        }
        // Integer part.
        let int_len = s.iter().take_while(|c| c.is_ascii_digit()).count();
        let mut v: u64 = 0;
        for &c in &s[..int_len] {
            if v > (1u64 << 63) / 10 {
                return Err(invalid());
            }
            v = v * 10 + u64::from(c - b'0');
            if v > 1u64 << 63 {
                return Err(invalid());
            }
        }
        let pre = int_len > 0;
        s = &s[int_len..];
        // Fraction part.
        let mut frac: u64 = 0;
        let mut scale: f64 = 1.0;
        let mut post = false;
        if s.first() == Some(&b'.') {
            s = &s[1..];
            let frac_len = s.iter().take_while(|c| c.is_ascii_digit()).count();
            let mut overflow = false;
            for &c in &s[..frac_len] {
                if overflow {
                    continue;
                }
                if frac > (i64::MAX as u64) / 10 {
                    overflow = true;
                    continue;
                }
                let y = frac * 10 + u64::from(c - b'0');
                if y > i64::MAX as u64 {
                    overflow = true;
                    continue;
                }
                frac = y;
                scale *= 10.0;
            }
            post = frac_len > 0;
            s = &s[frac_len..];
        }
        if !pre && !post {
            return Err(invalid());
        }
        // Unit.
        let unit_len = s
            .iter()
            .take_while(|&&c| !(c == b'.' || c.is_ascii_digit()))
            .count();
        if unit_len == 0 {
            return Err(format!(
                "time: missing unit in duration {}",
                quote(orig.as_bytes())
            ));
        }
        let unit_name = &s[..unit_len];
        s = &s[unit_len..];
        let unit: u64 = match unit_name {
            b"ns" => 1,
            b"us" => 1_000,
            b"\xc2\xb5s" | b"\xce\xbcs" => 1_000,
            b"ms" => 1_000_000,
            b"s" => 1_000_000_000,
            b"m" => 60 * 1_000_000_000,
            b"h" => 3600 * 1_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    quote(unit_name),
                    quote(orig.as_bytes())
                ))
            }
        };
        if v > (1u64 << 63) / unit {
            return Err(invalid());
        }
        v *= unit;
        if frac > 0 {
            v += (frac as f64 * (unit as f64 / scale)) as u64;
            if v > 1u64 << 63 {
                return Err(invalid());
            }
        }
        total += v;
        if total > 1u64 << 63 {
            return Err(invalid());
        }
    }
    if neg {
        return Ok(GoDuration((total as i64).wrapping_neg()));
    }
    if total > i64::MAX as u64 {
        return Err(invalid());
    }
    Ok(GoDuration(total as i64))
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "strconv.ParseBool: parsing {}: invalid syntax",
            quote(s.as_bytes())
        )),
    }
}

enum NumError {
    Syntax,
    Range,
}

/// Whether underscores in a base-0 literal are only digit separators.
fn underscores_ok(s: &[u8]) -> bool {
    let mut saw = b'^';
    let mut s = s;
    if let Some(&c) = s.first() {
        if c == b'-' || c == b'+' {
            s = &s[1..];
        }
    }
    let mut i = 0;
    let mut hex = false;
    if s.len() >= 2 && s[0] == b'0' && matches!(s[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = s[1].eq_ignore_ascii_case(&b'x');
    }
    while i < s.len() {
        let c = s[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

fn parse_uint_inner(s: &[u8], base: u32) -> Result<u64, NumError> {
    if s.is_empty() {
        return Err(NumError::Syntax);
    }
    let base0 = base == 0;
    let original = s;
    let mut s = s;
    let mut base = base;
    if base == 0 {
        base = 10;
        if s[0] == b'0' {
            if s.len() >= 3 && matches!(s[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
                base = match s[1].to_ascii_lowercase() {
                    b'b' => 2,
                    b'o' => 8,
                    _ => 16,
                };
                s = &s[2..];
            } else {
                base = 8;
                s = &s[1..];
            }
        }
    }
    let mut n: u64 = 0;
    let cutoff = u64::MAX / u64::from(base) + 1;
    let mut underscores = false;
    for &c in s {
        let d = match c {
            b'_' if base0 => {
                underscores = true;
                continue;
            }
            b'0'..=b'9' => u32::from(c - b'0'),
            b'a'..=b'z' => u32::from(c - b'a') + 10,
            b'A'..=b'Z' => u32::from(c - b'A') + 10,
            _ => return Err(NumError::Syntax),
        };
        if d >= base {
            return Err(NumError::Syntax);
        }
        if n >= cutoff {
            return Err(NumError::Range);
        }
        n *= u64::from(base);
        let (n1, overflow) = n.overflowing_add(u64::from(d));
        if overflow {
            return Err(NumError::Range);
        }
        n = n1;
    }
    if underscores && !underscores_ok(original) {
        return Err(NumError::Syntax);
    }
    Ok(n)
}

/// Go's `strconv.ParseInt(s, base, 64)`, with its error messages.
pub fn parse_int(s: &str, base: u32) -> Result<i64, String> {
    let err = |kind: NumError| {
        let what = match kind {
            NumError::Syntax => "invalid syntax",
            NumError::Range => "value out of range",
        };
        format!("strconv.ParseInt: parsing {}: {what}", quote(s.as_bytes()))
    };
    let bytes = s.as_bytes();
    if bytes.is_empty() {
        return Err(err(NumError::Syntax));
    }
    let (neg, digits) = match bytes[0] {
        b'+' => (false, &bytes[1..]),
        b'-' => (true, &bytes[1..]),
        _ => (false, bytes),
    };
    let un = parse_uint_inner(digits, base).map_err(err)?;
    let cutoff = 1u64 << 63;
    if !neg && un >= cutoff {
        return Err(err(NumError::Range));
    }
    if neg && un > cutoff {
        return Err(err(NumError::Range));
    }
    Ok(if neg {
        (un as i64).wrapping_neg()
    } else {
        un as i64
    })
}

/// Go's `strconv.ParseUint(s, base, 64)`, with its error messages.
pub fn parse_uint(s: &str, base: u32) -> Result<u64, String> {
    parse_uint_inner(s.as_bytes(), base).map_err(|kind| {
        let what = match kind {
            NumError::Syntax => "invalid syntax",
            NumError::Range => "value out of range",
        };
        format!("strconv.ParseUint: parsing {}: {what}", quote(s.as_bytes()))
    })
}

/// go-humanize's `Bytes`: SI units, e.g. "20 kB", "1.5 MB", "7 B".
pub fn humanize_bytes(size: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    // 1000^e, exactly as Go's math.Pow computes it for these small exponents.
    const POWERS: [f64; 7] = [1.0, 1e3, 1e6, 1e9, 1e12, 1e15, 1e18];
    if size < 10 {
        return format!("{size} B");
    }
    let mut e = 0;
    while e + 1 < POWERS.len() && size as f64 >= POWERS[e + 1] {
        e += 1;
    }
    let val = (size as f64 / POWERS[e] * 10.0 + 0.5).floor() / 10.0;
    if val < 10.0 {
        format!("{val:.1} {}", UNITS[e])
    } else {
        format!("{val:.0} {}", UNITS[e])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_matches_go() {
        assert_eq!(quote(b"foo"), "\"foo\"");
        assert_eq!(quote(b"x\"y\\z"), "\"x\\\"y\\\\z\"");
        assert_eq!(quote(b"a\nb\tc\x00\x7f"), "\"a\\nb\\tc\\x00\\u007f\"");
        assert_eq!(quote(b"\xff\xfe"), "\"\\xff\\xfe\"");
        assert_eq!(quote("héllo ☃".as_bytes()), "\"héllo ☃\"");
        assert_eq!(quote("\u{a0}\u{200b}".as_bytes()), "\"\\u00a0\\u200b\"");
        assert_eq!(quote("\u{e0001}".as_bytes()), "\"\\U000e0001\"");
    }

    #[test]
    fn json_strings_match_go() {
        let mut out = Vec::new();
        json_string_into(&mut out, b"a<b>&\"\\\n\x08\x01\xff\xe2\x80\xa8");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "\"a\\u003cb\\u003e\\u0026\\\"\\\\\\n\\u0008\\u0001\\ufffd\\u2028\""
        );
    }

    #[test]
    fn durations_print_like_go() {
        let cases = [
            (0, "0s"),
            (1, "1ns"),
            (1_100, "1.1µs"),
            (16_371_056, "16.371056ms"),
            (2_000_000_000, "2s"),
            (1_500_000_000, "1.5s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (-5_000_000_000, "-5s"),
        ];
        for (nanos, want) in cases {
            assert_eq!(GoDuration(nanos).to_string(), want);
        }
    }

    #[test]
    fn durations_parse_like_go() {
        assert_eq!(parse_duration("5s"), Ok(GoDuration(5_000_000_000)));
        assert_eq!(parse_duration("1m30s"), Ok(GoDuration(90_000_000_000)));
        assert_eq!(parse_duration("1.5ms"), Ok(GoDuration(1_500_000)));
        assert_eq!(parse_duration("-2s"), Ok(GoDuration(-2_000_000_000)));
        assert_eq!(parse_duration("0"), Ok(GoDuration(0)));
        assert_eq!(
            parse_duration("abc"),
            Err("time: invalid duration \"abc\"".to_string())
        );
        assert_eq!(
            parse_duration("5"),
            Err("time: missing unit in duration \"5\"".to_string())
        );
        assert_eq!(
            parse_duration("5x"),
            Err("time: unknown unit \"x\" in duration \"5x\"".to_string())
        );
    }

    #[test]
    fn ints_parse_like_go() {
        assert_eq!(parse_int("10", 0), Ok(10));
        assert_eq!(parse_int("0x10", 0), Ok(16));
        assert_eq!(parse_int("010", 0), Ok(8));
        assert_eq!(parse_int("1_000", 0), Ok(1000));
        assert_eq!(parse_int("-5", 10), Ok(-5));
        assert_eq!(parse_int("ff", 16), Ok(255));
        assert_eq!(
            parse_int("abc", 10),
            Err("strconv.ParseInt: parsing \"abc\": invalid syntax".to_string())
        );
        assert_eq!(
            parse_int("0x10", 16),
            Err("strconv.ParseInt: parsing \"0x10\": invalid syntax".to_string())
        );
        assert_eq!(
            parse_int("ffffffffffffffffff", 16),
            Err("strconv.ParseInt: parsing \"ffffffffffffffffff\": value out of range".to_string())
        );
        assert_eq!(
            parse_int("", 10),
            Err("strconv.ParseInt: parsing \"\": invalid syntax".to_string())
        );
        assert_eq!(parse_int("-9223372036854775808", 10), Ok(i64::MIN));
        assert!(parse_int("9223372036854775808", 10).is_err());
    }

    #[test]
    fn bools_parse_like_go() {
        assert_eq!(parse_bool("True"), Ok(true));
        assert_eq!(parse_bool("0"), Ok(false));
        assert_eq!(
            parse_bool("xyz"),
            Err("strconv.ParseBool: parsing \"xyz\": invalid syntax".to_string())
        );
    }

    #[test]
    fn bytes_humanize_like_go() {
        assert_eq!(humanize_bytes(0), "0 B");
        assert_eq!(humanize_bytes(9), "9 B");
        assert_eq!(humanize_bytes(20480), "20 kB");
        assert_eq!(humanize_bytes(24576), "25 kB");
        assert_eq!(humanize_bytes(1_500_000), "1.5 MB");
        assert_eq!(humanize_bytes(999), "999 B");
        assert_eq!(humanize_bytes(2_147_483_648), "2.1 GB");
    }
}
