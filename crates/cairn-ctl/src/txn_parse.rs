//! The text format `txn` reads: compare lines such as `mod("k") > "5"` and
//! operation lines (`put`, `get`, `del` with their command-line flags), as
//! etcdctl 3.5.1 parses them — including its argument splitting (argify),
//! Go's `%q` unquoting and `fmt.Sscanf`'s partial results, which show up in
//! its error messages.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use cairn_proto::etcdserverpb::{compare, request_op, Compare, RequestOp};
use clap::{FromArgMatches, Parser, Subcommand};

use crate::cli::{DelArgs, GetArgs, PutArgs};
use crate::commands;
use crate::error::CtlError;
use crate::golang::{self, quote};

/// Go's `\s` in regular expressions.
fn is_re_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ')
}

/// Go's `unicode.IsSpace` for the ASCII range (what `strings.TrimSpace` trims).
fn is_go_space(b: u8) -> bool {
    matches!(b, b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r' | b' ')
}

/// `strings.TrimSpace` on bytes (ASCII spaces and U+0085, U+00A0).
pub fn trim_space(mut s: &[u8]) -> &[u8] {
    loop {
        if let Some(&b) = s.first() {
            if is_go_space(b) {
                s = &s[1..];
                continue;
            }
            if s.starts_with("\u{85}".as_bytes()) || s.starts_with("\u{a0}".as_bytes()) {
                s = &s[2..];
                continue;
            }
        }
        break;
    }
    loop {
        if let Some(&b) = s.last() {
            if is_go_space(b) {
                s = &s[..s.len() - 1];
                continue;
            }
            if s.ends_with("\u{85}".as_bytes()) || s.ends_with("\u{a0}".as_bytes()) {
                s = &s[..s.len() - 2];
                continue;
            }
        }
        break;
    }
    s
}

/// Length of a match of `"(?:[^"\\]|\\.)*"` at the start of `s`.
fn match_double_quoted(s: &[u8]) -> Option<usize> {
    if s.first() != Some(&b'"') {
        return None;
    }
    let mut i = 1;
    while i < s.len() {
        match s[i] {
            b'"' => return Some(i + 1),
            b'\\' => {
                if i + 1 < s.len() && s[i + 1] != b'\n' {
                    i += 2;
                } else {
                    return None;
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// Length of a match of `'[^']*'` at the start of `s`.
fn match_single_quoted(s: &[u8]) -> Option<usize> {
    if s.first() != Some(&b'\'') {
        return None;
    }
    s[1..].iter().position(|&b| b == b'\'').map(|p| p + 2)
}

/// Length of a match of `[^'"\s]\S*[^'"\s]?` at the start of `s`.
fn match_bare(s: &[u8]) -> Option<usize> {
    let first = *s.first()?;
    if first == b'\'' || first == b'"' || is_re_space(first) {
        return None;
    }
    Some(1 + s[1..].iter().take_while(|&&b| !is_re_space(b)).count())
}

/// Splits a line into arguments the way etcdctl's `argify` does. Quoted
/// arguments are unquoted; single-quoted ones are cut with etcdctl's
/// off-by-count slice (`[1:len(args)-1]`), which can panic.
pub fn argify(line: &[u8]) -> Result<Vec<Vec<u8>>, CtlError> {
    let mut args: Vec<Vec<u8>> = Vec::new();
    let mut pos = 0;
    while pos < line.len() {
        let rest = &line[pos..];
        let len = match_double_quoted(rest)
            .or_else(|| match_single_quoted(rest))
            .or_else(|| match_bare(rest));
        match len {
            Some(len) => {
                args.push(rest[..len].to_vec());
                pos += len;
            }
            None => pos += 1,
        }
    }
    let count = args.len();
    for arg in &mut args {
        match arg.first() {
            Some(b'\'') => {
                let end = count.wrapping_sub(1);
                if count == 0 || end < 1 {
                    return Err(CtlError::Panic(format!(
                        "runtime error: slice bounds out of range [1:{end}]"
                    )));
                }
                if end > arg.len() {
                    return Err(CtlError::Panic(format!(
                        "runtime error: slice bounds out of range [:{end}] with length {}",
                        arg.len()
                    )));
                }
                *arg = arg[1..end].to_vec();
            }
            Some(b'"') => match unquote_double(arg) {
                Some(v) => *arg = v,
                None => return Err(CtlError::invalid_input("invalid syntax")),
            },
            _ => {}
        }
    }
    Ok(args)
}

/// Go's `strconv.Unquote` for a double-quoted literal (quotes included);
/// `None` where Go reports "invalid syntax".
pub fn unquote_double(s: &[u8]) -> Option<Vec<u8>> {
    if s.len() < 2 || s[0] != b'"' || s[s.len() - 1] != b'"' {
        return None;
    }
    let body = &s[1..s.len() - 1];
    if body.contains(&b'\n') {
        return None;
    }
    let hex_value = |digits: &[u8]| -> Option<u32> {
        if !digits.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        u32::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()
    };
    let mut out = Vec::with_capacity(body.len());
    let mut i = 0;
    while i < body.len() {
        let c = body[i];
        if c == b'"' {
            return None;
        }
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let esc = *body.get(i + 1)?;
        i += 2;
        let simple = match esc {
            b'a' => Some(7u8),
            b'b' => Some(8),
            b'f' => Some(12),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'v' => Some(11),
            b'\\' => Some(b'\\'),
            b'"' => Some(b'"'),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            continue;
        }
        match esc {
            b'x' => {
                out.push(hex_value(body.get(i..i + 2)?)? as u8);
                i += 2;
            }
            b'u' | b'U' => {
                let n = if esc == b'u' { 4 } else { 8 };
                let c = char::from_u32(hex_value(body.get(i..i + n)?)?)?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                i += n;
            }
            b'0'..=b'7' => {
                let mut v: u32 = 0;
                for &d in body.get(i - 1..i + 2)? {
                    if !(b'0'..=b'7').contains(&d) {
                        return None;
                    }
                    v = v * 8 + u32::from(d - b'0');
                }
                out.push(u8::try_from(v).ok()?);
                i += 2;
            }
            _ => return None,
        }
    }
    Some(out)
}

/// A cursor emulating `fmt.Sscanf` over a byte string.
struct Scanner<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Scanner<'_> {
    fn skip_space(&mut self) {
        while self.pos < self.s.len() && is_go_space(self.s[self.pos]) {
            self.pos += 1;
        }
    }

    /// `%q`: a double-, back- or (not) otherwise quoted string.
    fn quoted(&mut self) -> Option<Vec<u8>> {
        self.skip_space();
        match self.s.get(self.pos)? {
            b'`' => {
                let rest = &self.s[self.pos + 1..];
                let end = rest.iter().position(|&b| b == b'`')?;
                self.pos += end + 2;
                Some(rest[..end].to_vec())
            }
            b'"' => {
                let start = self.pos;
                let mut i = self.pos + 1;
                loop {
                    let b = *self.s.get(i)?;
                    i += 1;
                    if b == b'\\' {
                        self.s.get(i)?;
                        i += 1;
                    } else if b == b'"' {
                        break;
                    }
                }
                self.pos = i;
                unquote_double(&self.s[start..i])
            }
            _ => None,
        }
    }

    /// A literal byte of the format.
    fn literal(&mut self, b: u8) -> Option<()> {
        if self.s.get(self.pos) == Some(&b) {
            self.pos += 1;
            Some(())
        } else {
            None
        }
    }

    /// `%s`: a run of non-space bytes.
    fn word(&mut self) -> Option<Vec<u8>> {
        self.skip_space();
        let rest = &self.s[self.pos..];
        if rest.is_empty() {
            return None;
        }
        let len = rest.iter().take_while(|&&b| !is_go_space(b)).count();
        self.pos += len;
        Some(rest[..len].to_vec())
    }
}

/// What `fmt.Sscanf(s, "%q) %s %q", &key, &op, &val)` leaves behind.
fn scan_compare_operands(s: &[u8]) -> (usize, Vec<u8>, Vec<u8>, Vec<u8>) {
    let mut sc = Scanner { s, pos: 0 };
    let (mut key, mut op, mut val) = (Vec::new(), Vec::new(), Vec::new());
    let mut n = 0;
    if let Some(k) = sc.quoted() {
        key = k;
        n = 1;
        if sc.literal(b')').is_some() {
            sc.skip_space();
            if let Some(o) = sc.word() {
                op = o;
                n = 2;
                sc.skip_space();
                if let Some(v) = sc.quoted() {
                    val = v;
                    n = 3;
                }
            }
        }
    }
    (n, key, op, val)
}

fn compare_result(op: &[u8]) -> Result<compare::CompareResult, CtlError> {
    match op {
        b"=" => Ok(compare::CompareResult::Equal),
        b"!=" => Ok(compare::CompareResult::NotEqual),
        b">" => Ok(compare::CompareResult::Greater),
        b"<" => Ok(compare::CompareResult::Less),
        _ => Err(CtlError::Panic("Unknown result op".into())),
    }
}

/// Parses one compare line (`mod("k") > "5"`, `value("k") = "v"`, ...).
pub fn parse_compare(line: &[u8]) -> Result<Compare, CtlError> {
    let text = String::from_utf8_lossy(line);
    let Some(paren) = line.iter().position(|&b| b == b'(') else {
        return Err(CtlError::invalid_input(format!(
            "malformed comparison: {text}"
        )));
    };
    let target = &line[..paren];
    let target_text = String::from_utf8_lossy(target);
    let (n, key, op, val) = scan_compare_operands(&line[paren + 1..]);
    if n != 3 {
        return Err(CtlError::invalid_input(format!(
            "malformed comparison: {text}; got {target_text}({}) {} {}",
            quote(&key),
            String::from_utf8_lossy(&op),
            quote(&val)
        )));
    }
    let invalid = || CtlError::invalid_input(format!("invalid txn compare request: {text}"));
    let int_value = || {
        std::str::from_utf8(&val)
            .ok()
            .and_then(|v| golang::parse_int(v, 10).ok())
            .ok_or_else(invalid)
    };
    let (target, union) = match target {
        b"ver" | b"version" => (
            compare::CompareTarget::Version,
            compare::TargetUnion::Version(int_value()?),
        ),
        b"c" | b"create" => (
            compare::CompareTarget::Create,
            compare::TargetUnion::CreateRevision(int_value()?),
        ),
        b"m" | b"mod" => (
            compare::CompareTarget::Mod,
            compare::TargetUnion::ModRevision(int_value()?),
        ),
        b"val" | b"value" => (
            compare::CompareTarget::Value,
            compare::TargetUnion::Value(val.clone()),
        ),
        b"lease" => {
            // etcdctl 3.5.1 hands the value to the client library as a
            // string, which only accepts integers here and panics.
            compare_result(&op)?;
            return Err(CtlError::Panic("bad value".into()));
        }
        _ => {
            return Err(CtlError::invalid_input(format!(
                "malformed comparison: {text} (unknown target {target_text})"
            )))
        }
    };
    let result = compare_result(&op)?;
    Ok(Compare {
        result: result as i32,
        target: target as i32,
        key,
        range_end: Vec::new(),
        target_union: Some(union),
    })
}

/// The operations a txn line can hold, parsed with the same flags as the
/// top-level commands.
#[derive(Parser, Debug)]
#[command(
    no_binary_name = true,
    disable_help_flag = true,
    disable_help_subcommand = true,
    disable_version_flag = true,
    infer_subcommands = true,
    args_override_self = true
)]
struct TxnOpLine {
    #[command(subcommand)]
    op: TxnOp,
}

#[derive(Subcommand, Debug)]
enum TxnOp {
    Put(PutArgs),
    Get(GetArgs),
    Del(DelArgs),
}

/// Parses one operation line (`put k v`, `get k --prefix`, `del k`).
pub fn parse_op(line: &[u8]) -> Result<RequestOp, CtlError> {
    let text = String::from_utf8_lossy(line);
    let args = argify(line)?;
    if args.len() < 2 {
        return Err(CtlError::invalid_input(format!(
            "invalid txn compare request: {text}"
        )));
    }
    let os_args: Vec<OsString> = args.into_iter().map(OsString::from_vec).collect();
    let command = crate::usage::prepare(<TxnOpLine as clap::CommandFactory>::command());
    let parsed = command
        .try_get_matches_from(os_args)
        .ok()
        .and_then(|m| TxnOpLine::from_arg_matches(&m).ok())
        .ok_or_else(|| CtlError::invalid_input(format!("invalid txn request: {text}")))?;
    let request = match parsed.op {
        TxnOp::Put(put) => request_op::Request::RequestPut(commands::put::put_request(
            &put,
            &mut std::io::empty(),
        )?),
        TxnOp::Get(get) => request_op::Request::RequestRange(commands::get::range_request(&get)?),
        TxnOp::Del(del) => {
            request_op::Request::RequestDeleteRange(commands::del::delete_request(&del)?)
        }
    };
    Ok(RequestOp {
        request: Some(request),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<String> {
        argify(line.as_bytes())
            .unwrap()
            .into_iter()
            .map(|a| String::from_utf8(a).unwrap())
            .collect()
    }

    #[test]
    fn argify_splits_like_etcdctl() {
        assert_eq!(args("put k v"), ["put", "k", "v"]);
        assert_eq!(args(r#"put "a b" "c\nd""#), ["put", "a b", "c\nd"]);
        assert_eq!(args("get  k   --prefix"), ["get", "k", "--prefix"]);
        // etcdctl slices single-quoted args by the argument count.
        assert_eq!(args("put 'abcdef' v"), ["put", "a", "v"]);
        assert!(matches!(
            argify(b"put k v w x 'a'"),
            Err(CtlError::Panic(m)) if m == "runtime error: slice bounds out of range [:5] with length 3"
        ));
    }

    #[test]
    fn compares_parse() {
        let c = parse_compare(br#"mod("foo") > "5""#).unwrap();
        assert_eq!(c.key, b"foo");
        assert_eq!(c.target, compare::CompareTarget::Mod as i32);
        assert_eq!(c.result, compare::CompareResult::Greater as i32);
        assert_eq!(c.target_union, Some(compare::TargetUnion::ModRevision(5)));
        let c = parse_compare(br#"value("k") != "x y""#).unwrap();
        assert_eq!(
            c.target_union,
            Some(compare::TargetUnion::Value(b"x y".to_vec()))
        );
    }

    #[test]
    fn compare_errors_match_etcdctl() {
        let msg = |line: &str| match parse_compare(line.as_bytes()) {
            Err(CtlError::Exit { message, .. }) => message,
            other => panic!("{other:?}"),
        };
        assert_eq!(msg("bad"), "malformed comparison: bad");
        assert_eq!(
            msg("mod(foo) > 0"),
            "malformed comparison: mod(foo) > 0; got mod(\"\")  \"\""
        );
        assert_eq!(
            msg(r#"mod("foo") > 0"#),
            "malformed comparison: mod(\"foo\") > 0; got mod(\"foo\") > \"\""
        );
        assert_eq!(
            msg(r#"xx("foo") > "0""#),
            "malformed comparison: xx(\"foo\") > \"0\" (unknown target xx)"
        );
        assert_eq!(
            msg(r#"mod("foo") > "a""#),
            "invalid txn compare request: mod(\"foo\") > \"a\""
        );
        assert_eq!(
            parse_compare(br#"lease("foo") = "0""#),
            Err(CtlError::Panic("bad value".into()))
        );
        assert_eq!(
            parse_compare(br#"value("foo") ~ "0""#),
            Err(CtlError::Panic("Unknown result op".into()))
        );
    }

    #[test]
    fn ops_parse() {
        let op = parse_op(b"put k v --prev-kv").unwrap();
        match op.request {
            Some(request_op::Request::RequestPut(p)) => {
                assert_eq!(p.key, b"k");
                assert_eq!(p.value, b"v");
                assert!(p.prev_kv);
            }
            other => panic!("{other:?}"),
        }
        let op = parse_op(b"get k --prefix").unwrap();
        match op.request {
            Some(request_op::Request::RequestRange(r)) => assert_eq!(r.range_end, b"l"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse_op(b"put"),
            Err(CtlError::invalid_input("invalid txn compare request: put"))
        );
        assert_eq!(
            parse_op(b"put k v --bogus"),
            Err(CtlError::invalid_input(
                "invalid txn request: put k v --bogus"
            ))
        );
    }

    #[test]
    fn unquote_handles_go_escapes() {
        assert_eq!(
            unquote_double(br#""a\x41\101\u00e9\"""#).unwrap(),
            "aAAé\"".as_bytes()
        );
        assert!(unquote_double(br#""\q""#).is_none());
    }
}
