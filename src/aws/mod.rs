//! AWS: the S3 landing zone and the Glue Data Catalog.
//!
//! Production lands files in S3 and publishes curated data sets to Glue, so etlx talks to both
//! with aws-sdk-rust. Region, endpoint (S3-compatible stores, local test servers), the IAM role
//! Redshift assumes for COPY/UNLOAD and the staging prefix come from the target in
//! profiles.yml; credentials come from the standard AWS chain (environment, profile, instance
//! role) and are never printed. The rest of etlx is synchronous, so this module owns a small
//! runtime and blocks on it.

pub mod glue;
pub mod s3;

use std::sync::Arc;

use crate::project::Target;

#[derive(Debug, thiserror::Error)]
pub enum AwsError {
    #[error("{0}")]
    Config(String),
    /// What the service said, with the operation and the object it was about.
    #[error("{operation} {what}: {message}")]
    Service {
        operation: &'static str,
        what: String,
        message: String,
    },
    #[error("{0}")]
    Io(String),
}

/// The part of a location before its first glob character: what to list in S3.
pub fn literal_prefix(location: &str) -> &str {
    let end = location
        .find(['*', '?', '[', '{'])
        .unwrap_or(location.len());
    &location[..end]
}

/// `s3://bucket/key/prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    pub key: String,
}

impl S3Url {
    pub fn parse(url: &str) -> Result<S3Url, AwsError> {
        let rest = url.strip_prefix("s3://").ok_or_else(|| {
            AwsError::Config(format!("'{url}' is not an S3 URL (s3://bucket/prefix)"))
        })?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(AwsError::Config(format!("'{url}' names no bucket")));
        }
        Ok(S3Url {
            bucket: bucket.to_string(),
            key: key.to_string(),
        })
    }

    /// The same bucket, `rest` appended to the key.
    pub fn join(&self, rest: &str) -> S3Url {
        let sep = if self.key.is_empty() || self.key.ends_with('/') {
            ""
        } else {
            "/"
        };
        S3Url {
            bucket: self.bucket.clone(),
            key: format!("{}{sep}{rest}", self.key),
        }
    }
}

impl std::fmt::Display for S3Url {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// The target's AWS settings (`aws_region`, `aws_endpoint_url`, `aws_profile`, `aws_iam_role`,
/// `s3_staging`, `glue_database`; `aws_access_key_id` and `aws_secret_access_key` only for
/// stores outside AWS: otherwise the standard chain finds credentials).
#[derive(Clone, Default)]
pub struct AwsSettings {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
    pub profile: Option<String>,
    pub iam_role: Option<String>,
    pub staging: Option<String>,
    pub glue_database: Option<String>,
}

impl std::fmt::Debug for AwsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret key.
        f.debug_struct("AwsSettings")
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .field("profile", &self.profile)
            .field("glue_database", &self.glue_database)
            .finish_non_exhaustive()
    }
}

impl AwsSettings {
    pub fn from_target(target: &Target) -> AwsSettings {
        let get = |key: &str| target.setting_str(key).map(str::to_string);
        AwsSettings {
            access_key_id: get("aws_access_key_id"),
            secret_access_key: get("aws_secret_access_key"),
            region: get("aws_region"),
            endpoint_url: get("aws_endpoint_url"),
            profile: get("aws_profile"),
            iam_role: get("aws_iam_role"),
            staging: get("s3_staging"),
            glue_database: get("glue_database"),
        }
    }
}

/// Clients for S3 and Glue, made once per command.
pub struct Aws {
    runtime: Arc<tokio::runtime::Runtime>,
    pub s3: aws_sdk_s3::Client,
    pub glue: aws_sdk_glue::Client,
    pub settings: AwsSettings,
}

impl Aws {
    pub fn connect(settings: AwsSettings) -> Result<Aws, AwsError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| AwsError::Config(format!("cannot start the I/O runtime: {e}")))?;
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = &settings.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some(profile) = &settings.profile {
            loader = loader.profile_name(profile);
        }
        if let (Some(id), Some(secret)) = (&settings.access_key_id, &settings.secret_access_key) {
            loader = loader.credentials_provider(aws_sdk_s3::config::Credentials::new(
                id,
                secret,
                None,
                None,
                "profiles.yml",
            ));
        }
        let config = runtime.block_on(loader.load());
        // S3-compatible stores and local servers want path-style addressing.
        let s3_config = aws_sdk_s3::config::Builder::from(&config)
            .force_path_style(settings.endpoint_url.is_some())
            .build();
        Ok(Aws {
            s3: aws_sdk_s3::Client::from_conf(s3_config),
            glue: aws_sdk_glue::Client::new(&config),
            runtime: Arc::new(runtime),
            settings,
        })
    }

    /// Run one SDK call to completion (for callers holding the clients directly).
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }
}

/// An SDK error as one line: the service's code and message when it answered, otherwise
/// what stopped the request (no credentials, no connection), with the fix where it is clear.
pub(crate) fn service_error<E>(operation: &'static str, what: impl Into<String>, e: E) -> AwsError
where
    E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + 'static,
{
    let message = match (e.code(), e.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_string(),
        _ => {
            let chain = causes(&e);
            let hint = if chain.contains("no credentials") {
                "; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or `aws_profile` in the target, or run where an instance role is available"
            } else if chain.contains("Connection refused") || chain.contains("dns error") {
                "; check `aws_endpoint_url` and `aws_region` in the target"
            } else {
                ""
            };
            format!("{chain}{hint}")
        }
    };
    AwsError::Service {
        operation,
        what: what.into(),
        message,
    }
}

/// The first line of each cause, distinct ones only: the SDK nests the useful part deep.
fn causes(e: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = next {
        let text = err.to_string();
        let line = text.lines().next().unwrap_or_default().trim();
        let line = line.trim_end_matches([':', '.']).to_string();
        if !line.is_empty() && !parts.iter().any(|p| p.contains(&line)) {
            parts.push(line);
        }
        next = err.source();
    }
    parts.join(": ")
}
