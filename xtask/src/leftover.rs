//! Finding and stopping a process a previous run left behind: `cargo xtask dev` writes its
//! gateway's pid to `.dev/gateway.pid`, so that after xtask was killed hard (SIGKILL, a closed
//! terminal) the next run can stop the gateway still holding the port. A pid is trusted only
//! while `/proc/<pid>/cmdline` still shows the program we started (pids are reused), and a
//! gateway whose `cargo xtask dev` still runs is left alone.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::Result;

/// What a pid file names.
#[derive(Debug, PartialEq, Eq)]
pub enum Found {
    /// Nothing that runs our program: no file, a dead pid, or a pid reused by another program.
    Nothing,
    /// Our program, whose starter is gone (killed hard): nobody will stop it but us.
    Leftover(u32),
    /// Our program, still the child of the process that started it (another `cargo xtask dev`
    /// is running): not ours to stop.
    Owned { pid: u32, owner: u32 },
}

/// Records `child` (just spawned by this process) in `pid_file`: its pid, then ours.
pub fn record(pid_file: &Path, child: u32) -> std::io::Result<()> {
    std::fs::write(pid_file, format!("{child}\n{}\n", std::process::id()))
}

/// Removes `pid_file` if it still names `child` (another run may have written its own since).
pub fn forget(pid_file: &Path, child: u32) {
    let named = std::fs::read_to_string(pid_file)
        .ok()
        .and_then(|s| s.lines().next()?.trim().parse::<u32>().ok());
    if named == Some(child) {
        let _ = std::fs::remove_file(pid_file);
    }
}

/// What the pid recorded in `pid_file` is: a process is ours when it is alive and its command
/// line starts with `program` and then `arg` (the way we started it); it is left over when its
/// parent is no longer the process that recorded it.
pub fn find(pid_file: &Path, program: &Path, arg: &str) -> Found {
    let Ok(text) = std::fs::read_to_string(pid_file) else {
        return Found::Nothing;
    };
    let mut lines = text.lines().map(|l| l.trim().parse::<u32>().ok());
    let Some(Some(pid)) = lines.next() else {
        return Found::Nothing;
    };
    let owner = lines.next().flatten();
    let Ok(cmdline) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
        return Found::Nothing;
    };
    let mut argv = cmdline
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned());
    let ours = argv.next().as_deref() == Some(&*program.to_string_lossy())
        && argv.next().as_deref() == Some(arg);
    if !ours || !alive(pid) {
        return Found::Nothing;
    }
    match owner {
        Some(owner) if parent(pid) == Some(owner) => Found::Owned { pid, owner },
        _ => Found::Leftover(pid),
    }
}

/// The parent pid of `pid`.
fn parent(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Whether `pid` runs (a zombie, dead but not yet reaped by its parent, does not).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        // The state follows the command name, which is in parentheses and may hold spaces.
        .and_then(|stat| {
            let after = stat.rsplit_once(')')?.1;
            after
                .split_whitespace()
                .next()
                .map(|s| s != "Z" && s != "X")
        })
        .unwrap_or(false)
}

/// Asks `pid` to stop (SIGTERM), waits up to `grace`, then kills it (SIGKILL).
pub fn stop(pid: u32, grace: Duration) -> Result<()> {
    signal(pid, "TERM");
    let deadline = Instant::now() + grace;
    while alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if alive(pid) {
        signal(pid, "KILL");
        let deadline = Instant::now() + Duration::from_secs(5);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    if alive(pid) {
        Err(format!("process {pid} survived SIGKILL"))
    } else {
        Ok(())
    }
}

/// Sends a signal with kill(1): the workspace forbids `unsafe`, so no libc call.
pub fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status();
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;
    use std::path::PathBuf;
    use std::process::Child;

    use super::*;

    fn sleeper() -> Child {
        let child = Command::new("sleep").arg("30").spawn().expect("sleep runs");
        // Just after exec, /proc/<pid>/cmdline reads empty for a moment.
        let deadline = Instant::now() + Duration::from_secs(5);
        while std::fs::read(format!("/proc/{}/cmdline", child.id()))
            .map(|c| c.is_empty())
            .unwrap_or(true)
            && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        child
    }

    fn pid_file(name: &str, content: &str) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("xtask-leftover-{}-{name}.pid", std::process::id()));
        std::fs::write(&path, content).unwrap();
        path
    }

    #[test]
    fn a_process_whose_starter_is_gone_is_found_and_stopped() {
        let mut child = sleeper();
        // Recorded by a process that is not its parent: the starter died and it was reparented.
        let file = pid_file("left", &format!("{}\n1\n", child.id()));
        assert_eq!(
            find(&file, Path::new("sleep"), "30"),
            Found::Leftover(child.id())
        );
        // A file from before owners were recorded names a leftover too.
        std::fs::write(&file, format!("{}\n", child.id())).unwrap();
        assert_eq!(
            find(&file, Path::new("sleep"), "30"),
            Found::Leftover(child.id())
        );

        stop(child.id(), Duration::from_secs(5)).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.signal(), Some(15), "stopped by SIGTERM: {status:?}");
        assert_eq!(find(&file, Path::new("sleep"), "30"), Found::Nothing);
        std::fs::remove_file(file).unwrap();
    }

    #[test]
    fn a_process_whose_starter_still_runs_is_not_a_leftover() {
        let mut child = sleeper();
        let file = pid_file("owned", "");
        record(&file, child.id()).unwrap();
        assert_eq!(
            find(&file, Path::new("sleep"), "30"),
            Found::Owned {
                pid: child.id(),
                owner: std::process::id()
            }
        );
        forget(&file, child.id() + 1);
        assert!(file.exists(), "another child's pid leaves the file alone");
        forget(&file, child.id());
        assert!(!file.exists());
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn another_program_under_the_recorded_pid_is_left_alone() {
        let mut child = sleeper();
        let file = pid_file("theirs", &child.id().to_string());
        assert_eq!(
            find(&file, Path::new("layers-gateway"), "serve"),
            Found::Nothing
        );
        assert_eq!(find(&file, Path::new("sleep"), "serve"), Found::Nothing);
        assert!(alive(child.id()));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(!alive(child.id()));
        std::fs::remove_file(file).unwrap();
    }

    #[test]
    fn a_missing_or_garbled_pid_file_names_nothing() {
        let missing = std::env::temp_dir().join("xtask-leftover-does-not-exist.pid");
        assert_eq!(find(&missing, Path::new("sleep"), "30"), Found::Nothing);
        let garbled = pid_file("garbled", "not a pid");
        assert_eq!(find(&garbled, Path::new("sleep"), "30"), Found::Nothing);
        std::fs::remove_file(garbled).unwrap();
    }

    #[test]
    fn a_process_that_ignores_sigterm_is_killed() {
        let mut child = Command::new("sh")
            .args(["-c", "trap '' TERM; while :; do sleep 0.05; done"])
            .spawn()
            .unwrap();
        // Give the shell a moment to install its trap.
        std::thread::sleep(Duration::from_millis(200));
        stop(child.id(), Duration::from_millis(300)).unwrap();
        assert_eq!(child.wait().unwrap().signal(), Some(9));
    }
}
