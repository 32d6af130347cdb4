//! `paced`: open-loop load at a fixed rate, latency measured from each request's
//! scheduled send time (so a slow answer delays nothing else and is not hidden).
//!
//! Everything runs on the client's one thread: a `timerfd` (nanosecond resolution, read
//! through tokio's reactor) releases the schedule, and the connection tasks send. A
//! separate timing thread would cost a cross-thread wake-up per request, on a machine
//! where every wake-up of an idle virtual CPU is a chance for the host to be late, and
//! that lateness would be counted against the server.

use std::{
    io,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::io::unix::AsyncFd;

use crate::{
    Opts, Res,
    http::{Conn, Url},
    percentile, read_requests,
};

/// A periodic timer on `CLOCK_MONOTONIC`: the first expiry `first` from now, then every
/// `interval`. Reading it yields how many expiries passed since the last read.
struct Ticker {
    fd: AsyncFd<OwnedFd>,
}

fn timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs() as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}

impl Ticker {
    fn new(first: Duration, interval: Duration) -> io::Result<Self> {
        // SAFETY: timerfd_create has no memory-safety preconditions; the result is checked.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` is a fresh descriptor owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let spec = libc::itimerspec {
            it_interval: timespec(interval),
            it_value: timespec(first.max(Duration::from_nanos(1))),
        };
        // SAFETY: `fd` is a valid timerfd and `spec` outlives the call.
        if unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) } < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the OwnedFd is open and moves into the AsyncFd, which alone owns it
        // from here on, so it stays the same open descriptor for the AsyncFd's lifetime.
        let fd = unsafe { AsyncFd::register(fd) }.map_err(io::Error::from)?;
        Ok(Self { fd })
    }

    /// Waits for the next expiry; returns how many passed (at least 1).
    async fn tick(&self) -> io::Result<u64> {
        loop {
            let mut ready = self.fd.readable().await?;
            let read = ready.try_io(|fd| {
                let mut n = 0u64;
                // SAFETY: reads 8 bytes into `n`, which is 8 bytes long.
                let r = unsafe {
                    libc::read(
                        fd.as_raw_fd(),
                        (&mut n as *mut u64).cast::<libc::c_void>(),
                        std::mem::size_of::<u64>(),
                    )
                };
                if r < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(n)
                }
            });
            match read {
                Ok(result) => return result,
                Err(_would_block) => continue,
            }
        }
    }
}

/// A fixed-rate schedule: send i is due at start + i / rate.
struct Schedule {
    rate: f64,
    total: usize,
}

impl Schedule {
    /// `--rate` (default 2,000/s) for `--duration` (default `duration`).
    fn from_opts(o: &Opts, duration: Duration) -> Res<Self> {
        let rate = o.f64_or("rate", 2000.0)?;
        let duration = o.duration_or("duration", duration)?;
        if rate <= 0.0 || rate > 1_000_000.0 {
            return Err("--rate must be in (0, 1e6]".into());
        }
        Ok(Self {
            rate,
            total: (rate * duration.as_secs_f64()).round() as usize,
        })
    }

    /// Runs the schedule from a timerfd, calling `due(i, scheduled time)` for each send
    /// as it falls due; returns each send's lateness (µs) at release, in order, and when
    /// the schedule started.
    async fn release(
        &self,
        mut due: impl FnMut(usize, Instant) -> Res<()>,
    ) -> Res<(Vec<u64>, Instant)> {
        let interval = Duration::from_secs_f64(1.0 / self.rate);
        let lead = Duration::from_millis(50);
        let start = Instant::now() + lead;
        let ticker = Ticker::new(lead, interval).map_err(|e| format!("timerfd: {e}"))?;
        let mut lag = Vec::with_capacity(self.total);
        while lag.len() < self.total {
            let expired = ticker.tick().await.map_err(|e| format!("timerfd: {e}"))? as usize;
            for i in lag.len()..(lag.len() + expired).min(self.total) {
                let at = start + interval.mul_f64(i as f64);
                lag.push(at.elapsed().as_micros() as u64);
                due(i, at)?;
            }
        }
        Ok((lag, start))
    }
}

pub async fn run(o: &Opts) -> Res<()> {
    let url = Url::parse(o.str("url")?)?;
    let schedule = Schedule::from_opts(o, Duration::from_secs(10))?;
    let (rate, total) = (schedule.rate, schedule.total);
    let conns = o.usize_or("connections", 64)?.max(1);
    let requests = Arc::new(read_requests(o.str("requests")?, &url)?);
    if requests.len() < total {
        eprintln!(
            "note: {} requests for {total} sends; some are sent twice",
            requests.len()
        );
    }
    let pool = Conn::pool(&url.authority, conns).await?;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let mut tasks = Vec::new();
    for mut conn in pool {
        let (rx, requests) = (rx.clone(), requests.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0usize;
            loop {
                let item = rx.lock().await.recv().await;
                let Some((i, scheduled)) = item else { break };
                match conn.send(&requests[i % requests.len()]).await {
                    Ok(r) if r.status == 200 => {
                        lat.push(scheduled.elapsed().as_micros() as u64);
                    }
                    Ok(_) | Err(_) => errors += 1,
                }
            }
            (lat, errors)
        }));
    }
    // The schedule: send i is due at start + i * interval. Lateness of the release itself
    // (timer or thread late) is reported as dispatch_lag; latency includes it.
    let (mut lag, start) = schedule
        .release(|i, at| {
            tx.send((i, at))
                .map_err(|_| "all connections gave up".to_string())
        })
        .await?;
    drop(tx);
    let mut lat = Vec::with_capacity(total);
    let mut errors = 0;
    let deadline = Duration::from_secs(15);
    for t in tasks {
        let (l, e) = tokio::time::timeout(deadline, t)
            .await
            .map_err(|_| "requests still unanswered 15 s after the run".to_string())?
            .map_err(|e| e.to_string())?;
        lat.extend(l);
        errors += e;
    }
    lag.sort_unstable();
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort_unstable();
    if let Ok(path) = o.str("latencies") {
        let text: String = lat.iter().map(|l| format!("{l}\n")).collect();
        std::fs::write(path, text).map_err(|e| format!("{path}: {e}"))?;
    }
    println!(
        "paced: offered={rate:.0}/s sent={total} ok={} errors={errors} elapsed_s={elapsed:.2} {} \
         dispatch_lag_p99_ms={:.3} dispatch_lag_p999_ms={:.3}",
        lat.len(),
        summary(&lat),
        percentile(&lag, 99.0) / 1000.0,
        percentile(&lag, 99.9) / 1000.0,
    );
    Ok(())
}

/// `timer-lateness`: the same schedule as `paced` with nothing sent, on whatever the
/// machine is doing: how late a sleeping thread wakes. Run on an idle machine it is the
/// floor under every latency `paced` can report (a request due during a stall waits at
/// least as long).
pub async fn timer_lateness(o: &Opts) -> Res<()> {
    let schedule = Schedule::from_opts(o, Duration::from_secs(5))?;
    let (rate, total) = (schedule.rate, schedule.total);
    let (mut lag, _) = schedule.release(|_, _| Ok(())).await?;
    lag.sort_unstable();
    println!(
        "timer-lateness: rate={rate:.0}/s ticks={total} {}",
        summary(&lag)
    );
    Ok(())
}

/// `pool`: the latencies several `paced --latencies` runs wrote (`--files A,B,..`), as one
/// sample: its percentiles, and how many answers took longer than 1, 2 and 5 ms. A 10 s
/// round's p99.9 is its 21st slowest answer, so a single stall of the machine decides it;
/// pooled rounds give the tail more answers to stand on. Rounds where nothing was answered
/// pool to `n=0` and NaN percentiles, which the caller reports as errors.
pub fn pool(o: &Opts) -> Res<()> {
    let lat = read_latencies(o.str("files")?)?;
    println!(
        "pool: n={} {} over_1ms={} over_2ms={} over_5ms={}",
        lat.len(),
        summary(&lat),
        over(&lat, 1),
        over(&lat, 2),
        over(&lat, 5),
    );
    Ok(())
}

/// Every latency (µs, one per line) in the comma-separated files, sorted.
fn read_latencies(files: &str) -> Res<Vec<u64>> {
    let mut lat = Vec::new();
    for path in files.split(',') {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        for line in text.lines() {
            lat.push(
                line.parse::<u64>()
                    .map_err(|e| format!("{path}: {line:?} is not a latency in µs: {e}"))?,
            );
        }
    }
    lat.sort_unstable();
    Ok(lat)
}

/// How many of the sorted microseconds exceed `ms` milliseconds.
fn over(sorted: &[u64], ms: u64) -> usize {
    sorted.len() - sorted.partition_point(|&l| l <= ms * 1000)
}

/// `p50_ms=.. p99_ms=.. p999_ms=.. max_ms=..` of sorted microseconds.
fn summary(sorted: &[u64]) -> String {
    let ms = |p: f64| percentile(sorted, p) / 1000.0;
    format!(
        "p50_ms={:.3} p99_ms={:.3} p999_ms={:.3} max_ms={:.3}",
        ms(50.0),
        ms(99.0),
        ms(99.9),
        sorted.last().copied().unwrap_or(0) as f64 / 1000.0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_reads_percentiles_of_microseconds_in_milliseconds() {
        let lat: Vec<u64> = (1..=1000).collect();
        assert_eq!(
            summary(&lat),
            "p50_ms=0.500 p99_ms=0.990 p999_ms=0.999 max_ms=1.000"
        );
    }

    #[test]
    fn answers_over_a_threshold_are_counted_strictly_above_it() {
        let lat = [900, 1000, 1001, 2000, 2500, 5000, 5001, 9000];
        assert_eq!(over(&lat, 1), 6);
        assert_eq!(over(&lat, 2), 4);
        assert_eq!(over(&lat, 5), 2);
        assert_eq!(over(&[], 5), 0);
    }

    #[test]
    fn p99_9_of_three_pooled_rounds_is_the_61st_slowest_answer() {
        let lat: Vec<u64> = (1..=60_000).collect();
        assert_eq!(percentile(&lat, 99.9), 59_940.0);
        assert_eq!(percentile(&lat, 50.0), 30_000.0);
        assert!(percentile(&[], 99.9).is_nan());
    }

    #[test]
    fn pooled_files_are_read_as_one_sorted_sample_and_a_bad_line_is_named() {
        let dir = std::env::temp_dir().join(format!("loadgen-pool-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (a, b, bad, empty) = (
            dir.join("a.txt"),
            dir.join("b.txt"),
            dir.join("bad.txt"),
            dir.join("empty.txt"),
        );
        std::fs::write(&a, "5\n900\n").unwrap();
        std::fs::write(&b, "7000\n12").unwrap();
        std::fs::write(&bad, "40\n4.5ms\n").unwrap();
        std::fs::write(&empty, "").unwrap();
        let list = |files: &[&std::path::Path]| {
            files
                .iter()
                .map(|f| f.to_str().unwrap())
                .collect::<Vec<_>>()
                .join(",")
        };
        assert_eq!(
            read_latencies(&list(&[&a, &b])).unwrap(),
            [5, 12, 900, 7000]
        );
        assert_eq!(read_latencies(&list(&[&empty])).unwrap(), Vec::<u64>::new());
        let err = read_latencies(&list(&[&a, &bad])).unwrap_err();
        assert!(err.contains("bad.txt") && err.contains("4.5ms"), "{err}");
        assert!(read_latencies(&list(&[&dir.join("missing.txt")])).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
