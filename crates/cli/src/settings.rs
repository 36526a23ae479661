//! Where the API is and the key to call it with. Each comes, on its own, from the
//! first of: a flag (`--endpoint`, `--api-key`), the environment (`GBR_ENDPOINT`,
//! `GBR_API_KEY`), the config file (`endpoint`, `api_key` in
//! `$XDG_CONFIG_HOME/gbr/config.toml`, else `~/.config/gbr/config.toml`). An empty
//! value counts as none.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;

pub const ENDPOINT_ENV: &str = "GBR_ENDPOINT";
pub const API_KEY_ENV: &str = "GBR_API_KEY";

/// What the API client needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub endpoint: String,
    pub api_key: String,
}

/// The values given as flags.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Flags {
    pub endpoint: Option<String>,
    pub api_key: Option<String>,
}

/// The config file's contents. Unknown keys are refused, so `api-key = ...` is caught.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    pub endpoint: Option<String>,
    pub api_key: Option<String>,
}

#[derive(Debug, Error)]
pub enum SettingsError {
    #[error("{0}")]
    Missing(Missing),
    #[error("cannot read the config file {path}: {message}")]
    Read { path: String, message: String },
    #[error("the config file {path} is not valid: {message}")]
    Parse { path: String, message: String },
}

/// Which settings were found nowhere, and the three ways to give them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub endpoint: bool,
    pub api_key: bool,
    /// The config file looked at, as it is shown.
    pub config: String,
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut what = Vec::new();
        let mut flags = Vec::new();
        let mut vars = Vec::new();
        let mut keys = Vec::new();
        if self.endpoint {
            what.push("API endpoint");
            flags.push("--endpoint URL");
            vars.push(ENDPOINT_ENV);
            keys.push("endpoint = \"URL\"");
        }
        if self.api_key {
            what.push("API key");
            flags.push("--api-key KEY");
            vars.push(API_KEY_ENV);
            keys.push("api_key = \"KEY\"");
        }
        write!(
            f,
            "no {} given: pass {}, or set {}, or write {} in {}",
            what.join(" and no "),
            flags.join(" "),
            vars.join(" and "),
            keys.join(" and "),
            self.config
        )
    }
}

/// The config file's path: `$XDG_CONFIG_HOME/gbr/config.toml`, else
/// `$HOME/.config/gbr/config.toml`; `None` when neither variable is set.
pub fn config_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty());
    // The XDG spec ignores a relative XDG_CONFIG_HOME.
    let base = set("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| set("HOME").map(|home| Path::new(&home).join(".config")))?;
    Some(base.join("gbr").join("config.toml"))
}

/// Reads the config file; a file that does not exist is an empty one.
pub fn read_config(path: &Path) -> Result<ConfigFile, SettingsError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ConfigFile::default()),
        Err(e) => {
            return Err(SettingsError::Read {
                path: path.display().to_string(),
                message: e.to_string(),
            });
        }
    };
    toml::from_str(&text).map_err(|e| SettingsError::Parse {
        path: path.display().to_string(),
        message: e.message().to_owned(),
    })
}

/// Resolves each setting from flags, else `env`, else the config file at
/// `config` (read only when a setting is still missing).
pub fn resolve(
    flags: &Flags,
    env: &dyn Fn(&str) -> Option<String>,
    config: Option<&Path>,
) -> Result<Settings, SettingsError> {
    let given = |v: Option<String>| v.filter(|v| !v.is_empty());
    let mut endpoint = given(flags.endpoint.clone()).or_else(|| given(env(ENDPOINT_ENV)));
    let mut api_key = given(flags.api_key.clone()).or_else(|| given(env(API_KEY_ENV)));
    if (endpoint.is_none() || api_key.is_none())
        && let Some(path) = config
    {
        let file = read_config(path)?;
        endpoint = endpoint.or_else(|| given(file.endpoint));
        api_key = api_key.or_else(|| given(file.api_key));
    }
    match (endpoint, api_key) {
        (Some(endpoint), Some(api_key)) => Ok(Settings { endpoint, api_key }),
        (endpoint, api_key) => Err(SettingsError::Missing(Missing {
            endpoint: endpoint.is_none(),
            api_key: api_key.is_none(),
            config: config.map_or_else(
                || "~/.config/gbr/config.toml (neither XDG_CONFIG_HOME nor HOME is set)".into(),
                |p| p.display().to_string(),
            ),
        })),
    }
}

/// [`resolve`] with this process's environment.
pub fn from_environment(flags: &Flags) -> Result<Settings, SettingsError> {
    let env = |name: &str| std::env::var(name).ok();
    let path = config_path(&env);
    resolve(flags, &env, path.as_deref())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    struct Fixture {
        dir: PathBuf,
    }

    impl Fixture {
        fn new(name: &str) -> Self {
            let dir =
                std::env::temp_dir().join(format!("gbr-settings-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Self { dir }
        }

        fn config(&self, text: &str) -> PathBuf {
            let path = self.dir.join("config.toml");
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn flags(endpoint: Option<&str>, api_key: Option<&str>) -> Flags {
        Flags {
            endpoint: endpoint.map(str::to_owned),
            api_key: api_key.map(str::to_owned),
        }
    }

    const FILE: &str = "endpoint = \"http://file\"\napi_key = \"file-key\"\n";

    #[test]
    fn flags_win_over_environment_and_file() {
        let fx = Fixture::new("flags");
        let path = fx.config(FILE);
        let env = env_of(&[(ENDPOINT_ENV, "http://env"), (API_KEY_ENV, "env-key")]);
        let s = resolve(
            &flags(Some("http://flag"), Some("flag-key")),
            &env,
            Some(&path),
        )
        .unwrap();
        assert_eq!(s.endpoint, "http://flag");
        assert_eq!(s.api_key, "flag-key");
    }

    #[test]
    fn environment_wins_over_file() {
        let fx = Fixture::new("env");
        let path = fx.config(FILE);
        let env = env_of(&[(ENDPOINT_ENV, "http://env"), (API_KEY_ENV, "env-key")]);
        let s = resolve(&Flags::default(), &env, Some(&path)).unwrap();
        assert_eq!(s.endpoint, "http://env");
        assert_eq!(s.api_key, "env-key");
    }

    #[test]
    fn the_file_fills_what_flags_and_environment_leave_out() {
        let fx = Fixture::new("file");
        let path = fx.config(FILE);
        let s = resolve(&Flags::default(), &env_of(&[]), Some(&path)).unwrap();
        assert_eq!(s.endpoint, "http://file");
        assert_eq!(s.api_key, "file-key");
        // Each setting on its own: the endpoint from a flag, the key from the environment,
        // and then the key from the file.
        let env = env_of(&[(API_KEY_ENV, "env-key")]);
        let s = resolve(&flags(Some("http://flag"), None), &env, Some(&path)).unwrap();
        assert_eq!(
            (s.endpoint.as_str(), s.api_key.as_str()),
            ("http://flag", "env-key")
        );
        let s = resolve(&flags(Some("http://flag"), None), &env_of(&[]), Some(&path)).unwrap();
        assert_eq!(
            (s.endpoint.as_str(), s.api_key.as_str()),
            ("http://flag", "file-key")
        );
    }

    #[test]
    fn empty_values_count_as_none() {
        let fx = Fixture::new("empty");
        let path = fx.config(FILE);
        let env = env_of(&[(ENDPOINT_ENV, ""), (API_KEY_ENV, "")]);
        let s = resolve(&flags(Some(""), None), &env, Some(&path)).unwrap();
        assert_eq!(s.endpoint, "http://file");
        assert_eq!(s.api_key, "file-key");
    }

    #[test]
    fn the_file_is_not_read_when_nothing_is_missing() {
        let fx = Fixture::new("unread");
        let path = fx.config("this is = = not toml");
        let s = resolve(
            &flags(Some("http://flag"), Some("k")),
            &env_of(&[]),
            Some(&path),
        );
        assert!(s.is_ok());
        let err = resolve(&flags(Some("http://flag"), None), &env_of(&[]), Some(&path))
            .unwrap_err()
            .to_string();
        assert!(err.contains("is not valid"), "{err}");
        assert!(err.contains(&path.display().to_string()), "{err}");
    }

    #[test]
    fn unknown_keys_in_the_file_are_refused() {
        let fx = Fixture::new("unknown");
        let path = fx.config("endpoint = \"http://file\"\napi-key = \"k\"\n");
        let err = resolve(&Flags::default(), &env_of(&[]), Some(&path))
            .unwrap_err()
            .to_string();
        assert!(err.contains("api-key"), "{err}");
    }

    #[test]
    fn missing_settings_name_all_three_ways() {
        let fx = Fixture::new("missing");
        let path = fx.dir.join("absent.toml");
        let err = resolve(&Flags::default(), &env_of(&[]), Some(&path))
            .unwrap_err()
            .to_string();
        for part in [
            "--endpoint",
            "--api-key",
            ENDPOINT_ENV,
            API_KEY_ENV,
            "endpoint = ",
            "api_key = ",
            &path.display().to_string(),
        ] {
            assert!(err.contains(part), "{part} missing in: {err}");
        }
        let err = resolve(&flags(Some("http://x"), None), &env_of(&[]), Some(&path))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("no API key given"), "{err}");
        assert!(!err.contains(ENDPOINT_ENV), "{err}");
    }

    #[test]
    fn the_config_file_is_under_xdg_config_home_else_home() {
        let xdg = env_of(&[("XDG_CONFIG_HOME", "/xdg"), ("HOME", "/home/u")]);
        assert_eq!(
            config_path(&xdg),
            Some(PathBuf::from("/xdg/gbr/config.toml"))
        );
        let home = env_of(&[("XDG_CONFIG_HOME", "relative"), ("HOME", "/home/u")]);
        assert_eq!(
            config_path(&home),
            Some(PathBuf::from("/home/u/.config/gbr/config.toml"))
        );
        assert_eq!(config_path(&env_of(&[])), None);
    }
}
