//! Xero's API limits per tenant: calls in flight, calls per minute and per
//! day, plus the app-wide minute limit.
//!
//! Xero's windows are fixed, not rolling, and start at different times for
//! each tenant. Here a window starts with the first call after the previous
//! window ended.

use std::time::{Duration, Instant};

use super::server::Reply;

/// Xero's app-wide limit: 10,000 calls a minute across all tenants.
pub(crate) const APP_MINUTE_LIMIT: u32 = 10_000;
pub(crate) const DAY: Duration = Duration::from_secs(24 * 60 * 60);

#[derive(Default)]
pub(crate) struct Window {
    start: Option<Instant>,
    count: u32,
}

impl Window {
    /// Starts a new window when the current one has ended.
    fn roll(&mut self, now: Instant, length: Duration) {
        let ended = self.start.is_none_or(|start| now >= start + length);
        if ended {
            self.start = Some(now);
            self.count = 0;
        }
    }

    pub fn remaining(&mut self, now: Instant, length: Duration, limit: u32) -> u32 {
        self.roll(now, length);
        limit.saturating_sub(self.count)
    }

    pub fn count_call(&mut self, now: Instant, length: Duration) {
        self.roll(now, length);
        self.count += 1;
    }

    /// Whole seconds until the window ends, at least 1, for `Retry-After`.
    pub fn seconds_left(&self, now: Instant, length: Duration) -> u64 {
        let Some(start) = self.start else {
            return length.as_secs().max(1);
        };
        let left = (start + length).saturating_duration_since(now);
        let mut seconds = left.as_secs();
        if left.subsec_nanos() > 0 {
            seconds += 1;
        }
        seconds.max(1)
    }
}

#[derive(Default)]
pub(crate) struct TenantLimits {
    pub minute: Window,
    pub day: Window,
    pub in_flight: usize,
    pub max_in_flight: usize,
}

/// Values of the three `X-*Limit-Remaining` headers after a call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Remaining {
    pub minute: u32,
    pub day: u32,
    pub app_minute: u32,
}

impl Remaining {
    pub fn headers(&self) -> Vec<(String, String)> {
        vec![
            ("X-MinLimit-Remaining".into(), self.minute.to_string()),
            ("X-DayLimit-Remaining".into(), self.day.to_string()),
            (
                "X-AppMinLimit-Remaining".into(),
                self.app_minute.to_string(),
            ),
        ]
    }
}

/// Limit named by a 429 in `X-Rate-Limit-Problem`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    Concurrent,
    Minute,
    Day,
}

/// Builds Xero's 429. `Retry-After` comes only with the minute and day
/// limits, as Xero documents. Xero's behaviour for the concurrent limit is
/// unconfirmed, so the double sends none there.
pub(crate) fn too_many_requests(
    problem: Problem,
    retry_after: Option<u64>,
    remaining: Remaining,
) -> Reply {
    let name = match problem {
        Problem::Concurrent => "concurrent",
        Problem::Minute => "minute",
        Problem::Day => "day",
    };
    // NOTE: the body of Xero's 429 is not recorded, so clients should rely
    // on the status and headers only.
    let mut reply = Reply::text(429, &format!("Rate limit exceeded: {name} limit"));
    reply
        .headers
        .push(("X-Rate-Limit-Problem".into(), name.into()));
    if let Some(seconds) = retry_after {
        reply
            .headers
            .push(("Retry-After".into(), seconds.to_string()));
    }
    reply.headers.extend(remaining.headers());
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_resets_after_its_length() {
        let mut window = Window::default();
        let start = Instant::now();
        let length = Duration::from_secs(1);
        window.count_call(start, length);
        window.count_call(start, length);
        assert_eq!(window.remaining(start, length, 5), 3);
        let later = start + Duration::from_millis(1001);
        assert_eq!(window.remaining(later, length, 5), 5);
    }

    #[test]
    fn seconds_left_rounds_up() {
        let mut window = Window::default();
        let start = Instant::now();
        let length = Duration::from_secs(60);
        window.count_call(start, length);
        let now = start + Duration::from_millis(500);
        assert_eq!(window.seconds_left(now, length), 60);
        let now = start + Duration::from_millis(59_999);
        assert_eq!(window.seconds_left(now, length), 1);
    }
}
