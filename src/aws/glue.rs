//! The Glue Data Catalog: databases, external Parquet tables and their partitions, so Redshift
//! Spectrum and Athena can query what etlx writes to S3 and what lands there.

use aws_sdk_glue::types::{
    BatchUpdatePartitionRequestEntry, Column, DatabaseInput, PartitionError, PartitionInput,
    PartitionValueList, SerDeInfo, StorageDescriptor, TableInput,
};

use super::{Aws, AwsError, service_error};

/// A column as Glue (Hive) types it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlueColumn {
    pub name: String,
    pub glue_type: String,
}

/// An external table: data columns, partition columns, where the files are and their format.
#[derive(Debug, Clone)]
pub struct ExternalTable {
    pub database: String,
    pub name: String,
    pub columns: Vec<GlueColumn>,
    pub partition_keys: Vec<GlueColumn>,
    pub location: String,
    pub format: FileFormat,
    pub description: Option<String>,
}

impl ExternalTable {
    /// `database.name`, as errors name the table.
    fn qualified(&self) -> String {
        format!("{}.{}", self.database, self.name)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Parquet,
    Json,
    Csv,
}

impl FileFormat {
    /// The format a source's DuckDB reader reads (`read_json(…)` and so on).
    pub fn of_reader(reader: &str) -> FileFormat {
        match reader.split('(').next() {
            Some("read_json") => FileFormat::Json,
            Some("read_csv") => FileFormat::Csv,
            _ => FileFormat::Parquet,
        }
    }

    fn name(self) -> &'static str {
        match self {
            FileFormat::Parquet => "parquet",
            FileFormat::Json => "json",
            FileFormat::Csv => "csv",
        }
    }

    /// Input format, output format and SerDe, as Athena and Spectrum expect them.
    fn hive(self) -> (&'static str, &'static str, &'static str) {
        const TEXT_IN: &str = "org.apache.hadoop.mapred.TextInputFormat";
        const TEXT_OUT: &str = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat";
        match self {
            FileFormat::Parquet => (
                "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat",
                "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
            ),
            FileFormat::Json => (TEXT_IN, TEXT_OUT, "org.openx.data.jsonserde.JsonSerDe"),
            FileFormat::Csv => (
                TEXT_IN,
                TEXT_OUT,
                "org.apache.hadoop.hive.serde2.OpenCSVSerde",
            ),
        }
    }
}

/// Glue's type for a type DuckDB reports.
pub fn glue_type(duckdb_type: &str) -> String {
    let t = duckdb_type.trim().to_ascii_uppercase();
    let mapped = match t.as_str() {
        "VARCHAR" | "TEXT" | "STRING" | "UUID" | "JSON" | "TIME" | "INTERVAL" => "string",
        "BIGINT" | "INT8" | "UINTEGER" => "bigint",
        "INTEGER" | "INT" | "INT4" | "USMALLINT" => "int",
        "SMALLINT" | "UTINYINT" => "smallint",
        "TINYINT" => "tinyint",
        "HUGEINT" | "UBIGINT" | "UHUGEINT" => "decimal(38,0)",
        "DOUBLE" | "DOUBLE PRECISION" | "FLOAT8" => "double",
        "FLOAT" | "REAL" => "float",
        "BOOLEAN" => "boolean",
        "DATE" => "date",
        "BLOB" => "binary",
        _ if t.starts_with("TIMESTAMP") => "timestamp",
        _ if t.starts_with("DECIMAL") => return t.to_lowercase(),
        _ => "string",
    };
    mapped.to_string()
}

fn columns(cols: &[GlueColumn]) -> Result<Vec<Column>, AwsError> {
    cols.iter()
        .map(|c| {
            Column::builder()
                .name(&c.name)
                .r#type(&c.glue_type)
                .build()
                .map_err(|e| AwsError::Config(e.to_string()))
        })
        .collect()
}

/// A failed item of a batch call: its partition values and what Glue said.
fn partition_error(e: &PartitionError) -> (Vec<String>, String) {
    (e.partition_values().to_vec(), detail(e.error_detail()))
}

fn detail(d: Option<&aws_sdk_glue::types::ErrorDetail>) -> String {
    d.and_then(|d| d.error_message())
        .unwrap_or_default()
        .to_string()
}

/// A batch call's per-item errors as one error naming each failed partition.
fn item_errors(
    operation: &'static str,
    table: &str,
    errors: Vec<(Vec<String>, String)>,
) -> Result<(), AwsError> {
    let failed: Vec<String> = errors
        .into_iter()
        .map(|(values, message)| format!("({}): {message}", values.join(", ")))
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    Err(AwsError::Service {
        operation,
        what: table.to_string(),
        message: format!(
            "{} partition(s) failed: {}",
            failed.len(),
            failed.join("; ")
        ),
    })
}

/// A partition's values and folder, as Glue takes them.
fn partition_input(
    t: &ExternalTable,
    (values, location): &(Vec<String>, String),
) -> Result<PartitionInput, AwsError> {
    Ok(PartitionInput::builder()
        .set_values(Some(values.clone()))
        .storage_descriptor(storage(t, location)?)
        .build())
}

fn storage(t: &ExternalTable, location: &str) -> Result<StorageDescriptor, AwsError> {
    let (input, output, serde) = t.format.hive();
    let mut serde_info = SerDeInfo::builder().serialization_library(serde);
    if t.format == FileFormat::Csv {
        serde_info = serde_info.parameters("separatorChar", ",");
    }
    Ok(StorageDescriptor::builder()
        .set_columns(Some(columns(&t.columns)?))
        .location(location)
        .input_format(input)
        .output_format(output)
        .serde_info(serde_info.build())
        .build())
}

impl Aws {
    pub fn ensure_database(&self, name: &str) -> Result<bool, AwsError> {
        match self.block_on(self.glue.get_database().name(name).send()) {
            Ok(_) => return Ok(false),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_entity_not_found_exception()) => {}
            Err(e) => return Err(service_error("reading Glue database", name, e)),
        }
        let input = DatabaseInput::builder()
            .name(name)
            .description("created by etlx")
            .build()
            .map_err(|e| AwsError::Config(e.to_string()))?;
        self.block_on(self.glue.create_database().database_input(input).send())
            .map_err(|e| service_error("creating Glue database", name, e))?;
        Ok(true)
    }

    /// The table's current location, or `None` when it does not exist.
    pub fn table_location(&self, database: &str, name: &str) -> Result<Option<String>, AwsError> {
        match self.block_on(
            self.glue
                .get_table()
                .database_name(database)
                .name(name)
                .send(),
        ) {
            Ok(out) => Ok(out
                .table()
                .and_then(|t| t.storage_descriptor())
                .and_then(|sd| sd.location())
                .map(str::to_string)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_entity_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(service_error(
                "reading Glue table",
                format!("{database}.{name}"),
                e,
            )),
        }
    }

    /// Create the table, or point the existing one at the new columns and location in one
    /// UpdateTable, so readers switch from the old files to the new ones at once.
    pub fn upsert_table(&self, t: &ExternalTable) -> Result<(), AwsError> {
        let what = t.qualified();
        let input = TableInput::builder()
            .name(&t.name)
            .set_description(t.description.clone())
            .table_type("EXTERNAL_TABLE")
            .parameters("classification", t.format.name())
            .parameters("EXTERNAL", "TRUE")
            .parameters("created_by", "etlx")
            .storage_descriptor(storage(t, &t.location)?)
            .set_partition_keys(Some(columns(&t.partition_keys)?))
            .build()
            .map_err(|e| AwsError::Config(e.to_string()))?;
        if self.table_location(&t.database, &t.name)?.is_some() {
            self.block_on(
                self.glue
                    .update_table()
                    .database_name(&t.database)
                    .table_input(input)
                    .send(),
            )
            .map_err(|e| service_error("updating Glue table", what, e))?;
        } else {
            self.block_on(
                self.glue
                    .create_table()
                    .database_name(&t.database)
                    .table_input(input)
                    .send(),
            )
            .map_err(|e| service_error("creating Glue table", what, e))?;
        }
        Ok(())
    }

    /// Every partition's values, e.g. `[["2018-11-01"], ["2018-11-02"]]`.
    pub fn partitions(&self, database: &str, table: &str) -> Result<Vec<Vec<String>>, AwsError> {
        let mut out = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .block_on(
                    self.glue
                        .get_partitions()
                        .database_name(database)
                        .table_name(table)
                        .set_next_token(token)
                        .send(),
                )
                .map_err(|e| {
                    service_error("reading partitions of", format!("{database}.{table}"), e)
                })?;
            out.extend(page.partitions().iter().map(|p| p.values().to_vec()));
            token = page.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        Ok(out)
    }

    /// Make the table's partitions exactly `wanted` (values and the folder of each) without
    /// a moment where readers see none: new partitions are created and kept ones pointed at
    /// their new folder first, and only then are the partitions that are gone deleted. Glue's
    /// batch calls answer 200 with per-item errors, so every item's outcome is checked.
    pub fn replace_partitions(
        &self,
        t: &ExternalTable,
        wanted: &[(Vec<String>, String)],
    ) -> Result<(), AwsError> {
        let existing: std::collections::HashSet<Vec<String>> =
            self.partitions(&t.database, &t.name)?.into_iter().collect();
        let (kept, new): (Vec<_>, Vec<_>) = wanted.iter().partition(|(v, _)| existing.contains(v));
        self.create_partitions(t, &new)?;
        self.move_partitions(t, &kept)?;
        let wanted_values: std::collections::HashSet<&Vec<String>> =
            wanted.iter().map(|(v, _)| v).collect();
        let gone: Vec<&Vec<String>> = existing
            .iter()
            .filter(|v| !wanted_values.contains(v))
            .collect();
        self.delete_partitions(t, &gone)
    }

    fn create_partitions(
        &self,
        t: &ExternalTable,
        new: &[&(Vec<String>, String)],
    ) -> Result<(), AwsError> {
        for batch in new.chunks(100) {
            let inputs = batch
                .iter()
                .map(|w| partition_input(t, w))
                .collect::<Result<_, _>>()?;
            let call = self
                .glue
                .batch_create_partition()
                .database_name(&t.database)
                .table_name(&t.name)
                .set_partition_input_list(Some(inputs))
                .send();
            self.batch("adding partitions to", &t.qualified(), call, |out| {
                out.errors().iter().map(partition_error).collect()
            })?;
        }
        Ok(())
    }

    /// Point partitions that stay at their new folder.
    fn move_partitions(
        &self,
        t: &ExternalTable,
        kept: &[&(Vec<String>, String)],
    ) -> Result<(), AwsError> {
        for batch in kept.chunks(100) {
            let entries = batch
                .iter()
                .map(|w| {
                    BatchUpdatePartitionRequestEntry::builder()
                        .set_partition_value_list(Some(w.0.clone()))
                        .partition_input(partition_input(t, w)?)
                        .build()
                        .map_err(|e| AwsError::Config(e.to_string()))
                })
                .collect::<Result<_, _>>()?;
            let call = self
                .glue
                .batch_update_partition()
                .database_name(&t.database)
                .table_name(&t.name)
                .set_entries(Some(entries))
                .send();
            self.batch("moving partitions of", &t.qualified(), call, |out| {
                let failed = |e: &aws_sdk_glue::types::BatchUpdatePartitionFailureEntry| {
                    (e.partition_value_list().to_vec(), detail(e.error_detail()))
                };
                out.errors().iter().map(failed).collect()
            })?;
        }
        Ok(())
    }

    fn delete_partitions(&self, t: &ExternalTable, gone: &[&Vec<String>]) -> Result<(), AwsError> {
        // Glue deletes at most 25 partitions per call.
        for batch in gone.chunks(25) {
            let lists = batch
                .iter()
                .map(|values| {
                    PartitionValueList::builder()
                        .set_values(Some((*values).clone()))
                        .build()
                        .map_err(|e| AwsError::Config(e.to_string()))
                })
                .collect::<Result<_, _>>()?;
            let call = self
                .glue
                .batch_delete_partition()
                .database_name(&t.database)
                .table_name(&t.name)
                .set_partitions_to_delete(Some(lists))
                .send();
            self.batch("dropping old partitions of", &t.qualified(), call, |out| {
                out.errors().iter().map(partition_error).collect()
            })?;
        }
        Ok(())
    }

    /// One of Glue's batch calls: the call's own failure, or any item that failed in it.
    fn batch<T, E>(
        &self,
        operation: &'static str,
        table: &str,
        call: impl std::future::Future<Output = Result<T, E>>,
        failed: impl FnOnce(&T) -> Vec<(Vec<String>, String)>,
    ) -> Result<(), AwsError>
    where
        E: std::error::Error + aws_sdk_glue::error::ProvideErrorMetadata + 'static,
    {
        let out = self
            .block_on(call)
            .map_err(|e| service_error(operation, table, e))?;
        item_errors(operation, table, failed(&out))
    }

    /// The table's columns as Glue holds them: data columns, then partition keys.
    pub fn table_columns(
        &self,
        database: &str,
        name: &str,
    ) -> Result<(Vec<GlueColumn>, Vec<GlueColumn>), AwsError> {
        let out = self
            .block_on(
                self.glue
                    .get_table()
                    .database_name(database)
                    .name(name)
                    .send(),
            )
            .map_err(|e| service_error("reading Glue table", format!("{database}.{name}"), e))?;
        let glue = |c: &Column| GlueColumn {
            name: c.name().to_string(),
            glue_type: c.r#type().unwrap_or_default().to_string(),
        };
        let table = out.table();
        let data = table
            .and_then(|t| t.storage_descriptor())
            .map(|sd| sd.columns().iter().map(glue).collect())
            .unwrap_or_default();
        let keys = table
            .map(|t| t.partition_keys().iter().map(glue).collect())
            .unwrap_or_default();
        Ok((data, keys))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_item_errors_of_a_batch_fail_the_call() {
        assert!(item_errors("adding partitions to", "lake.t", Vec::new()).is_ok());
        let detail = aws_sdk_glue::types::ErrorDetail::builder()
            .error_code("AlreadyExistsException")
            .error_message("Partition already exists.")
            .build();
        let failed = PartitionError::builder()
            .partition_values("2018-11-01")
            .error_detail(detail)
            .build();
        let err = item_errors(
            "adding partitions to",
            "lake.daily_plays",
            vec![partition_error(&failed)],
        )
        .expect_err("a failed item fails the call");
        assert_eq!(
            err.to_string(),
            "adding partitions to lake.daily_plays: 1 partition(s) failed: (2018-11-01): Partition already exists."
        );
    }
}
