//! A moto server for the local stack and for tests: found in the virtualenv that
//! `scripts/moto.sh` creates, started on a free loopback port, stopped by its PID.
//!
//! moto is found through `GBR_MOTO_SERVER`, else at
//! `${GBR_VENV:-$HOME/.cache/glacier-bulk-restore/venv}/bin/moto_server`.

use std::io::{BufRead, BufReader};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use thiserror::Error;

#[derive(Debug, Error)]
pub enum MotoError {
    #[error(
        "moto_server not found at {0}: run `bash scripts/moto.sh` to install it (or set GBR_MOTO_SERVER to its path)"
    )]
    NotInstalled(PathBuf),
    #[error("moto_server could not be started: {0}")]
    Start(String),
    #[error("moto_server did not answer on port {port} within {seconds} s; its output:\n{output}")]
    NoAnswer {
        port: u16,
        seconds: u64,
        output: String,
    },
}

/// A running moto server, stopped when dropped, and also when this process ends however
/// it ends: a watchdog shell kills moto when our end of its standard input closes.
pub struct Moto {
    pub endpoint: String,
    pub port: u16,
    pub pid: u32,
    /// Where moto's own output goes.
    pub log: PathBuf,
    watchdog: Child,
    stdin: Option<ChildStdin>,
}

/// Where moto_server is expected.
pub fn moto_path() -> PathBuf {
    if let Some(path) = std::env::var_os("GBR_MOTO_SERVER") {
        return PathBuf::from(path);
    }
    let venv = std::env::var_os("GBR_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home =
                std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
            home.join(".cache/glacier-bulk-restore/venv")
        });
    venv.join("bin/moto_server")
}

const WATCHDOG: &str = r#"
"$0" -H 127.0.0.1 -p "$1" >"$2" 2>&1 &
pid=$!
echo "$pid"
read -r _ || true
kill "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
"#;

const STARTUP: Duration = Duration::from_secs(60);

impl Moto {
    /// Starts moto_server on a free port and waits until it accepts connections.
    pub fn start() -> Result<Moto, MotoError> {
        let path = moto_path();
        if !path.is_file() {
            return Err(MotoError::NotInstalled(path));
        }
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map_err(|e| MotoError::Start(format!("no free loopback port: {e}")))?
            .port();
        let log = std::env::temp_dir().join(format!("gbr-moto-{}-{port}.log", std::process::id()));
        let mut watchdog = Command::new("bash")
            .arg("-c")
            .arg(WATCHDOG)
            .arg(&path)
            .arg(port.to_string())
            .arg(&log)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| MotoError::Start(format!("bash: {e}")))?;
        let stdout = watchdog
            .stdout
            .take()
            .ok_or_else(|| MotoError::Start("no stdout from the watchdog".into()))?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .map_err(|e| MotoError::Start(format!("reading moto's pid: {e}")))?;
        let pid: u32 = line.trim().parse().map_err(|_| {
            MotoError::Start(format!("the watchdog printed {line:?} for moto's pid"))
        })?;
        let moto = Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            pid,
            log,
            stdin: watchdog.stdin.take(),
            watchdog,
        };
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let started = Instant::now();
        while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
            if started.elapsed() > STARTUP {
                return Err(MotoError::NoAnswer {
                    port,
                    seconds: STARTUP.as_secs(),
                    output: std::fs::read_to_string(&moto.log).unwrap_or_default(),
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(moto)
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(self.pid.to_string()).status();
        drop(self.stdin.take());
        let _ = self.watchdog.wait();
    }
}
