//! `LIMIT n` written into the SQL text instead of sent as a bind parameter.
//!
//! PostgreSQL plans a prepared statement with parameters again on every execution until a
//! generic plan looks no dearer than the custom ones. A generic `LIMIT $n` is costed as if it
//! returned a tenth of the rows, so a page query never looks that cheap and is planned anew
//! for every page served. With the page size in the text, the generic plan is as cheap as a
//! custom one and PostgreSQL settles on it after a few executions.
//!
//! Only validated sizes belong here (a page size of 1–200): each distinct size is its own
//! statement, prepared once per connection.

use diesel::QueryResult;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};

/// `.limited(n)`: the query with `LIMIT n` in its text. Apply it last, after every filter.
pub trait LimitedDsl: Sized {
    fn limited(self, limit: i64) -> Limited<Self> {
        Limited { query: self, limit }
    }
}

impl<Q: Query> LimitedDsl for Q {}

/// A query with its `LIMIT` in the SQL text ([`LimitedDsl::limited`]).
#[derive(Debug, Clone)]
pub struct Limited<Q> {
    query: Q,
    limit: i64,
}

impl<Q: Query> Query for Limited<Q> {
    type SqlType = Q::SqlType;
}

impl<Q: QueryFragment<Pg>> QueryFragment<Pg> for Limited<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        self.query.walk_ast(out.reborrow())?;
        out.push_sql(" LIMIT ");
        out.push_sql(&self.limit.to_string());
        Ok(())
    }
}

/// The text differs with the limit, so the statement is cached by its SQL, never by type.
impl<Q> QueryId for Limited<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

#[cfg(test)]
mod tests {
    use diesel::prelude::*;

    use super::LimitedDsl;

    diesel::table! {
        pages (id) {
            id -> Integer,
            title -> Text,
        }
    }

    #[test]
    fn the_limit_is_in_the_text_and_the_filters_stay_bound() {
        let query = pages::table
            .filter(pages::title.eq("Køkken"))
            .order(pages::id)
            .select(pages::id)
            .into_boxed()
            .limited(51);
        let sql = diesel::debug_query::<diesel::pg::Pg, _>(&query).to_string();
        assert!(
            sql.starts_with(
                r#"SELECT "pages"."id" FROM "pages" WHERE ("pages"."title" = $1) ORDER BY "pages"."id" LIMIT 51 -- binds: ["Køkken"]"#
            ),
            "{sql}"
        );
    }
}
