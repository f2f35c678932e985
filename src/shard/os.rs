//! What a shard needs from the operating system: the io_uring probe, the
//! memlock and open-file limits, CPU placement of the executors, the ring
//! depth, and the wall clock the router cores read.

use std::time::{SystemTime, UNIX_EPOCH};

use glommio::PoolPlacement;

use super::StartError;

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Raises the soft RLIMIT_MEMLOCK to the hard limit and checks it covers `need` bytes.
pub fn raise_memlock(need: u64) -> Result<(), StartError> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) != 0 {
            return Ok(());
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_MEMLOCK, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    let infinite = lim.rlim_cur == libc::RLIM_INFINITY;
    // root is exempt from the limit
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !infinite && !root && lim.rlim_cur < need {
        return Err(StartError::Memlock {
            have: lim.rlim_cur,
            need,
        });
    }
    Ok(())
}

/// Checks that this process may create an io_uring (a kernel without it, or a
/// container whose seccomp profile forbids it, fails here with a clear error
/// instead of deep inside an executor).
pub fn probe_io_uring() -> Result<(), StartError> {
    // In a thread of its own: closing a ring queues task work on the thread
    // that made it, which interrupts that thread's next blocking socket call
    // that has a timeout (EINTR) — the caller's thread must not pay for it.
    let probe = std::thread::spawn(|| {
        // struct io_uring_params is 120 bytes; zeroed means "defaults".
        let mut params = [0u8; 120];
        // SAFETY: io_uring_setup reads and writes only the params buffer passed.
        let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 1u32, params.as_mut_ptr()) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error().to_string());
        }
        // SAFETY: fd is a descriptor this call just created.
        unsafe {
            libc::close(fd as libc::c_int);
        }
        Ok(())
    });
    match probe.join() {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(StartError::NoIoUring(format!("io_uring_setup: {e}"))),
        Err(_) => Err(StartError::NoIoUring("the io_uring probe failed".into())),
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard limit (every session is a descriptor).
pub fn raise_nofile() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            libc::setrlimit(libc::RLIMIT_NOFILE, &raised);
        }
    }
}

/// The CPUs this process may run on (its affinity mask, as `taskset` sets it).
pub(crate) fn allowed_cpus() -> Option<Vec<usize>> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_getaffinity fills it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
            return None;
        }
        Some(
            (0..libc::CPU_SETSIZE as usize)
                .filter(|c| libc::CPU_ISSET(*c, &set))
                .collect(),
        )
    }
}

/// Where the shards run: shard `i` pinned to `cpus[i]` when a CPU list is
/// given; otherwise spread over the CPUs the process may use (so `taskset`
/// and systemd's `CPUAffinity=` are honoured), one shard per CPU.
pub(crate) fn placement(shards: usize, cpus: Option<&[usize]>) -> PoolPlacement {
    let Ok(online) = glommio::CpuSet::online() else {
        return PoolPlacement::Unbound(shards);
    };
    match cpus {
        Some(cpus) if !cpus.is_empty() => {
            let sets = (0..shards)
                .map(|i| {
                    let cpu = cpus[i % cpus.len()];
                    online.clone().filter(|l| l.cpu == cpu)
                })
                .collect::<Vec<_>>();
            if sets.iter().any(|s| s.is_empty()) {
                log::warn!("router.cpus names a CPU that is not online: shards are not pinned");
                return PoolPlacement::Unbound(shards);
            }
            PoolPlacement::Custom(sets)
        }
        _ => match allowed_cpus() {
            Some(allowed) if !allowed.is_empty() && shards > allowed.len() => {
                // More shards than CPUs to run on: several shards share a CPU.
                let sets = (0..shards)
                    .map(|i| {
                        let cpu = allowed[i % allowed.len()];
                        online.clone().filter(|l| l.cpu == cpu)
                    })
                    .collect();
                PoolPlacement::Custom(sets)
            }
            Some(allowed) if !allowed.is_empty() => {
                PoolPlacement::MaxSpread(shards, Some(online.filter(|l| allowed.contains(&l.cpu))))
            }
            _ => PoolPlacement::MaxSpread(shards, None),
        },
    }
}

/// Submission queue entries of each shard's main io_uring (glommio's default
/// is 128). The kernel sizes a ring's table of armed polls by its completion
/// queue (2 × this): `cq_entries / 32` buckets, at most 256. Every idle
/// connection keeps one poll armed, and glommio submits an async cancel on
/// each loop turn (its preemption timer), which walks one bucket: with 128
/// entries that is 8 buckets, so at 20 k sessions each cancel walked ~2,500
/// polls and 41% of the router's CPU went to `io_poll_find` while sessions
/// joined. 4096 gives the 256-bucket maximum for ~0.4 MiB per shard.
pub const RING_DEPTH: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_uring_probe_and_limits() {
        // io_uring works on this kind of machine: a failure is a regression in the probe.
        probe_io_uring().unwrap();
        raise_nofile();
        raise_memlock(1).unwrap();
        assert!(allowed_cpus().is_some_and(|c| !c.is_empty()));
        assert!(matches!(placement(2, Some(&[0])), PoolPlacement::Custom(v) if v.len() == 2));
    }
}
