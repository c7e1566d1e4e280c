//! Parser of conformance scripts (`tests/conformance/script.txt`): one etcdctl
//! invocation per line. The syntax is documented at the top of that file:
//!
//! ```text
//! # comment                      (blank lines and comments are skipped)
//! [@TARGET] ARG... [<<< STDIN]
//! ```
//!
//! - `@TARGET`: `@all` (every member's endpoint, comma-joined, in member
//!   order) or `@N` (member index N). Default: member 0.
//! - Arguments use shell-like quoting: `'single'` is literal, `"double"`
//!   honours `\"` and `\\`, a bare backslash escapes the next character.
//! - `{{C*N}}` inside an argument expands to the character `C` repeated `N` times.
//! - `<<< WORD`: WORD (quoted like any argument) is fed on standard input, with
//!   every two-character sequence `\n` turned into a newline. It must come last.
//! - `~DURATION` (after the target, e.g. `~1500ms`, `~2s`): the command runs
//!   until it ends or for that long, then gets SIGTERM (for `watch`, `lock`
//!   and `elect`, which run until stopped).
//! - `{{lease}}` inside an argument becomes the ID (hex) of the lease granted
//!   most recently by an earlier line (`lease XXXXXXXXXXXXXXXX granted ...`).

use std::fmt;

/// Which endpoints a line talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// One member, by index.
    Member(usize),
    /// Every member.
    All,
}

/// One invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptLine {
    /// 1-based line number in the script file.
    pub line_no: usize,
    /// The line as written (for reports).
    pub text: String,
    /// Endpoints to pass as `--endpoints`.
    pub target: Target,
    /// Arguments after the CLI name (and after `--endpoints`).
    pub args: Vec<String>,
    /// Standard input, if any.
    pub stdin: Option<String>,
    /// Stop the command (SIGTERM) after this long, if it is still running.
    pub run_for: Option<std::time::Duration>,
}

/// The placeholder for the most recently granted lease's ID.
pub const LEASE_PLACEHOLDER: &str = "{{lease}}";

/// Parses `1500ms` / `2s`.
fn parse_run_for(s: &str) -> Option<std::time::Duration> {
    if let Some(ms) = s.strip_suffix("ms") {
        return ms.parse().ok().map(std::time::Duration::from_millis);
    }
    s.strip_suffix('s')?
        .parse()
        .ok()
        .map(std::time::Duration::from_secs)
}

/// A syntax error in a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptError {
    /// 1-based line number.
    pub line_no: usize,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "script line {}: {}", self.line_no, self.problem)
    }
}

impl std::error::Error for ScriptError {}

/// Parses a whole script.
pub fn parse_script(text: &str) -> Result<Vec<ScriptLine>, ScriptError> {
    let mut lines = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        lines.push(parse_line(line_no, trimmed)?);
    }
    Ok(lines)
}

fn parse_line(line_no: usize, text: &str) -> Result<ScriptLine, ScriptError> {
    let err = |problem: String| ScriptError { line_no, problem };
    let words = split_words(text).map_err(err)?;
    let mut words = words.into_iter().peekable();
    let mut target = Target::Member(0);
    if let Some(first) = words.peek() {
        if let Some(t) = first.strip_prefix('@') {
            target = match t {
                "all" => Target::All,
                n => Target::Member(
                    n.parse()
                        .map_err(|_| err(format!("bad target @{n}: use @all or @<index>")))?,
                ),
            };
            words.next();
        }
    }
    let mut run_for = None;
    if let Some(d) = words.peek().and_then(|w| w.strip_prefix('~')) {
        run_for = Some(
            parse_run_for(d).ok_or_else(|| err(format!("bad duration ~{d}: use ~Nms or ~Ns")))?,
        );
        words.next();
    }
    let mut args = Vec::new();
    let mut stdin = None;
    while let Some(word) = words.next() {
        if word == "<<<" {
            let input = words
                .next()
                .ok_or_else(|| err("`<<<` needs a word after it".into()))?;
            if words.next().is_some() {
                return Err(err("`<<< WORD` must end the line".into()));
            }
            stdin = Some(expand_repeats(&input).map_err(err)?.replace("\\n", "\n"));
        } else {
            args.push(expand_repeats(&word).map_err(err)?);
        }
    }
    if args.is_empty() {
        return Err(err("no command".into()));
    }
    Ok(ScriptLine {
        line_no,
        text: text.to_string(),
        target,
        args,
        stdin,
        run_for,
    })
}

/// Splits a line into words with the quoting rules above. The `<<<` marker is
/// only recognized as a bare word.
fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            return Ok(words);
        }
        let mut word = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() {
                break;
            }
            chars.next();
            match c {
                '\'' => loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("unterminated single quote".into()),
                    }
                },
                '"' => loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("unterminated double quote".into()),
                    }
                },
                '\\' => match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err("trailing backslash".into()),
                },
                c => word.push(c),
            }
        }
        words.push(word);
    }
}

/// Expands every `{{C*N}}` in `word`.
fn expand_repeats(word: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = word;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        if rest[start..].starts_with(LEASE_PLACEHOLDER) {
            // Filled in by the runner.
            out.push_str(LEASE_PLACEHOLDER);
            rest = &rest[start + LEASE_PLACEHOLDER.len()..];
            continue;
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("unterminated `{{{{` in {word:?}"))?;
        let spec = &after[..end];
        let (c, n) = spec
            .split_once('*')
            .ok_or_else(|| format!("bad repeat {{{{{spec}}}}}: use {{{{C*N}}}}"))?;
        let mut cs = c.chars();
        let (Some(c), None) = (cs.next(), cs.next()) else {
            return Err(format!(
                "bad repeat {{{{{spec}}}}}: one character before `*`"
            ));
        };
        let n: usize = n
            .parse()
            .map_err(|_| format!("bad repeat {{{{{spec}}}}}: count is not a number"))?;
        out.extend(std::iter::repeat_n(c, n));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets_quotes_stdin_and_repeats() {
        let script = "# comment\n\nget foo\n@all endpoint status -w json\n@2 put 'a b' \"c \\\"d\\\"\"\n\
                      txn -w json <<< 'value(\"k\") = \"v\"\\n\\nput k x\\n\\n\\n'\nput big {{x*5}}y\n";
        let lines = parse_script(script).expect("parses");
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[0].line_no, 3);
        assert_eq!(lines[0].target, Target::Member(0));
        assert_eq!(lines[0].args, ["get", "foo"]);
        assert_eq!(lines[1].target, Target::All);
        assert_eq!(lines[2].target, Target::Member(2));
        assert_eq!(lines[2].args, ["put", "a b", "c \"d\""]);
        assert_eq!(lines[3].args, ["txn", "-w", "json"]);
        assert_eq!(
            lines[3].stdin.as_deref(),
            Some("value(\"k\") = \"v\"\n\nput k x\n\n\n")
        );
        assert_eq!(lines[4].args, ["put", "big", "xxxxxy"]);
    }

    #[test]
    fn rejects_malformed_lines() {
        assert!(parse_script("get 'foo").is_err());
        assert!(parse_script("txn <<<").is_err());
        assert!(parse_script("txn <<< a b").is_err());
        assert!(parse_script("@x get a").is_err());
        assert!(parse_script("put k {{xx*3}}").is_err());
        assert_eq!(
            parse_script("put \"\" v").expect("empty key")[0].args,
            ["put", "", "v"]
        );
    }
}
