//! `WATERMARK FOR col AS col - INTERVAL '30' SECOND` inside `CREATE TABLE (…)`: Flink's clause, which
//! sqlparser does not know. It is read here from the tokens and blanked out of the text (spaces, so every
//! other position stays where it was) before the statements are parsed.

use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer};

use super::dialect::WeirDialect;

/// One `WATERMARK FOR` clause: the table it is in, the column, the expression's text and where it was.
#[derive(Clone, Debug, PartialEq)]
pub struct Watermark {
    pub table: String,
    pub column: String,
    pub expr: String,
    pub at: Location,
}

/// The text without its `WATERMARK FOR` clauses, and the clauses; or the tokenizer's error.
pub fn take_watermarks(text: &str) -> Result<(String, Vec<Watermark>), String> {
    let tokens = Tokenizer::new(&WeirDialect::default(), text)
        .tokenize_with_location()
        .map_err(|e| e.to_string())?;
    let offsets = LineOffsets::new(text);
    let mut out = text.as_bytes().to_vec();
    let mut found = Vec::new();
    let words: Vec<(usize, &TokenWithSpan)> = tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| !matches!(t.token, Token::Whitespace(_)))
        .collect();
    let word = |i: usize| match words.get(i).map(|(_, t)| &t.token) {
        Some(Token::Word(w)) => Some(w.value.to_ascii_uppercase()),
        _ => None,
    };
    let (mut table, mut depth, mut in_create) = (String::new(), 0usize, false);
    let mut i = 0;
    while i < words.len() {
        let token = &words[i].1.token;
        match token {
            Token::Word(_) if word(i).as_deref() == Some("CREATE") && word(i + 1).as_deref() == Some("TABLE") => {
                if let Some(Token::Word(w)) = words.get(i + 2).map(|(_, t)| &t.token) {
                    table = w.value.clone();
                }
                in_create = true;
            }
            Token::SemiColon => in_create = false,
            Token::LParen => depth += 1,
            Token::RParen => depth = depth.saturating_sub(1),
            Token::Word(_) if in_create && depth == 1 && word(i).as_deref() == Some("WATERMARK") => {
                // From the comma before it (if any) to the token before the next `,` or `)` at this depth.
                let start = match words[i - 1].1.token {
                    Token::Comma => words[i - 1].1.span.start,
                    _ => words[i].1.span.start,
                };
                let mut j = i + 1;
                let mut d = 0usize;
                while j < words.len() {
                    match words[j].1.token {
                        Token::LParen => d += 1,
                        Token::RParen if d == 0 => break,
                        Token::RParen => d -= 1,
                        Token::Comma if d == 0 => break,
                        _ => {}
                    }
                    j += 1;
                }
                let end = words[j - 1].1.span.end;
                let clause = &text[offsets.of(words[i].1.span.start)..offsets.of(end)];
                found.push(parse_clause(&table, clause, words[i].1.span.start)?);
                for b in &mut out[offsets.of(start)..offsets.of(end)] {
                    if *b != b'\n' {
                        *b = b' ';
                    }
                }
                i = j;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    let text = String::from_utf8(out).map_err(|e| e.to_string())?;
    Ok((text, found))
}

/// `WATERMARK FOR col AS expr` → its parts.
fn parse_clause(table: &str, clause: &str, at: Location) -> Result<Watermark, String> {
    let rest = clause["WATERMARK".len()..].trim_start();
    let bad = || {
        format!(
            "line {}, column {}: write WATERMARK FOR column AS column - INTERVAL '30' SECOND",
            at.line, at.column
        )
    };
    let rest = keyword(rest, "FOR").ok_or_else(bad)?.trim_start();
    let (column, rest) = rest.split_once(char::is_whitespace).ok_or_else(bad)?;
    let rest = rest.trim_start();
    let expr = keyword(rest, "AS").ok_or_else(bad)?.trim();
    Ok(Watermark {
        table: table.to_string(),
        column: column.trim_matches('`').trim_matches('"').to_string(),
        expr: expr.to_string(),
        at,
    })
}

/// `text` after the keyword `word` (in any case) and a space, if it starts with them.
fn keyword<'t>(text: &'t str, word: &str) -> Option<&'t str> {
    let head = text.get(..word.len())?;
    let rest = &text[word.len()..];
    (head.eq_ignore_ascii_case(word) && rest.starts_with(char::is_whitespace)).then_some(rest)
}

/// Byte offsets of (line, column) locations (columns count characters, from 1).
struct LineOffsets<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineOffsets<'a> {
    fn new(text: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { text, starts }
    }

    fn of(&self, at: Location) -> usize {
        let line_start = self.starts[(at.line as usize).saturating_sub(1).min(self.starts.len() - 1)];
        self.text[line_start..]
            .char_indices()
            .nth((at.column as usize).saturating_sub(1))
            .map_or(self.text.len(), |(i, _)| line_start + i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_watermark_clause_is_taken_out_and_everything_else_keeps_its_place() {
        let sql = "CREATE TABLE v (a STRING, ts BIGINT,\n  WATERMARK FOR ts AS ts - INTERVAL '30' SECOND\n) WITH ('connector' = 'file');\nSELECT 1";
        let (text, marks) = take_watermarks(sql).unwrap();
        assert_eq!(text.len(), sql.len());
        assert_eq!(text.lines().count(), sql.lines().count());
        assert!(!text.contains("WATERMARK") && text.contains("ts BIGINT") && text.ends_with("SELECT 1"));
        assert_eq!(
            marks,
            vec![Watermark {
                table: "v".into(),
                column: "ts".into(),
                expr: "ts - INTERVAL '30' SECOND".into(),
                at: Location { line: 2, column: 3 },
            }]
        );
    }

    #[test]
    fn keywords_are_read_in_any_case() {
        let sql =
            "create table v (ts bigint, Watermark For ts As ts - interval '5' second) with ('connector' = 'file')";
        let (_, marks) = take_watermarks(sql).unwrap();
        assert_eq!(
            (marks[0].column.as_str(), marks[0].expr.as_str()),
            ("ts", "ts - interval '5' second")
        );
    }

    #[test]
    fn text_without_watermarks_is_unchanged() {
        let sql = "CREATE TABLE s WITH ('connector' = 'jsonl', 'path' = 'WATERMARK FOR x');";
        assert_eq!(take_watermarks(sql).unwrap(), (sql.to_string(), Vec::new()));
    }
}
