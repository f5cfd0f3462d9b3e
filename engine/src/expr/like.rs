//! SQL `LIKE` patterns: `%` matches any run of characters, `_` exactly one, an optional escape character makes
//! the next one literal. Case-sensitive, whole-string, by characters (not bytes).

/// One element of a compiled pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    Char(char),
    One,
    Many,
}

/// A compiled `LIKE` pattern.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    toks: Vec<Tok>,
}

impl Pattern {
    /// Compiles `pattern`; an escape character at the end of the pattern is an error.
    pub fn new(pattern: &str, escape: Option<char>) -> Result<Pattern, String> {
        let mut toks = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            let t = match c {
                c if Some(c) == escape => match chars.next() {
                    Some(n) => Tok::Char(n),
                    None => return Err(format!("LIKE pattern '{pattern}' ends with its escape character")),
                },
                '%' => Tok::Many,
                '_' => Tok::One,
                c => Tok::Char(c),
            };
            // `%%` is `%`.
            if !(t == Tok::Many && toks.last() == Some(&Tok::Many)) {
                toks.push(t);
            }
        }
        Ok(Pattern { toks })
    }

    /// Whether `s` matches the whole pattern.
    pub fn matches(&self, s: &str) -> bool {
        if s.is_ascii() {
            matches(&self.toks, s.len(), |i| s.as_bytes()[i] as char)
        } else {
            let chars: Vec<char> = s.chars().collect();
            matches(&self.toks, chars.len(), |i| chars[i])
        }
    }
}

/// Wildcard matching with one backtrack point (the last `%`): linear in practice, never exponential.
fn matches(toks: &[Tok], n: usize, at: impl Fn(usize) -> char) -> bool {
    let (mut p, mut i) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while i < n {
        match toks.get(p) {
            Some(Tok::Many) => {
                star = Some((p, i));
                p += 1;
            }
            Some(Tok::One) => {
                p += 1;
                i += 1;
            }
            Some(Tok::Char(c)) if *c == at(i) => {
                p += 1;
                i += 1;
            }
            _ => match star {
                Some((sp, si)) => {
                    p = sp + 1;
                    i = si + 1;
                    star = Some((sp, si + 1));
                }
                None => return false,
            },
        }
    }
    toks[p..].iter().all(|t| *t == Tok::Many)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(s: &str, p: &str) -> bool {
        Pattern::new(p, None).unwrap().matches(s)
    }

    #[test]
    fn wildcards_match_like_sql() {
        assert!(like("vib-0042", "vib-%"));
        assert!(like("vib-0042", "%42"));
        assert!(like("vib-0042", "v_b-00__"));
        assert!(!like("vib-0042", "v_b-00_"));
        assert!(like("", "%"));
        assert!(!like("", "_"));
        assert!(like("abcabc", "%b%c"));
        assert!(!like("ABC", "abc"));
        assert!(like("ünï", "_n_"));
        let p = Pattern::new("100!%", Some('!')).unwrap();
        assert!(p.matches("100%"));
        assert!(!p.matches("1000"));
        assert!(Pattern::new("a!", Some('!')).is_err());
    }
}
