//! Sizes as people read them.

/// `bytes` in the largest binary unit that keeps it at or above 1 (`1.5 MiB`, `300 B`).
pub fn human(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GiB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64),
        b if b >= 1 << 10 => format!("{:.1} KiB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sizes_read_in_binary_units() {
        assert_eq!(super::human(300), "300 B");
        assert_eq!(super::human(1536), "1.5 KiB");
        assert_eq!(super::human(256 << 20), "256.0 MiB");
        assert_eq!(super::human(5 << 30), "5.0 GiB");
    }
}
