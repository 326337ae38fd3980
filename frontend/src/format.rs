//! Numbers as people read them: thousands separators, durations in ms or s, browser
//! families from user agents.

/// `1234567` → `1,234,567`
pub fn thousands(number: u64) -> String {
    let digits = number.to_string();
    let mut grouped = String::with_capacity(digits.len() + digits.len() / 3);
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    grouped
}

/// `0.4` → `0.4 ms`, `42.2` → `42 ms`, `1530` → `1.53 s`, `65000` → `65 s`
pub fn duration(milliseconds: f64) -> String {
    if milliseconds < 1.0 {
        format!("{milliseconds:.1} ms")
    } else if milliseconds < 1000.0 {
        format!("{milliseconds:.0} ms")
    } else if milliseconds < 10_000.0 {
        format!("{:.2} s", milliseconds / 1000.0)
    } else {
        format!("{:.0} s", milliseconds / 1000.0)
    }
}

/// `2048` → `2.0 KB`, `250000000` → `238.4 MB`
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KB", "MB", "GB", "TB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The browser family a user agent names, for grouping.
pub fn browser_family(user_agent: &str) -> &'static str {
    let agent = user_agent.to_ascii_lowercase();
    if agent.contains("edg/") {
        "Edge"
    } else if agent.contains("firefox/") {
        "Firefox"
    } else if agent.contains("headlesschrome")
        || agent.contains("chrome/")
        || agent.contains("chromium/")
    {
        "Chrome"
    } else if agent.contains("safari/") {
        "Safari"
    } else if agent.starts_with("curl/") {
        "curl"
    } else {
        "Other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(duration(0.42), "0.4 ms");
        assert_eq!(duration(42.2), "42 ms");
        assert_eq!(duration(1530.0), "1.53 s");
        assert_eq!(duration(65_000.0), "65 s");
        assert_eq!(format_bytes(512), "512 B");
        assert_eq!(format_bytes(2048), "2.0 KB");
        assert_eq!(format_bytes(250_000_000), "238.4 MB");
    }

    #[test]
    fn user_agents_group_by_browser() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36";
        let edge =
            "Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/120.0 Safari/537.36 Edg/120.0";
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";
        let safari = "Mozilla/5.0 (Macintosh) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15";
        assert_eq!(browser_family(chrome), "Chrome");
        assert_eq!(browser_family(edge), "Edge");
        assert_eq!(browser_family(firefox), "Firefox");
        assert_eq!(browser_family(safari), "Safari");
        assert_eq!(browser_family("<img src=x onerror=alert(1)>"), "Other");
    }
}
