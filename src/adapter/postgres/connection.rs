//! One session with the server, as the executor uses it: taken from the pool with a Ctrl-C
//! hook and the statement timeout already set, then statements over the simple protocol (so a
//! string of several statements works) and rows in through `COPY`.

use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use deadpool_postgres::Object;
use futures_util::SinkExt;
use tokio_postgres::SimpleQueryMessage;

use super::Postgres;
use super::errors::{connect_error, db_err, db_err_in};
use crate::adapter::{
    AdapterError, ColumnInfo, Connection, InsertSink, Row, RowSink, Table, column_infos,
};
use crate::sql::Dialect;

impl Postgres {
    /// A session from the pool, ready for a node: Ctrl-C cancels what it runs, and the
    /// target's statement timeout is set.
    pub(super) fn connection(&self) -> Result<PgConnection, AdapterError> {
        let client = self
            .runtime
            .block_on(self.pool.get())
            .map_err(|e| connect_error(&self.settings, e))?;
        let token = client.cancel_token();
        let (tls, runtime) = (self.tls.clone(), self.runtime.clone());
        let cancel = crate::cancel::on_request(move || {
            let (token, tls) = (token.clone(), tls.clone());
            runtime.spawn(async move { token.cancel_query(tls).await });
        });
        let mut conn = PgConnection {
            client,
            runtime: self.runtime.clone(),
            dialect: self.dialect,
            _cancel: cancel,
        };
        if let Some(timeout) = &self.settings.statement_timeout {
            conn.execute(&format!(
                "set statement_timeout = {}",
                self.dialect.literal(timeout)
            ))?;
        }
        Ok(conn)
    }
}

pub struct PgConnection {
    client: Object,
    runtime: Arc<tokio::runtime::Runtime>,
    dialect: Dialect,
    /// Ctrl-C sends the server a cancel request for what this connection is running.
    _cancel: crate::cancel::Hooked,
}

impl PgConnection {
    /// Simple-protocol query: several statements in one string work, every value is text.
    fn simple(&mut self, sql: &str) -> Result<Vec<SimpleQueryMessage>, AdapterError> {
        let client = &self.client;
        self.runtime
            .block_on(client.simple_query(sql))
            .map_err(|e| db_err_in(e, sql))
    }
}

impl Connection for PgConnection {
    fn execute(&mut self, sql: &str) -> Result<Option<u64>, AdapterError> {
        let messages = self.simple(sql)?;
        Ok(messages.iter().rev().find_map(|m| match m {
            SimpleQueryMessage::CommandComplete(n) => Some(*n),
            _ => None,
        }))
    }

    fn query(&mut self, sql: &str) -> Result<Table, AdapterError> {
        let mut table = Table::default();
        for message in self.simple(sql)? {
            match message {
                SimpleQueryMessage::RowDescription(columns) => {
                    table.columns = columns.iter().map(|c| c.name().to_string()).collect();
                    table.rows.clear();
                }
                SimpleQueryMessage::Row(row) => table.rows.push(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_string))
                        .collect(),
                ),
                _ => {}
            }
        }
        Ok(table)
    }

    /// Types as DDL spells them (`character varying(20)`, `numeric(10,2)`), so a column added
    /// by `on_schema_change` gets exactly the type it had.
    fn columns(&mut self, schema: &str, name: &str) -> Result<Vec<ColumnInfo>, AdapterError> {
        let sql = format!(
            "select a.attname, format_type(a.atttypid, a.atttypmod) \
             from pg_attribute a join pg_class c on c.oid = a.attrelid \
             join pg_namespace n on n.oid = c.relnamespace \
             where n.nspname = {} and c.relname = {} and a.attnum > 0 and not a.attisdropped \
             order by a.attnum",
            Dialect::Postgres.literal(schema),
            Dialect::Postgres.literal(name)
        );
        Ok(column_infos(self.query(&sql)?))
    }

    fn describe(&mut self, sql: &str) -> Result<Vec<ColumnInfo>, AdapterError> {
        let sql = sql.trim().trim_end_matches(';');
        let client = &self.client;
        let statement = self
            .runtime
            .block_on(client.prepare(sql))
            .map_err(|e| db_err_in(e, sql))?;
        Ok(statement
            .columns()
            .iter()
            .map(|c| ColumnInfo {
                name: c.name().to_string(),
                data_type: ddl_type(c.type_().name()).to_string(),
            })
            .collect())
    }

    fn copy_in<'a>(
        &'a mut self,
        table: &str,
        columns: &[String],
    ) -> Result<Box<dyn RowSink + 'a>, AdapterError> {
        if self.dialect == Dialect::Redshift {
            let dialect = self.dialect;
            return Ok(Box::new(InsertSink::new(self, dialect, table, columns)));
        }
        let list = columns
            .iter()
            .map(|c| Dialect::Postgres.quote(c))
            .collect::<Vec<_>>()
            .join(", ");
        let statement = format!("copy {table} ({list}) from stdin with (format csv)");
        let client = &self.client;
        let sink = self
            .runtime
            .block_on(client.copy_in::<_, bytes::Bytes>(statement.as_str()))
            .map_err(db_err)?;
        Ok(Box::new(CopySink {
            sink: Box::pin(sink),
            runtime: &self.runtime,
        }))
    }
}

/// `COPY … FROM STDIN` fed as CSV: NULL is an empty unquoted field, text is always quoted, so
/// an empty string stays an empty string.
struct CopySink<'a> {
    sink: std::pin::Pin<Box<tokio_postgres::CopyInSink<bytes::Bytes>>>,
    runtime: &'a tokio::runtime::Runtime,
}

impl RowSink for CopySink<'_> {
    fn write(&mut self, rows: &[Row]) -> Result<(), AdapterError> {
        let mut buf = BytesMut::with_capacity(rows.len() * 128);
        for row in rows {
            for (i, value) in row.iter().enumerate() {
                if i > 0 {
                    buf.put_u8(b',');
                }
                if let Some(v) = value {
                    buf.put_u8(b'"');
                    buf.put_slice(v.replace('"', "\"\"").as_bytes());
                    buf.put_u8(b'"');
                }
            }
            buf.put_u8(b'\n');
        }
        let sink = &mut self.sink;
        self.runtime
            .block_on(sink.send(buf.freeze()))
            .map_err(db_err)
    }

    fn finish(mut self: Box<Self>) -> Result<u64, AdapterError> {
        let sink = &mut self.sink;
        self.runtime
            .block_on(sink.as_mut().finish())
            .map_err(db_err)
    }
}

/// DDL names for the wire protocol's type names (`int8` → `bigint`).
fn ddl_type(wire: &str) -> &str {
    match wire {
        "int8" => "bigint",
        "int4" => "integer",
        "int2" => "smallint",
        "float8" => "double precision",
        "float4" => "real",
        "bool" => "boolean",
        "varchar" => "character varying",
        "bpchar" => "character",
        "timestamptz" => "timestamp with time zone",
        other => other,
    }
}
