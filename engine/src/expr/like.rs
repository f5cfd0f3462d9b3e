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
    /// The pattern between its `%`s: `segments[0]` is anchored at the start, the last at the end (one
    /// segment, without any `%`, is anchored at both).
    segments: Vec<Segment>,
}

/// A run of the pattern without `%`: literal characters and `_`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Segment {
    toks: Vec<Tok>,
    /// The segment's UTF-8 text when it has no `_` (found with a substring search).
    literal: Option<String>,
}

impl Segment {
    fn new(toks: Vec<Tok>) -> Segment {
        let literal = toks
            .iter()
            .map(|t| match t {
                Tok::Char(c) => Some(*c),
                _ => None,
            })
            .collect::<Option<String>>();
        Segment { toks, literal }
    }

    /// The end of the segment matched at byte `i` of `s`, if it matches there.
    fn match_at(&self, s: &str, mut i: usize) -> Option<usize> {
        for t in &self.toks {
            let c = s[i..].chars().next()?;
            match t {
                Tok::Char(want) if *want != c => return None,
                _ => i += c.len_utf8(),
            }
        }
        Some(i)
    }

    /// The end of the leftmost match lying within `s[from..to]`. Linear: a substring search for a literal
    /// segment, a bit-parallel scan (one pass, `len / 64` words a character) for one with `_`.
    fn find_end(&self, s: &str, from: usize, to: usize) -> Option<usize> {
        let hay = &s[from..to];
        if let Some(lit) = &self.literal {
            return memchr::memmem::find(hay.as_bytes(), lit.as_bytes()).map(|k| from + k + lit.len());
        }
        let m = self.toks.len();
        let words = m.div_ceil(64);
        // Bit `j` of a character's mask: token `j` accepts the character.
        let mut any = vec![0u64; words];
        let mut by_char: Vec<(char, Vec<u64>)> = Vec::new();
        for t in &self.toks {
            if let Tok::Char(c) = t {
                if !by_char.iter().any(|(d, _)| d == c) {
                    by_char.push((*c, vec![0; words]));
                }
            }
        }
        for (j, t) in self.toks.iter().enumerate() {
            let (w, bit) = (j / 64, 1u64 << (j % 64));
            match t {
                Tok::One => {
                    any[w] |= bit;
                    for (_, mask) in &mut by_char {
                        mask[w] |= bit;
                    }
                }
                Tok::Char(c) => {
                    let mask = &mut by_char
                        .iter_mut()
                        .find(|(d, _)| d == c)
                        .expect("every char has a mask")
                        .1;
                    mask[w] |= bit;
                }
                Tok::Many => unreachable!("a segment holds no `%`"),
            }
        }
        by_char.sort_unstable_by_key(|(c, _)| *c);
        let last = (m - 1) / 64;
        let last_bit = 1u64 << ((m - 1) % 64);
        // Bit `j` of the state: the segment's first `j + 1` tokens match ending at this character.
        let mut state = vec![0u64; words];
        for (k, c) in hay.char_indices() {
            let mask = match by_char.binary_search_by_key(&c, |(d, _)| *d) {
                Ok(x) => &by_char[x].1,
                Err(_) => &any,
            };
            let mut carry = 1u64;
            for (st, mk) in state.iter_mut().zip(mask) {
                let next_carry = *st >> 63;
                *st = ((*st << 1) | carry) & mk;
                carry = next_carry;
            }
            if state[last] & last_bit != 0 {
                return Some(from + k + c.len_utf8());
            }
        }
        None
    }
}

impl Pattern {
    /// Compiles `pattern`; an escape character at the end of the pattern is an error.
    pub fn new(pattern: &str, escape: Option<char>) -> Result<Pattern, String> {
        let mut segments = Vec::new();
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
            if t == Tok::Many {
                segments.push(Segment::new(std::mem::take(&mut toks)));
            } else {
                toks.push(t);
            }
        }
        segments.push(Segment::new(toks));
        // `%%` is `%`: no empty segment between two `%`.
        let n = segments.len();
        let mut i = 0;
        segments.retain(|seg| {
            i += 1;
            i == 1 || i == n || !seg.toks.is_empty()
        });
        Ok(Pattern { segments })
    }

    /// Whether `s` matches the whole pattern. Linear in `s` and the pattern: the first segment must match at
    /// the start, the last at the end, and each middle one is taken at its leftmost place after the one
    /// before (which is where any match could take it).
    pub fn matches(&self, s: &str) -> bool {
        let (first, rest) = self.segments.split_first().expect("a pattern has a segment");
        let Some((last, middle)) = rest.split_last() else {
            return first.match_at(s, 0) == Some(s.len());
        };
        let Some(mut at) = first.match_at(s, 0) else {
            return false;
        };
        // The last segment covers exactly its token count of characters at the end.
        let tail = match last.toks.len() {
            0 => s.len(),
            k => match s.char_indices().rev().nth(k - 1) {
                Some((b, _)) => b,
                None => return false,
            },
        };
        if tail < at || last.match_at(s, tail) != Some(s.len()) {
            return false;
        }
        for seg in middle {
            match seg.find_end(s, at, tail) {
                Some(end) => at = end,
                None => return false,
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn like(s: &str, p: &str) -> bool {
        Pattern::new(p, None).unwrap().matches(s)
    }

    /// The textbook matcher: `dp[j]` = the pattern's first `j` tokens match the text read so far.
    fn reference(s: &str, p: &str) -> bool {
        let toks: Vec<Tok> = p
            .chars()
            .map(|c| match c {
                '%' => Tok::Many,
                '_' => Tok::One,
                c => Tok::Char(c),
            })
            .collect();
        let mut dp = vec![false; toks.len() + 1];
        dp[0] = true;
        for j in 0..toks.len() {
            dp[j + 1] = dp[j] && toks[j] == Tok::Many;
        }
        for c in s.chars() {
            let mut next = vec![false; toks.len() + 1];
            for j in 0..toks.len() {
                next[j + 1] = match toks[j] {
                    Tok::Many => next[j] || dp[j + 1],
                    Tok::One => dp[j],
                    Tok::Char(d) => dp[j] && d == c,
                };
            }
            dp = next;
        }
        dp[toks.len()]
    }

    #[test]
    fn agrees_with_the_textbook_matcher_on_random_patterns() {
        let mut seed = 0x243f_6a88_85a3_08d3u64;
        let mut next = |n: usize| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n as u64) as usize
        };
        let text_chars = ['a', 'b', 'ü'];
        let pattern_chars = ['a', 'b', 'ü', '%', '_'];
        for _ in 0..20_000 {
            let s: String = (0..next(9)).map(|_| text_chars[next(3)]).collect();
            let p: String = (0..next(7)).map(|_| pattern_chars[next(5)]).collect();
            assert_eq!(like(&s, &p), reference(&s, &p), "{s:?} LIKE {p:?}");
        }
        // A segment with `_` longer than one 64-bit word.
        let long: String = (0..150).map(|i| if i % 7 == 0 { '_' } else { 'a' }).collect();
        let text = format!("b{}b", "a".repeat(160));
        assert_eq!(
            like(&text, &format!("%{long}%")),
            reference(&text, &format!("%{long}%"))
        );
        assert!(like(&text, &format!("%{long}%")));
        assert!(!like(&text, &format!("%{long}c%")));
    }

    /// Review B8: a pattern from a field on a 1 MiB record was O(len(s)·len(p)) (a 300 KB record took 10 s).
    /// Each of these is a few passes over the text now.
    #[test]
    fn pathological_patterns_on_long_text_match_in_linear_passes() {
        let s = "a".repeat(1 << 20);
        let many_a = "a".repeat(1 << 19);
        assert!(!like(&s, &format!("%{many_a}b")));
        assert!(!like(&s, &format!("%{many_a}b%")));
        assert!(like(&s, &format!("%{many_a}%")));
        assert!(!like(&s, &format!("%{}_b%", "a".repeat(4000))));
        assert!(like(&s, &format!("a%{}_a%a", "a".repeat(4000))));
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
