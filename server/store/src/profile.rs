//! The AWS shared configuration files' profile (`~/.aws/credentials`, `~/.aws/config`,
//! `AWS_PROFILE`), which the S3 client reads only from the environment: static keys, a
//! session token, the region and an endpoint. Used when the environment has no keys.

use std::collections::HashMap;
use std::path::PathBuf;

/// What a profile gives.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Profile {
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    pub session_token: Option<String>,
    pub region: Option<String>,
    pub endpoint_url: Option<String>,
}

/// The profile named by `AWS_PROFILE` (else `default`) from the files the SDKs read, with
/// `env` standing for the environment.
pub(crate) fn aws_profile(env: &dyn Fn(&str) -> Option<String>) -> Profile {
    let name = env("AWS_PROFILE").unwrap_or_else(|| "default".to_owned());
    let home = env("HOME").map(PathBuf::from);
    let file = |var: &str, default: &str| {
        env(var)
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| h.join(".aws").join(default)))
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default()
    };
    let credentials = sections(&file("AWS_SHARED_CREDENTIALS_FILE", "credentials"));
    let config = sections(&file("AWS_CONFIG_FILE", "config"));
    let empty = HashMap::new();
    let creds = credentials.get(&name).unwrap_or(&empty);
    // `config` names its sections `[profile x]`, except `[default]`.
    let conf = config
        .get(&format!("profile {name}"))
        .or_else(|| config.get(&name))
        .unwrap_or(&empty);
    let get = |key: &str| creds.get(key).or_else(|| conf.get(key)).cloned();
    Profile {
        access_key_id: get("aws_access_key_id"),
        secret_access_key: get("aws_secret_access_key"),
        session_token: get("aws_session_token"),
        region: get("region"),
        endpoint_url: get("endpoint_url"),
    }
}

/// An INI file's sections: `[name]` then `key = value` lines; `#` and `;` start comments.
fn sections(text: &str) -> HashMap<String, HashMap<String, String>> {
    let mut out: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = Some(name.trim().to_owned());
            continue;
        }
        if let (Some(section), Some((key, value))) = (&current, line.split_once('=')) {
            out.entry(section.clone())
                .or_default()
                .insert(key.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_profile_reads_both_files() {
        let dir = std::env::temp_dir().join(format!("heapsight-profile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let credentials = dir.join("credentials");
        let config = dir.join("config");
        std::fs::write(
            &credentials,
            "[default]\naws_access_key_id = D\n\n[ops]\n# a comment\naws_access_key_id = AKIA1\naws_secret_access_key = s3cr3t\n",
        )
        .expect("write");
        std::fs::write(
            &config,
            "[default]\nregion = us-east-1\n[profile ops]\nregion = eu-west-3\nendpoint_url = http://127.0.0.1:9000\n",
        )
        .expect("write");
        let vars: HashMap<&str, String> = [
            ("AWS_PROFILE", "ops".to_owned()),
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                credentials.display().to_string(),
            ),
            ("AWS_CONFIG_FILE", config.display().to_string()),
        ]
        .into();
        let env = |k: &str| vars.get(k).cloned();
        let p = aws_profile(&env);
        assert_eq!(p.access_key_id.as_deref(), Some("AKIA1"));
        assert_eq!(p.secret_access_key.as_deref(), Some("s3cr3t"));
        assert_eq!(p.region.as_deref(), Some("eu-west-3"));
        assert_eq!(p.endpoint_url.as_deref(), Some("http://127.0.0.1:9000"));
        assert_eq!(p.session_token, None);
        let default_env = |k: &str| (k != "AWS_PROFILE").then(|| env(k)).flatten();
        let d = aws_profile(&default_env);
        assert_eq!(
            (d.access_key_id.as_deref(), d.region.as_deref()),
            (Some("D"), Some("us-east-1"))
        );
        std::fs::remove_dir_all(&dir).expect("clean up");
    }
}
