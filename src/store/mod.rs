//! The database (sqlx, SQLite or PostgreSQL): migrations, queries, the apply lock.
//! No other module runs SQL.
