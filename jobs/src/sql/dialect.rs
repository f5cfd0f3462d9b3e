//! weir's SQL dialect: sqlparser's generic dialect plus the two Flink shapes it lacks — `FOR SYSTEM_TIME AS
//! OF` (temporal joins) and a `TABLE name [PARTITION BY …]` argument of a table-valued function
//! (`TUMBLE(TABLE vibration, …)`). `WATERMARK FOR` is taken out before parsing ([`super::watermark`]).

use sqlparser::ast::{
    Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList, FunctionArguments, Ident, ObjectName,
};
use sqlparser::dialect::{Dialect, GenericDialect};
use sqlparser::keywords::Keyword;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Token;

/// The name of the function a `TABLE name` argument parses to: `__table(name, partition keys…)`.
pub const TABLE_ARG: &str = "__table";

/// Flink's shapes on top of the generic dialect.
#[derive(Debug, Default)]
pub struct WeirDialect(GenericDialect);

impl Dialect for WeirDialect {
    fn is_identifier_start(&self, ch: char) -> bool {
        self.0.is_identifier_start(ch)
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        self.0.is_identifier_part(ch)
    }

    fn supports_table_versioning(&self) -> bool {
        true
    }

    fn supports_filter_during_aggregation(&self) -> bool {
        true
    }

    fn parse_prefix(&self, parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
        // `TABLE name` (not `TABLE(`): a table argument of a table-valued function.
        let is_table_arg =
            parser.peek_keyword(Keyword::TABLE) && matches!(parser.peek_nth_token(1).token, Token::Word(_));
        if !is_table_arg {
            return None;
        }
        Some(table_arg(parser))
    }
}

/// Parses `TABLE name [PARTITION BY key | PARTITION BY (key, …)]` into `__table(name, key, …)`; `name` may
/// be a side stream (`vibration.dead_letters`). One key, or several in parentheses (as in Flink): a comma
/// after the key starts the function's next argument.
fn table_arg(parser: &mut Parser) -> Result<Expr, ParserError> {
    parser.expect_keyword(Keyword::TABLE)?;
    let mut parts = vec![parser.parse_identifier()?];
    while parser.consume_token(&Token::Period) {
        parts.push(parser.parse_identifier()?);
    }
    let name = if parts.len() == 1 {
        Expr::Identifier(parts.remove(0))
    } else {
        Expr::CompoundIdentifier(parts)
    };
    let mut args = vec![arg(name)];
    if parser.parse_keywords(&[Keyword::PARTITION, Keyword::BY]) {
        match parser.parse_expr()? {
            Expr::Tuple(keys) => args.extend(keys.into_iter().map(arg)),
            Expr::Nested(key) => args.push(arg(*key)),
            key => args.push(arg(key)),
        }
    }
    Ok(Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(TABLE_ARG)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args,
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    }))
}

fn arg(e: Expr) -> FunctionArg {
    FunctionArg::Unnamed(FunctionArgExpr::Expr(e))
}
