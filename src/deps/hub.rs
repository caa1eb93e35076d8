//! dbt's package hub: which releases a package has, which one a set of version ranges
//! allows, and its tarball unpacked.
//!
//! The hub is a JSON index (`<hub>/api/v1/<org>/<name>.json`, each release with its tarball's
//! address and its own hub dependencies), as dbt reads it; `DBT_PACKAGE_HUB_URL` points dbt,
//! and etlx, at another hub (a mirror, or a test's local server).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::{DepsError, io};

const DEFAULT_HUB: &str = "https://hub.getdbt.com/";

/// One release of a hub package, chosen for a set of ranges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Release {
    pub package: String,
    pub version: String,
    pub tarball: String,
    /// Its own hub dependencies: package and version ranges.
    pub dependencies: Vec<(String, Vec<String>)>,
}

pub struct Hub {
    base: String,
    agent: ureq::Agent,
    /// Index documents already read, by package.
    indexes: std::collections::HashMap<String, serde_json::Value>,
}

impl Hub {
    /// The hub `DBT_PACKAGE_HUB_URL` names, else dbt's.
    pub fn from_env() -> Hub {
        let mut base = std::env::var("DBT_PACKAGE_HUB_URL").unwrap_or(DEFAULT_HUB.into());
        if !base.ends_with('/') {
            base.push('/');
        }
        let native: Vec<ureq::tls::Certificate<'static>> = rustls_native_certs::load_native_certs()
            .certs
            .into_iter()
            .map(|c| ureq::tls::Certificate::from_der(c.as_ref()).to_owned())
            .collect();
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::Rustls)
            .root_certs(ureq::tls::RootCerts::Specific(Arc::new(native)))
            .unversioned_rustls_crypto_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .build();
        let agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .new_agent();
        Hub {
            base,
            agent,
            indexes: Default::default(),
        }
    }

    fn get(&self, url: &str) -> Result<Vec<u8>, DepsError> {
        let failed = |message: String| DepsError::Hub {
            url: url.to_string(),
            message,
        };
        let mut response = self
            .agent
            .get(url)
            .call()
            .map_err(|e| failed(e.to_string()))?;
        response
            .body_mut()
            .with_config()
            .limit(512 * 1024 * 1024)
            .read_to_vec()
            .map_err(|e| failed(e.to_string()))
    }

    fn index(&mut self, package: &str) -> Result<&serde_json::Value, DepsError> {
        if !self.indexes.contains_key(package) {
            let url = format!("{}api/v1/{package}.json", self.base);
            let body = self.get(&url)?;
            let index: serde_json::Value =
                serde_json::from_slice(&body).map_err(|e| DepsError::Hub {
                    url: url.clone(),
                    message: format!("not the hub's JSON: {e}"),
                })?;
            if !index.get("versions").is_some_and(|v| v.is_object()) {
                return Err(DepsError::Hub {
                    url,
                    message: "the answer has no `versions`".into(),
                });
            }
            self.indexes.insert(package.to_string(), index);
        }
        self.indexes
            .get(package)
            .ok_or_else(|| DepsError::Missing(package.to_string()))
    }

    /// The newest release of `package` that every range allows; pre-releases only when asked
    /// for or pinned exactly.
    pub fn pick(
        &mut self,
        package: &str,
        ranges: &[String],
        prerelease: bool,
    ) -> Result<Release, DepsError> {
        let index = self.index(package)?;
        let wanted = Ranges::parse(ranges).map_err(|bad| DepsError::Version {
            package: package.to_string(),
            message: format!("cannot read the version range '{bad}'"),
        })?;
        let versions = index["versions"].as_object().cloned().unwrap_or_default();
        let mut candidates: Vec<(semver::Version, &serde_json::Value)> = versions
            .iter()
            .filter_map(|(v, meta)| Some((parse_version(v)?, meta)))
            .filter(|(v, _)| wanted.allows(v, prerelease))
            .collect();
        candidates.sort_by(|a, b| a.0.cmp(&b.0));
        let Some((version, meta)) = candidates.pop() else {
            let mut known: Vec<semver::Version> =
                versions.keys().filter_map(|v| parse_version(v)).collect();
            known.sort();
            let known: Vec<String> = known.iter().rev().take(8).map(|v| v.to_string()).collect();
            return Err(DepsError::Version {
                package: package.to_string(),
                message: format!(
                    "no release matches {}; the newest are {}",
                    ranges.join(", "),
                    known.join(", ")
                ),
            });
        };
        let tarball = meta["downloads"]["tarball"]
            .as_str()
            .ok_or_else(|| DepsError::Version {
                package: package.to_string(),
                message: format!("release {version} has no tarball"),
            })?
            .to_string();
        let dependencies = meta["packages"]
            .as_array()
            .map(|deps| {
                deps.iter()
                    .filter_map(|d| {
                        let name = d["package"].as_str()?.to_string();
                        Some((name, version_ranges(&d["version"])))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Release {
            package: package.to_string(),
            version: version.to_string(),
            tarball,
            dependencies,
        })
    }

    /// Download and unpack a release under `dir`; the folder that holds its project file.
    pub fn unpack(&self, release: &Release, dir: &Path) -> Result<PathBuf, DepsError> {
        let bytes = self.get(&release.tarball)?;
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(io("create", dir))?;
        let gz = flate2::read::GzDecoder::new(bytes.as_slice());
        let mut archive = tar::Archive::new(gz);
        // `unpack` refuses entries that would land outside `dir` (`..`, absolute paths).
        archive.unpack(dir).map_err(|e| DepsError::Hub {
            url: release.tarball.clone(),
            message: format!("cannot unpack the tarball: {e}"),
        })?;
        // A release tarball holds one folder (`dbt-utils-1.3.0/`) with the package in it.
        let entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io("read", dir))?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        match entries.as_slice() {
            [only] if only.is_dir() => Ok(only.clone()),
            _ => Ok(dir.to_path_buf()),
        }
    }
}

/// `version: 1.3.0` or `[">=1.0.0", "<2.0.0"]` from a hub document or a packages.yml entry.
pub fn version_ranges(value: &serde_json::Value) -> Vec<String> {
    match value {
        serde_json::Value::Array(items) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        serde_json::Value::String(s) => vec![s.clone()],
        serde_json::Value::Number(n) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

/// `1.3` and `1` read as `1.3.0` and `1.0.0`, as dbt reads them.
fn parse_version(text: &str) -> Option<semver::Version> {
    let text = text.trim().trim_start_matches('v');
    let (core, rest) = match text.find(['-', '+']) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let parts = core.split('.').count();
    let padded = match parts {
        1 => format!("{core}.0.0{rest}"),
        2 => format!("{core}.0{rest}"),
        _ => text.to_string(),
    };
    semver::Version::parse(&padded).ok()
}

/// dbt's version ranges: comparisons (`>=1.0.0`, `<2.0.0`, `>`, `<=`, `=`), and a bare version
/// meaning exactly that version. All must hold.
#[derive(Debug)]
struct Ranges(Vec<(Op, semver::Version)>);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Ranges {
    fn parse(ranges: &[String]) -> Result<Ranges, String> {
        let mut out = Vec::new();
        for range in ranges.iter().flat_map(|r| r.split(',')) {
            let r = range.trim();
            if r.is_empty() {
                continue;
            }
            let (op, rest) = [
                (">=", Op::Ge),
                ("<=", Op::Le),
                (">", Op::Gt),
                ("<", Op::Lt),
                ("=", Op::Eq),
            ]
            .into_iter()
            .find_map(|(p, op)| r.strip_prefix(p).map(|rest| (op, rest)))
            .unwrap_or((Op::Eq, r));
            let version = parse_version(rest).ok_or_else(|| r.to_string())?;
            out.push((op, version));
        }
        Ok(Ranges(out))
    }

    fn allows(&self, v: &semver::Version, prerelease: bool) -> bool {
        let pinned = self.0.iter().any(|(op, w)| *op == Op::Eq && w == v);
        if !v.pre.is_empty() && !prerelease && !pinned {
            return false;
        }
        self.0.iter().all(|(op, w)| match op {
            Op::Eq => v == w,
            Op::Gt => v > w,
            Op::Ge => v >= w,
            Op::Lt => v < w,
            Op::Le => v <= w,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(ranges: &[&str], version: &str) -> bool {
        let ranges: Vec<String> = ranges.iter().map(|r| r.to_string()).collect();
        Ranges::parse(&ranges)
            .unwrap()
            .allows(&parse_version(version).unwrap(), false)
    }

    #[test]
    fn ranges_read_as_dbt_reads_them() {
        assert!(allows(&[">=1.0.0", "<2.0.0"], "1.3.0"));
        assert!(!allows(&[">=1.0.0", "<2.0.0"], "2.0.0"));
        assert!(allows(&["1.3.0"], "1.3.0"));
        assert!(!allows(&["1.3.0"], "1.3.1"));
        assert!(allows(&[">=0.9.0, <1.0.0"], "0.9.2"));
        assert!(allows(&[">=1.2"], "1.2.0"));
        assert!(
            !allows(&[">=1.0.0"], "1.4.0-b1"),
            "pre-releases only when asked"
        );
        assert!(allows(&["1.4.0-b1"], "1.4.0-b1"), "or pinned");
        assert!(Ranges::parse(&["~>nonsense".into()]).is_err());
    }
}
