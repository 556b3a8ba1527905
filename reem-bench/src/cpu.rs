//! CPU time of threads (this process) and of the server, for "where the time goes".

/// CPU time used so far by the threads of this process named `name`, µs: the first field
/// of `/proc/self/task/*/schedstat` (nanoseconds on the CPU); 0 where there is none.
pub fn thread_named_us(name: &str) -> f64 {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    dir.flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm")).is_ok_and(|c| c.trim() == name)
        })
        .filter_map(|task| schedstat_us(&task.path().join("schedstat")))
        .sum()
}

/// CPU time used so far by the calling thread, µs.
pub fn this_thread_us() -> f64 {
    schedstat_us(std::path::Path::new("/proc/thread-self/schedstat")).unwrap_or(0.0)
}

fn schedstat_us(path: &std::path::Path) -> Option<f64> {
    let stat = std::fs::read_to_string(path).ok()?;
    Some(stat.split(' ').next()?.parse::<f64>().ok()? / 1e3)
}

/// CPU time the server used so far (`used_cpu_user` + `used_cpu_sys` of `INFO cpu`,
/// all its threads), µs.
pub fn server_us(con: &mut redis::Connection) -> f64 {
    let info: String = redis::cmd("INFO").arg("cpu").query(con).unwrap_or_default();
    info.lines()
        .filter_map(|l| {
            l.strip_prefix("used_cpu_user:")
                .or_else(|| l.strip_prefix("used_cpu_sys:"))
        })
        .filter_map(|v| v.trim().parse::<f64>().ok())
        .sum::<f64>()
        * 1e6
}
