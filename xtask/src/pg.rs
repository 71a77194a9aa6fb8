//! A local PostgreSQL cluster in a folder of the project's own: found, created, started, stopped.
//!
//! PostgreSQL refuses to run as root. When xtask runs as root (as it does on CI machines) the
//! cluster's processes run as the `postgres` system user, or `nobody` if there is none, and the
//! cluster folder is handed to that user.

use std::os::unix::fs::{chown, MetadataExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{capture, fnv1a, Result};

/// Where the PostgreSQL server binaries (`initdb`, `pg_ctl`, `postgres`) are.
pub fn find_bin_dir() -> Result<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            // Debian links pg_ctl onto PATH; initdb sits beside the link's target.
            if let Ok(real) = std::fs::canonicalize(dir.join("pg_ctl")) {
                if let Some(real_dir) = real.parent() {
                    if has_server(real_dir) {
                        return Ok(real_dir.to_path_buf());
                    }
                }
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_server(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| {
        "PostgreSQL server binaries (initdb, pg_ctl) were not found on PATH or under \
         /usr/lib/postgresql/*/bin. Install them with `apt-get install postgresql` (Debian, \
         Ubuntu) or `brew install postgresql@15` (macOS), or set DATABASE_URL to a server you own."
            .to_string()
    })
}

/// Runs one SQL command through psql against any server and returns its unaligned output.
pub fn psql(url: &str, sql: &str) -> Result<String> {
    run_psql(&find_bin_dir()?, url, sql)
}

fn run_psql(bin: &Path, url: &str, sql: &str) -> Result<String> {
    let args = [
        "-X",
        "-q",
        "-t",
        "-A",
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        url,
        "-c",
        sql,
    ];
    capture(Command::new(bin.join("psql")).args(args)).map(|s| s.trim().to_owned())
}

/// The unprivileged user to run PostgreSQL as, when we are root.
#[derive(Clone, Copy, Debug)]
struct RunAs {
    uid: u32,
    gid: u32,
}

fn run_as() -> Result<Option<RunAs>> {
    let uid = capture(Command::new("id").arg("-u"))?;
    if uid.trim() != "0" {
        return Ok(None);
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    for name in ["postgres", "nobody"] {
        for line in passwd.lines() {
            let fields: Vec<&str> = line.split(':').collect();
            if fields.len() > 3 && fields[0] == name {
                if let (Ok(uid), Ok(gid)) = (fields[2].parse(), fields[3].parse()) {
                    return Ok(Some(RunAs { uid, gid }));
                }
            }
        }
    }
    Err(
        "running as root, and neither a postgres nor a nobody user exists to run PostgreSQL as; \
         create one with `useradd --system postgres`"
            .into(),
    )
}

/// Whether every folder above `dir` can be entered by other users.
fn reachable_by_others(dir: &Path) -> bool {
    dir.ancestors().skip(1).all(|a| {
        std::fs::metadata(a)
            .map(|m| m.mode() & 0o001 != 0)
            .unwrap_or(false)
    })
}

/// A cluster folder, its port and the binaries that run it.
#[derive(Debug)]
pub struct Cluster {
    dir: PathBuf,
    pub port: u16,
    bin: PathBuf,
    run_as: Option<RunAs>,
}

impl Cluster {
    /// A cluster in `dir` (created on [`Cluster::start`] if missing) listening on `port`.
    pub fn new(dir: PathBuf, port: u16) -> Result<Cluster> {
        let bin = find_bin_dir()?;
        let run_as = run_as()?;
        let dir = if run_as.is_some() && !reachable_by_others(&dir) {
            // The unprivileged user could not reach a folder under e.g. /root: use /tmp instead.
            let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("pg");
            PathBuf::from(format!(
                "/tmp/layers-{name}-{:x}",
                fnv1a(dir.to_string_lossy().as_bytes())
            ))
        } else {
            dir
        };
        Ok(Cluster {
            dir,
            port,
            bin,
            run_as,
        })
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        cmd.current_dir(&self.dir);
        if let Some(user) = self.run_as {
            cmd.uid(user.uid).gid(user.gid);
        }
        cmd
    }

    /// Deletes the cluster folder (the cluster must be stopped).
    pub fn wipe(&self) -> Result<()> {
        match std::fs::remove_dir_all(&self.dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(format!("could not delete {}: {e}", self.dir.display())),
        }
    }

    /// Creates the cluster if needed and starts it unless it already runs. Returns whether this
    /// call started it.
    pub fn start(&self, settings: &[(&str, &str)]) -> Result<bool> {
        if !self.data().join("PG_VERSION").is_file() {
            std::fs::create_dir_all(&self.dir)
                .map_err(|e| format!("could not create {}: {e}", self.dir.display()))?;
            if let Some(user) = self.run_as {
                chown(&self.dir, Some(user.uid), Some(user.gid)).map_err(|e| {
                    format!(
                        "could not hand {} to the postgres user: {e}",
                        self.dir.display()
                    )
                })?;
            }
            capture(self.command("initdb").arg("-D").arg(self.data()).args([
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ]))?;
        }
        if self.running() {
            return Ok(false);
        }
        let mut options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''",
            self.port
        );
        for (name, value) in settings {
            options.push_str(&format!(" -c {name}={value}"));
        }
        capture(
            self.command("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .arg("-l")
                .arg(self.dir.join("postgres.log"))
                .args(["-w", "-t", "60", "-o", &options, "start"]),
        )
        .map_err(|e| {
            format!(
                "{e}\nsee {} for the server's own log",
                self.dir.join("postgres.log").display()
            )
        })?;
        Ok(true)
    }

    /// Whether the cluster's postmaster is running.
    pub fn running(&self) -> bool {
        self.data().join("postmaster.pid").is_file()
            && self
                .command("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .arg("status")
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false)
    }

    /// Stops the cluster, letting it finish cleanly.
    pub fn stop(&self) -> Result<()> {
        if !self.running() {
            return Ok(());
        }
        capture(
            self.command("pg_ctl")
                .arg("-D")
                .arg(self.data())
                .args(["-m", "fast", "-w", "stop"]),
        )
        .map(|_| ())
    }

    /// Runs one SQL command through psql against `database` and returns its unaligned output.
    pub fn psql(&self, database: &str, sql: &str) -> Result<String> {
        run_psql(&self.bin, &self.url(database), sql)
    }

    /// Creates `database` unless it exists.
    pub fn ensure_database(&self, database: &str) -> Result<()> {
        let exists = self.psql(
            "postgres",
            &format!("SELECT 1 FROM pg_database WHERE datname = '{database}'"),
        )?;
        if exists.is_empty() {
            self.psql("postgres", &format!("CREATE DATABASE {database}"))?;
        }
        Ok(())
    }
}
