//! The small, safe expression language of workflow definitions: paths into the execution's
//! data (`input.cvr`, `steps.validate.valid`, `vars.api_key`, `event.deal.stage`), literals,
//! comparison, boolean and arithmetic operators, and a few pure functions. No loops, no I/O,
//! bounded depth: an expression always ends, quickly.
//!
//! Templates are JSON values whose strings may hold `{{ expression }}`: a string that is one
//! whole expression becomes its value (of any JSON type), otherwise each expression is
//! rendered into the text.

use serde_json::{Map, Value};

/// The deepest nesting an expression may have.
const MAX_DEPTH: usize = 48;
/// The longest expression accepted.
pub const MAX_LEN: usize = 2000;

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Literal(Value),
    /// A root name (`input`), then member and index accesses.
    Path(String, Vec<Access>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Binary(Box<Expr>, Op, Box<Expr>),
    Call(String, Vec<Expr>),
    List(Vec<Expr>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Access {
    Member(String),
    Index(Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
}

/// The root names an expression may start from.
pub const ROOTS: [&str; 5] = ["input", "steps", "vars", "event", "execution"];

const FUNCTIONS: [&str; 12] = [
    "cvr_valid",
    "lower",
    "upper",
    "trim",
    "len",
    "contains",
    "starts_with",
    "default",
    "concat",
    "number",
    "string",
    "now",
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExprError(pub String);

fn err<T>(message: impl Into<String>) -> Result<T, ExprError> {
    Err(ExprError(message.into()))
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(f64),
    Str(String),
    Ident(String),
    Sym(&'static str),
}

fn tokens(source: &str) -> Result<Vec<Token>, ExprError> {
    if source.len() > MAX_LEN {
        return err(format!("longer than {MAX_LEN} characters"));
    }
    let chars: Vec<char> = source.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            out.push(Token::Number(
                text.parse()
                    .map_err(|_| ExprError(format!("{text:?} is not a number")))?,
            ));
        } else if c == '\'' || c == '"' {
            let mut text = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return err("a string is not closed"),
                    Some('\\') => {
                        match chars.get(i + 1) {
                            Some('n') => text.push('\n'),
                            Some(&other) => text.push(other),
                            None => return err("a string is not closed"),
                        }
                        i += 2;
                    }
                    Some(&q) if q == c => {
                        i += 1;
                        break;
                    }
                    Some(&other) => {
                        text.push(other);
                        i += 1;
                    }
                }
            }
            out.push(Token::Str(text));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Token::Ident(chars[start..i].iter().collect()));
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let sym = ["==", "!=", "<=", ">=", "&&", "||"]
                .into_iter()
                .find(|s| *s == two);
            if let Some(sym) = sym {
                out.push(Token::Sym(sym));
                i += 2;
                continue;
            }
            let sym = [
                "(", ")", "[", "]", ".", ",", "!", "<", ">", "+", "-", "*", "/",
            ]
            .into_iter()
            .find(|s| s.starts_with(c))
            .ok_or_else(|| ExprError(format!("unexpected {c:?}")))?;
            out.push(Token::Sym(sym));
            i += 1;
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn eat(&mut self, sym: &str) -> bool {
        if matches!(self.peek(), Some(Token::Sym(s)) if *s == sym) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, sym: &str) -> Result<(), ExprError> {
        if self.eat(sym) {
            Ok(())
        } else {
            err(format!("expected {sym:?}"))
        }
    }

    fn deeper(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err("nested too deeply");
        }
        Ok(())
    }

    fn binary(
        &mut self,
        ops: &[(&'static str, Op)],
        next: fn(&mut Self) -> Result<Expr, ExprError>,
    ) -> Result<Expr, ExprError> {
        let mut left = next(self)?;
        'outer: loop {
            for (sym, op) in ops {
                if self.eat(sym) {
                    let right = next(self)?;
                    left = Expr::Binary(Box::new(left), *op, Box::new(right));
                    continue 'outer;
                }
            }
            return Ok(left);
        }
    }

    fn expr(&mut self) -> Result<Expr, ExprError> {
        self.deeper()?;
        let e = self.binary(&[("||", Op::Or)], Self::and);
        self.depth -= 1;
        e
    }

    fn and(&mut self) -> Result<Expr, ExprError> {
        self.binary(&[("&&", Op::And)], Self::comparison)
    }

    fn comparison(&mut self) -> Result<Expr, ExprError> {
        self.binary(
            &[
                ("==", Op::Eq),
                ("!=", Op::Ne),
                ("<=", Op::Le),
                (">=", Op::Ge),
                ("<", Op::Lt),
                (">", Op::Gt),
            ],
            Self::sum,
        )
    }

    fn sum(&mut self) -> Result<Expr, ExprError> {
        self.binary(&[("+", Op::Add), ("-", Op::Sub)], Self::product)
    }

    fn product(&mut self) -> Result<Expr, ExprError> {
        self.binary(&[("*", Op::Mul), ("/", Op::Div)], Self::unary)
    }

    fn unary(&mut self) -> Result<Expr, ExprError> {
        self.deeper()?;
        let e = if self.eat("!") {
            Ok(Expr::Not(Box::new(self.unary()?)))
        } else if self.eat("-") {
            Ok(Expr::Neg(Box::new(self.unary()?)))
        } else {
            self.postfix()
        };
        self.depth -= 1;
        e
    }

    fn postfix(&mut self) -> Result<Expr, ExprError> {
        let primary = self.primary()?;
        let Expr::Path(root, mut accesses) = primary else {
            return Ok(primary);
        };
        loop {
            if self.eat(".") {
                match self.peek().cloned() {
                    Some(Token::Ident(name)) => {
                        self.at += 1;
                        accesses.push(Access::Member(name));
                    }
                    _ => return err("expected a name after '.'"),
                }
            } else if self.eat("[") {
                let index = self.expr()?;
                self.expect("]")?;
                accesses.push(Access::Index(Box::new(index)));
            } else {
                return Ok(Expr::Path(root, accesses));
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, ExprError> {
        let Some(token) = self.peek().cloned() else {
            return err("unexpected end");
        };
        self.at += 1;
        match token {
            Token::Number(n) => Ok(Expr::Literal(number(n))),
            Token::Str(s) => Ok(Expr::Literal(Value::String(s))),
            Token::Ident(name) => match name.as_str() {
                "true" => Ok(Expr::Literal(Value::Bool(true))),
                "false" => Ok(Expr::Literal(Value::Bool(false))),
                "null" => Ok(Expr::Literal(Value::Null)),
                _ if self.eat("(") => {
                    if !FUNCTIONS.contains(&name.as_str()) {
                        return err(format!(
                            "unknown function {name}; known: {}",
                            FUNCTIONS.join(", ")
                        ));
                    }
                    let mut args = Vec::new();
                    if !self.eat(")") {
                        loop {
                            args.push(self.expr()?);
                            if self.eat(")") {
                                break;
                            }
                            self.expect(",")?;
                        }
                    }
                    Ok(Expr::Call(name, args))
                }
                _ if ROOTS.contains(&name.as_str()) => Ok(Expr::Path(name, Vec::new())),
                _ => err(format!(
                    "unknown name {name}; paths start with one of {}",
                    ROOTS.join(", ")
                )),
            },
            Token::Sym("(") => {
                let e = self.expr()?;
                self.expect(")")?;
                Ok(e)
            }
            Token::Sym("[") => {
                let mut items = Vec::new();
                if !self.eat("]") {
                    loop {
                        items.push(self.expr()?);
                        if self.eat("]") {
                            break;
                        }
                        self.expect(",")?;
                    }
                }
                Ok(Expr::List(items))
            }
            Token::Sym(s) => err(format!("unexpected {s:?}")),
        }
    }
}

/// Parses an expression.
pub fn parse(source: &str) -> Result<Expr, ExprError> {
    let mut parser = Parser {
        tokens: tokens(source)?,
        at: 0,
        depth: 0,
    };
    let e = parser.expr()?;
    if parser.at != parser.tokens.len() {
        return err("unexpected text after the expression");
    }
    Ok(e)
}

fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        #[allow(clippy::cast_possible_truncation)]
        Value::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number)
    }
}

/// JavaScript-like truthiness: null, false, 0, "" and empty lists and objects are false.
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// A value as text, for templates: strings as they are, null as nothing, others as JSON.
pub fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn as_number(v: &Value, what: &str) -> Result<f64, ExprError> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .ok_or_else(|| ExprError(format!("{what}: not a number"))),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| ExprError(format!("{what}: {s:?} is not a number"))),
        other => err(format!("{what}: {other} is not a number")),
    }
}

/// Evaluates `e` over `scope` (an object holding the root names).
pub fn eval(e: &Expr, scope: &Map<String, Value>) -> Result<Value, ExprError> {
    Ok(match e {
        Expr::Literal(v) => v.clone(),
        Expr::Path(root, accesses) => {
            let mut at = scope.get(root).cloned().unwrap_or(Value::Null);
            for access in accesses {
                at = match access {
                    Access::Member(name) => at.get(name).cloned().unwrap_or(Value::Null),
                    Access::Index(index) => match eval(index, scope)? {
                        Value::Number(n) => n
                            .as_u64()
                            .and_then(|i| at.get(usize::try_from(i).ok()?))
                            .cloned()
                            .unwrap_or(Value::Null),
                        Value::String(key) => at.get(&key).cloned().unwrap_or(Value::Null),
                        other => return err(format!("cannot index by {other}")),
                    },
                };
            }
            at
        }
        Expr::Not(inner) => Value::Bool(!truthy(&eval(inner, scope)?)),
        Expr::Neg(inner) => number(-as_number(&eval(inner, scope)?, "-")?),
        Expr::Binary(left, op, right) => {
            let l = eval(left, scope)?;
            // && and || short-circuit and yield a boolean.
            match op {
                Op::And => return Ok(Value::Bool(truthy(&l) && truthy(&eval(right, scope)?))),
                Op::Or => return Ok(Value::Bool(truthy(&l) || truthy(&eval(right, scope)?))),
                _ => {}
            }
            let r = eval(right, scope)?;
            match op {
                Op::Eq => Value::Bool(equal(&l, &r)),
                Op::Ne => Value::Bool(!equal(&l, &r)),
                Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                    let ordering = match (&l, &r) {
                        (Value::String(a), Value::String(b)) => a.cmp(b),
                        _ => as_number(&l, "comparison")?
                            .partial_cmp(&as_number(&r, "comparison")?)
                            .ok_or_else(|| ExprError("cannot compare".into()))?,
                    };
                    Value::Bool(match op {
                        Op::Lt => ordering.is_lt(),
                        Op::Le => ordering.is_le(),
                        Op::Gt => ordering.is_gt(),
                        _ => ordering.is_ge(),
                    })
                }
                Op::Add => match (&l, &r) {
                    (Value::String(_), _) | (_, Value::String(_)) => {
                        Value::String(text(&l) + &text(&r))
                    }
                    _ => number(as_number(&l, "+")? + as_number(&r, "+")?),
                },
                Op::Sub => number(as_number(&l, "-")? - as_number(&r, "-")?),
                Op::Mul => number(as_number(&l, "*")? * as_number(&r, "*")?),
                Op::Div => {
                    let d = as_number(&r, "/")?;
                    if d == 0.0 {
                        return err("division by zero");
                    }
                    number(as_number(&l, "/")? / d)
                }
                Op::And | Op::Or => unreachable!("handled above"),
            }
        }
        Expr::List(items) => Value::Array(
            items
                .iter()
                .map(|i| eval(i, scope))
                .collect::<Result<_, _>>()?,
        ),
        Expr::Call(name, args) => {
            let args: Vec<Value> = args
                .iter()
                .map(|a| eval(a, scope))
                .collect::<Result<_, _>>()?;
            call(name, &args)?
        }
    })
}

fn equal(l: &Value, r: &Value) -> bool {
    match (l, r) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => l == r,
    }
}

fn call(name: &str, args: &[Value]) -> Result<Value, ExprError> {
    let arity = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            err(format!("{name} takes {n} argument(s), got {}", args.len()))
        }
    };
    let s = |i: usize| args.get(i).map(text).unwrap_or_default();
    Ok(match name {
        "cvr_valid" => {
            arity(1)?;
            Value::Bool(tekup_types::Cvr::parse(&s(0)).is_ok())
        }
        "lower" => {
            arity(1)?;
            Value::String(s(0).to_lowercase())
        }
        "upper" => {
            arity(1)?;
            Value::String(s(0).to_uppercase())
        }
        "trim" => {
            arity(1)?;
            Value::String(s(0).trim().to_owned())
        }
        "len" => {
            arity(1)?;
            Value::from(match &args[0] {
                Value::Array(a) => a.len(),
                Value::Object(o) => o.len(),
                Value::Null => 0,
                other => text(other).chars().count(),
            })
        }
        "contains" => {
            arity(2)?;
            Value::Bool(match &args[0] {
                Value::Array(a) => a.iter().any(|v| equal(v, &args[1])),
                Value::Object(o) => o.contains_key(&s(1)),
                other => text(other).contains(&s(1)),
            })
        }
        "starts_with" => {
            arity(2)?;
            Value::Bool(s(0).starts_with(&s(1)))
        }
        "default" => {
            arity(2)?;
            if args[0].is_null() || args[0] == Value::String(String::new()) {
                args[1].clone()
            } else {
                args[0].clone()
            }
        }
        "concat" => Value::String(args.iter().map(text).collect()),
        "number" => {
            arity(1)?;
            number(as_number(&args[0], "number")?)
        }
        "string" => {
            arity(1)?;
            Value::String(s(0))
        }
        "now" => {
            arity(0)?;
            Value::String(chrono::Utc::now().to_rfc3339())
        }
        other => return err(format!("unknown function {other}")),
    })
}

/// One piece of a template string.
enum Piece<'a> {
    Text(&'a str),
    Expr(&'a str),
}

fn pieces(s: &str) -> Result<Vec<Piece<'_>>, ExprError> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            out.push(Piece::Text(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| ExprError("a {{ is not closed by }}".into()))?;
        out.push(Piece::Expr(after[..end].trim()));
        rest = &after[end + 2..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

/// Checks every expression of a template; returns the first error with its place.
pub fn check_template(template: &Value, at: &str) -> Result<(), (String, ExprError)> {
    match template {
        Value::String(s) => {
            for piece in pieces(s).map_err(|e| (at.to_owned(), e))? {
                if let Piece::Expr(source) = piece {
                    parse(source).map_err(|e| (at.to_owned(), e))?;
                }
            }
            Ok(())
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_template(v, &format!("{at}[{i}]"))),
        Value::Object(map) => map
            .iter()
            .try_for_each(|(k, v)| check_template(v, &format!("{at}.{k}"))),
        _ => Ok(()),
    }
}

/// Renders a template over `scope`.
pub fn render(template: &Value, scope: &Map<String, Value>) -> Result<Value, ExprError> {
    Ok(match template {
        Value::String(s) => {
            let pieces = pieces(s)?;
            match pieces.as_slice() {
                [Piece::Expr(source)] => eval(&parse(source)?, scope)?,
                _ => {
                    let mut out = String::new();
                    for piece in pieces {
                        match piece {
                            Piece::Text(t) => out.push_str(t),
                            Piece::Expr(source) => {
                                out.push_str(&text(&eval(&parse(source)?, scope)?))
                            }
                        }
                    }
                    Value::String(out)
                }
            }
        }
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render(v, scope))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), render(v, scope)?)))
                .collect::<Result<_, ExprError>>()?,
        ),
        other => other.clone(),
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn scope() -> Map<String, Value> {
        json!({
            "input": {"cvr": "13585628", "name": "Rendetalje", "value": 1500, "tags": ["a", "b"]},
            "steps": {"validate": {"valid": true}},
            "vars": {"token": "s3cret"},
        })
        .as_object()
        .unwrap()
        .clone()
    }

    fn run(source: &str) -> Value {
        eval(&parse(source).unwrap(), &scope()).unwrap()
    }

    #[test]
    fn expressions_read_paths_compare_and_call_functions() {
        assert_eq!(run("input.cvr"), json!("13585628"));
        assert_eq!(run("cvr_valid(input.cvr)"), json!(true));
        assert_eq!(run("cvr_valid('12345678')"), json!(false));
        assert_eq!(
            run("steps.validate.valid && input.value >= 1000"),
            json!(true)
        );
        assert_eq!(run("!(input.value > 2000) || false"), json!(true));
        assert_eq!(run("input.value * 100 + 1"), json!(150_001));
        assert_eq!(run("input.tags[1]"), json!("b"));
        assert_eq!(run("input['name']"), json!("Rendetalje"));
        assert_eq!(run("contains(input.tags, 'a')"), json!(true));
        assert_eq!(run("input.missing.deeper"), Value::Null);
        assert_eq!(run("default(input.missing, 'x')"), json!("x"));
        assert_eq!(run("'Lead ' + lower(input.name)"), json!("Lead rendetalje"));
        assert_eq!(run("len(input.tags) == 2"), json!(true));
        assert_eq!(run("[1, 2, 'x']"), json!([1, 2, "x"]));
    }

    #[test]
    fn bad_expressions_are_refused_with_a_reason() {
        for (source, reason) in [
            ("input.", "expected a name"),
            ("system('rm')", "unknown function"),
            ("env.HOME", "unknown name"),
            ("1 +", "unexpected end"),
            ("'open", "not closed"),
            ("input.a input.b", "unexpected text"),
            ("#", "unexpected"),
        ] {
            let e = parse(source).unwrap_err();
            assert!(e.0.contains(reason), "{source}: {e}");
        }
        let deep = format!("{}1{}", "(".repeat(100), ")".repeat(100));
        assert!(parse(&deep).unwrap_err().0.contains("deeply"));
        assert!(eval(&parse("1 / 0").unwrap(), &scope()).is_err());
    }

    #[test]
    fn templates_keep_types_when_whole_and_interpolate_otherwise() {
        let template = json!({
            "cvr": "{{ input.cvr }}",
            "value": "{{input.value}}",
            "title": "Lead {{ input.name }} ({{ input.cvr }})",
            "auth": "Bearer {{ vars.token }}",
            "list": ["{{ steps.validate.valid }}", 3],
        });
        assert_eq!(
            render(&template, &scope()).unwrap(),
            json!({
                "cvr": "13585628",
                "value": 1500,
                "title": "Lead Rendetalje (13585628)",
                "auth": "Bearer s3cret",
                "list": [true, 3],
            })
        );
        let (at, e) = check_template(&json!({"a": ["ok", "{{ nope( }}"]}), "body").unwrap_err();
        assert_eq!(at, "body.a[1]");
        assert!(!e.0.is_empty());
        assert!(check_template(&json!("{{ input.x"), "t").is_err());
    }
}
